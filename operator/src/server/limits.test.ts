// The editor server's cheap refusals and its own lane, on the real control plane:
// validate and dry-run need update on configmaps; floods of validations get 429 with
// Retry-After and replaced validations 409; strangers are refused before their bodies
// are read; connections and log streams are capped; random tokens cost a bounded
// number of TokenReviews and never push a signed-in person out.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { eventually } from "../../testenv/index.ts";
import type { CompileOptions } from "../reconcilers/compile-process.ts";
import type { ConfigMap } from "../reconcilers/revisions.ts";
import { startServer, type RunningServer, type ServerDeps } from "./index.ts";
import { call, idleConnection, openStream, rawExchange, refusedStatus, startFixture, type Fixture } from "./test-fixture.ts";

describe("editor server limits (auth token)", () => {
  let f: Fixture;
  const extra: RunningServer[] = [];
  const serve = async (deps: Omit<ServerDeps, "operator" | "auth">): Promise<RunningServer> => {
    const s = await startServer({ operator: f.op, auth: "token", ...deps }, { host: "127.0.0.1", port: 0 });
    extra.push(s);
    return s;
  };
  const ref = (name = "reconciler") => ({ namespace: f.ns, name });

  before(async () => {
    f = await startFixture("limits", { auth: "token" });
  });
  after(async () => {
    for (const s of extra) await s.close();
    await f?.stop();
  });

  it("refuses validate and dry-run (403) to a person who may read but not update configmaps", async () => {
    const user = { token: f.info.userToken };
    // Without any grant: 403 as well, before the compiler is asked.
    const none = await call(f.url, "POST", "/api/validate", { ...user, body: { files: { "reconciler.ts": "export default {}" }, reconciler: ref() } });
    assert.equal(none.status, 403, JSON.stringify(none.body));

    await f.admin.create({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: "read-configmaps", namespace: f.ns }, rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "watch"] }] } as never);
    await f.admin.create({
      apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding", metadata: { name: "test-user-reads", namespace: f.ns },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "read-configmaps" },
      subjects: [{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name: "chakrator-test-user" }],
    } as never);
    // A fresh server (fresh permission cache) once the grant is in force: the person reads the source.
    const s = await serve({});
    await eventually(async () => (await call(s.url, "GET", `/api/reconcilers/${f.ns}/reconciler`, user)).status === 200, 15_000, "the read grant");

    const validate = await call(s.url, "POST", "/api/validate", { ...user, body: { files: { "reconciler.ts": "export default {}" }, reconciler: ref() } });
    assert.equal(validate.status, 403, JSON.stringify(validate.body));
    assert.equal(validate.body.error.reason, "Forbidden");
    assert.match(validate.body.error.message, /may not update configmaps in namespace/);
    const dry = await call(s.url, "POST", "/api/dry-run", { ...user, body: { files: { "reconciler.ts": "export default {}" }, reconciler: ref(), target: { namespace: f.ns, name: "hello" } } });
    assert.equal(dry.status, 403, JSON.stringify(dry.body));
    assert.match(dry.body.error.message, /dry run .*update configmaps/);
    const noRef = await call(s.url, "POST", "/api/validate", { token: f.info.adminToken, body: { files: {} } });
    assert.equal(noRef.status, 400);
    assert.match(noRef.body.error.message, /"reconciler"/);

    const admin = await call(s.url, "POST", "/api/validate", { token: f.info.adminToken, body: { files: { "reconciler.ts": "export const x: number = 1;\n" }, reconciler: ref() } });
    assert.equal(admin.status, 200, JSON.stringify(admin.body));
  });

  for (const caps of [{ what: "per person", lane: { concurrency: 1, maxQueued: 8, maxPerPerson: 3 }, message: /you have 3 validations/ }, { what: "server-wide", lane: { concurrency: 1, maxQueued: 2, maxPerPerson: 100 }, message: /queue is full/ }]) {
    it(`answers a flood of validations with 429 and Retry-After (${caps.what} cap); a newer validation of a file replaces the waiting one (409 Superseded)`, async () => {
      const s = await serve({ editorLane: caps.lane });
      const compiler = f.op.compiler;
      const original = compiler.compile;
      const lanes: Array<CompileOptions["lane"]> = [];
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => { release = resolve; });
      compiler.compile = async (files, options) => {
        lanes.push(options?.lane);
        await gate;
        return original.call(compiler, files, options);
      };
      try {
        const token = f.info.adminToken;
        const validate = (name: string, text = "export const x = 1;\n") => call(s.url, "POST", "/api/validate", { token, body: { files: { "reconciler.ts": text }, reconciler: ref(name) } });
        const first = validate("a");
        await eventually(() => s.stats().editor.running === 1, 15_000, "one validation running");
        const olderB = validate("b", "export const x = 1; // older\n");
        const c = validate("c");
        await eventually(() => s.stats().editor.queued === 2, 15_000, "two validations waiting");

        const flood = await Promise.all(Array.from({ length: 12 }, (_, i) => validate(`flood-${i}`)));
        for (const r of flood) {
          assert.equal(r.status, 429, JSON.stringify(r.body));
          assert.equal(r.body.error.reason, "TooManyRequests");
          assert.match(r.body.error.message, /validation is busy/);
          assert.match(r.body.error.message, caps.message);
          const retry = Number(r.headers.get("retry-after"));
          assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After ${r.headers.get("retry-after")}`);
        }

        const newerB = validate("b", "export const x: string = 1; // newer\n");
        const replaced = await olderB;
        assert.equal(replaced.status, 409, JSON.stringify(replaced.body));
        assert.equal(replaced.body.error.reason, "Superseded");
        await eventually(() => s.stats().editor.queued === 2, 15_000, "the newer validation waiting");

        release();
        const [a, cc, b] = await Promise.all([first, c, newerB]);
        assert.equal(a.status, 200);
        assert.equal(cc.status, 200);
        assert.equal(b.status, 200);
        assert.equal(b.body.ok, false, "the newer text (a type error) was the one checked");
        assert.ok(lanes.length >= 3 && lanes.every((l) => l === "editor"), `compile lanes: ${lanes.join(",")}`);
        assert.deepEqual(s.stats().editor, { running: 0, queued: 0 });
      } finally {
        compiler.compile = original;
        release();
      }
    });
  }

  it("a flood of validations from one person leaves hot reload of a reconciler working", async () => {
    const s = await serve({});
    const key = `${f.ns}/reconciler`;
    const before = f.op.sources.state(key)!.active!.number;
    const files = (await call(s.url, "GET", `/api/reconcilers/${key}`, { token: f.info.adminToken })).body.files as Record<string, string>;
    const flood = Promise.all(Array.from({ length: 40 }, (_, i) =>
      call(s.url, "POST", "/api/validate", { token: f.info.adminToken, body: { files: { ...files, "reconciler.ts": `${files["reconciler.ts"]}\n// ${i}\n` }, reconciler: ref(`flood-${i}`) } })));
    const cm = (await f.admin.get<ConfigMap>("v1", "ConfigMap", "reconciler", f.ns))!;
    await f.admin.replace({ ...cm, data: { ...cm.data, "reconciler.ts": `${cm.data!["reconciler.ts"]}\n// edited during a flood\n` } });
    await eventually(() => (f.op.sources.state(key)?.active?.number ?? 0) > before, 30_000, "the edit becomes a revision during the flood");
    const answers = await flood;
    assert.ok(answers.every((r) => r.status === 200 || r.status === 429), answers.map((r) => r.status).join(","));
    assert.ok(answers.some((r) => r.status === 429), "one person cannot queue 40 validations");
  });

  it("dry-runs in the editor's sandbox host, compiling once", async () => {
    const compiler = f.op.compiler;
    const original = compiler.compile;
    let compiles = 0;
    compiler.compile = (files, options) => {
      // Only the editor's compiles: the operator's own (a revision from the test before) share this compiler.
      if (options?.lane === "editor") compiles++;
      return original.call(compiler, files, options);
    };
    const sandbox = f.op.sandbox;
    const load = sandbox.load;
    const hosts: Array<string | undefined> = [];
    sandbox.load = (source) => {
      hosts.push(source.host);
      return load.call(sandbox, source);
    };
    try {
      const files = (await call(f.url, "GET", `/api/reconcilers/${f.ns}/reconciler`, { token: f.info.adminToken })).body.files;
      const res = await call(f.url, "POST", "/api/dry-run", { token: f.info.adminToken, body: { files, reconciler: ref(), target: { namespace: f.ns, name: "hello" } } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.ok, true, JSON.stringify(res.body.error));
      assert.ok(res.body.live.children.length > 0);
      assert.equal(compiles, 1);
      // Every load of the dry run (the reconcile, and the admission verdict's copy) is in the editor's host.
      assert.ok(hosts.length >= 1 && hosts.every((h) => h === "chakrator:editor"), JSON.stringify(hosts));
    } finally {
      compiler.compile = original;
      sandbox.load = load;
    }
  });

  it("answers strangers 401 before their body is sent, and closes the connection unread", async () => {
    const host = new URL(f.url).host;
    const big = 1 << 20;
    for (const [path, auth] of [["/api/validate", ""], ["/api/validate", "\r\nAuthorization: Bearer not-a-token"], [`/api/reconcilers/${f.ns}/reconciler/rollback`, "\r\nCookie: chakrator-session=nope"]] as const) {
      const r = await rawExchange(f.url, `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${big}${auth}`, '{"files": {"reconciler.ts": "');
      assert.equal(r.closedByServer, true, `the server closed the connection of ${path}${auth}`);
      assert.match(r.response, /^HTTP\/1\.1 401 /, r.response);
      assert.match(r.response, /\r\nconnection: close\r\n/i);
    }
    // Sign-in reads a body before any token is known: 16 KiB at most.
    const signIn = await rawExchange(f.url, `POST /api/session HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${big}`, '{"token": "');
    assert.equal(signIn.closedByServer, true);
    assert.match(signIn.response, /^HTTP\/1\.1 413 /, signIn.response);
    const chunked = await call(f.url, "POST", "/api/session", { body: { token: "x".repeat(20 * 1024) } });
    assert.equal(chunked.status, 413);
  });

  it("refuses connections and log streams beyond their caps, cheaply", async () => {
    const s = await serve({ limits: { maxConnections: 4 }, logStream: { maxClients: 1 } });
    const token = f.info.adminToken;
    const { ws } = await openStream(s.url, "", { token });
    assert.equal(await refusedStatus(s.url, "", { token }), 503, "a second log stream");
    const sockets: Socket[] = [];
    try {
      // The refused upgrade's socket may take a moment to be counted out.
      while (sockets.length < 3) sockets.push(await eventually(() => idleConnection(s.url).catch(() => undefined), 15_000, "a connection under the cap"));
      const over = await rawExchange(s.url, `GET /healthz HTTP/1.1\r\nHost: ${new URL(s.url).host}`);
      assert.equal(over.closedByServer, true);
      assert.equal(over.response, "", "closed before any answer");
      sockets.pop()!.destroy();
      const again = await eventually(() => idleConnection(s.url).catch(() => undefined), 15_000, "a connection once one closed");
      sockets.push(again);
    } finally {
      for (const sock of sockets) sock.destroy();
      ws.close();
    }
  });

  it("random tokens cost a bounded number of TokenReviews and never push a signed-in person out", async () => {
    const s = await serve({ authenticator: { maxEntries: 2, reviewBurst: 5, reviewsPerSecond: 0.01 } });
    const signIn = await call(s.url, "POST", "/api/session", { body: { token: f.info.adminToken } });
    assert.equal(signIn.status, 200);
    const cookie = signIn.headers.getSetCookie()[0]!.split(";")[0]!;
    assert.equal(s.stats().tokenReviews, 1);

    const tokens = Array.from({ length: 30 }, () => randomBytes(16).toString("hex"));
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (const token of tokens) {
      const r = await call(s.url, "GET", "/api/reconcilers", { token });
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers.get("retry-after");
    }
    assert.deepEqual(statuses, [...Array(4).fill(401), ...Array(26).fill(429)]);
    assert.ok(Number(retryAfter) >= 1, `Retry-After ${retryAfter}`);
    assert.equal(s.stats().tokenReviews, 5, "the budget bounds the TokenReviews");
    // A refused token is remembered: asked again, it costs no TokenReview.
    assert.equal((await call(s.url, "GET", "/api/reconcilers", { token: tokens[0]! })).status, 401);
    // A log stream with a new random token is refused by the budget too.
    assert.equal(await refusedStatus(s.url, "", { token: randomBytes(16).toString("hex") }), 429);
    // The signed-in person works, from the cache: no TokenReview, no budget.
    const list = await call(s.url, "GET", "/api/reconcilers", { cookie });
    assert.equal(list.status, 200, JSON.stringify(list.body));
    assert.equal(s.stats().tokenReviews, 5);
  });
});
