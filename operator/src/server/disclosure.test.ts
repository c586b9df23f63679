// Least disclosure on the real control plane: the reconciler list shows only what the
// person may get, /metrics needs a token allowed get on the /metrics URL (probes stay
// open), the session cookie is __Host- and Secure over HTTPS, an open log stream is
// closed once its token stops working, and the CSP names scripts and connections.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { eventually, sampleSource } from "../../testenv/index.ts";
import { startServer, type RunningServer, type ServerDeps } from "./index.ts";
import { call, openStream, startFixture, type Fixture } from "./test-fixture.ts";

const RBAC = "rbac.authorization.k8s.io/v1";

describe("editor server: least disclosure (auth token)", () => {
  let f: Fixture;
  const extra: RunningServer[] = [];
  const cleanup: Array<() => Promise<unknown>> = [];
  const serve = async (deps: Omit<ServerDeps, "operator" | "auth">): Promise<RunningServer> => {
    const s = await startServer({ operator: f.op, auth: "token", ...deps }, { host: "127.0.0.1", port: 0 });
    extra.push(s);
    return s;
  };
  /** A ServiceAccount in the test namespace and a token for it. */
  const serviceAccount = async (name: string): Promise<string> => {
    await f.admin.create({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace: f.ns } });
    const tr = await eventually(() => f.admin.request<{ status: { token: string } }>("POST", `/api/v1/namespaces/${f.ns}/serviceaccounts/${name}/token`, {
      body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } },
    }), 10_000, "a ServiceAccount token");
    return tr.status.token;
  };
  const bind = async (role: { kind: "Role" | "ClusterRole"; name: string; rules: unknown[] }, subject: Record<string, string>): Promise<void> => {
    const namespaced = role.kind === "Role";
    const meta = (name: string) => (namespaced ? { name, namespace: f.ns } : { name });
    await f.admin.create({ apiVersion: RBAC, kind: role.kind, metadata: meta(role.name), rules: role.rules } as never);
    await f.admin.create({
      apiVersion: RBAC, kind: namespaced ? "RoleBinding" : "ClusterRoleBinding", metadata: meta(role.name),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: role.kind, name: role.name }, subjects: [subject],
    } as never);
    if (!namespaced) {
      cleanup.push(() => f.admin.delete(RBAC, "ClusterRoleBinding", role.name), () => f.admin.delete(RBAC, "ClusterRole", role.name));
    }
  };

  before(async () => {
    f = await startFixture("disclose", { auth: "token" });
  });
  after(async () => {
    for (const s of extra) await s.close();
    for (const c of cleanup) await c().catch(() => {});
    await f?.stop();
  });

  it("lists only the reconcilers the person may get (by namespace or by name)", async () => {
    await f.admin.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "second", namespace: f.ns, labels: { "chakrator.dev/reconciler": "true" } }, data: sampleSource("01-message") });
    await eventually(() => f.op.sources.state(`${f.ns}/second`), 20_000, "the second reconciler");
    await bind({ kind: "Role", name: "get-second", rules: [{ apiGroups: [""], resources: ["configmaps"], resourceNames: ["second"], verbs: ["get"] }] },
      { kind: "User", apiGroup: "rbac.authorization.k8s.io", name: "chakrator-test-user" });
    const s = await serve({});
    const names = async (token: string) => {
      const res = await call(s.url, "GET", "/api/reconcilers", { token });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return (res.body.items as Array<{ namespace: string; name: string }>).filter((i) => i.namespace === f.ns).map((i) => i.name).sort();
    };
    assert.deepEqual(await names(f.info.adminToken), ["reconciler", "second"]);
    // RBAC takes a moment to reach the authorizer; the permission cache is 10 s, so a fresh server per try.
    await eventually(async () => (await call(s.url, "GET", `/api/reconcilers/${f.ns}/second`, { token: f.info.userToken })).status === 200, 15_000, "the grant");
    const fresh = await serve({});
    const res = await call(fresh.url, "GET", "/api/reconcilers", { token: f.info.userToken });
    assert.deepEqual((res.body.items as Array<{ namespace: string; name: string }>).filter((i) => i.namespace === f.ns).map((i) => i.name), ["second"]);

    // The log stream follows the same rule: a grant on one ConfigMap by name admits the
    // stream, which carries that reconciler's records and not its neighbour's.
    const { ws, messages } = await openStream(fresh.url, "?text=by-name&replay=0", { token: f.info.userToken });
    try {
      f.bus.log("info", "by-name second", { reconciler: `${f.ns}/second` });
      f.bus.log("info", "by-name neighbour", { reconciler: `${f.ns}/reconciler` });
      f.bus.info("by-name operator-wide");
      const seen = () => messages.flatMap((m) => (m.type === "log" ? [m.record.message] : []));
      await eventually(() => seen().includes("by-name operator-wide"), 10_000, "the marker record");
      assert.deepEqual(seen(), ["by-name second", "by-name operator-wide"]);
    } finally {
      ws.close();
    }
  });

  it("serves /metrics only to a token allowed get on /metrics; probes stay open", async () => {
    const s = await serve({ metrics: { render: () => "chakrator_up 1\n", contentType: "text/plain; version=0.0.4" } });
    assert.equal((await call(s.url, "GET", "/healthz")).status, 200);
    assert.equal((await call(s.url, "GET", "/readyz")).status, 200);
    const anonymous = await call(s.url, "GET", "/metrics");
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.body.error.message, /Bearer/);
    const user = await call(s.url, "GET", "/metrics", { token: f.info.userToken });
    assert.equal(user.status, 403);
    assert.match(user.body.error.message, /may not get \/metrics/);

    const scraper = await serviceAccount("scraper");
    await bind({ kind: "ClusterRole", name: `${f.ns}-metrics-reader`, rules: [{ nonResourceURLs: ["/metrics"], verbs: ["get"] }] },
      { kind: "ServiceAccount", name: "scraper", namespace: f.ns });
    const scraped = await eventually(async () => {
      const fresh = await serve({ metrics: { render: () => "chakrator_up 1\n", contentType: "text/plain; version=0.0.4" } });
      const r = await call(fresh.url, "GET", "/metrics", { token: scraper });
      return r.status === 200 ? r : undefined;
    }, 15_000, "the metrics grant");
    assert.equal(scraped.body, "chakrator_up 1\n");
  });

  it("over HTTPS the session cookie is __Host- and Secure; each scheme reads only its own cookie", async () => {
    const https = { "x-forwarded-proto": "https" };
    const signIn = await call(f.url, "POST", "/api/session", { body: { token: f.info.adminToken }, headers: https });
    assert.equal(signIn.status, 200);
    const set = signIn.headers.getSetCookie()[0] ?? "";
    assert.match(set, /^__Host-chakrator-session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
    assert.doesNotMatch(set, /Domain=/i);
    const cookie = set.split(";")[0]!;
    assert.equal((await call(f.url, "GET", "/api/session", { cookie, headers: https })).body.signedIn, true);
    assert.equal((await call(f.url, "GET", "/api/session", { cookie })).body.signedIn, false, "not read over plain HTTP");
    const plain = cookie.replace(/^__Host-/, "");
    assert.equal((await call(f.url, "GET", "/api/session", { cookie: plain, headers: https })).body.signedIn, false, "an unprefixed cookie is not read over HTTPS");
    assert.equal((await call(f.url, "GET", "/api/session", { cookie: plain })).body.signedIn, true);
    const out = await call(f.url, "DELETE", "/api/session", { cookie, headers: https });
    assert.match(out.headers.getSetCookie()[0] ?? "", /^__Host-chakrator-session=; .*Max-Age=0; Secure$/);
  });

  it("closes an open log stream once its token is no longer valid", async () => {
    const token = await serviceAccount("streamer");
    await bind({ kind: "Role", name: "read-configmaps", rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list"] }] },
      { kind: "ServiceAccount", name: "streamer", namespace: f.ns });
    const s = await serve({ logStream: { recheckMs: 200 }, authenticator: { ttlMs: 100 } });
    const stream = await eventually(() => openStream(s.url, "", { token }).catch(() => undefined), 15_000, "the streamer's log stream");
    const admin = await openStream(s.url, "", { token: f.info.adminToken });
    const closed = new Promise<{ code: number; reason: string }>((resolve) => stream.ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
    await eventually(() => stream.messages.some((m) => m.type === "hello"), 10_000, "hello");

    await f.admin.delete("v1", "ServiceAccount", "streamer", f.ns);
    const { code, reason } = await closed;
    assert.equal(code, 1008);
    assert.match(reason, /token no longer valid/);
    assert.equal(admin.ws.readyState, WebSocket.OPEN, "a stream whose token still works stays open");
    admin.ws.close();
  });

  it("sends a CSP that covers scripts and connections, not only framing", async () => {
    const res = await fetch(`${f.url}/`);
    const csp = res.headers.get("content-security-policy") ?? "";
    const host = new URL(f.url).host;
    for (const directive of ["default-src 'none'", "script-src 'self'", `connect-src 'self' ws://${host} wss://${host}`, "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"]) {
      assert.ok(csp.split("; ").includes(directive), `${directive} in ${csp}`);
    }
    assert.doesNotMatch(csp, /unsafe-eval/);
    assert.doesNotMatch(csp.split("; ").find((d) => d.startsWith("script-src")) ?? "", /unsafe-inline/);
  });
});
