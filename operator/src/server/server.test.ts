// The editor's REST API on the real control plane, with auth "token": who may do what,
// save with optimistic concurrency (kubectl-style edits in between), diagnostics,
// body limits, dry-run, revisions and rollback, and the one error path.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually, sampleSource } from "../../testenv/index.ts";
import type { ConfigMap } from "../reconcilers/revisions.ts";
import { startServer } from "./index.ts";
import type { DryRunResponse, ReconcilerSource, Revision, SaveConflict } from "./protocol.ts";
import { call, refusedStatus, startFixture, type Fixture } from "./test-fixture.ts";

describe("editor server (auth token)", () => {
  let f: Fixture;
  let cookie: string;
  let failCounts = false;
  const path = () => `/api/reconcilers/${f.ns}/reconciler`;
  const ref = () => ({ namespace: f.ns, name: "reconciler" });
  const getCm = () => f.admin.get<ConfigMap>("v1", "ConfigMap", "reconciler", f.ns);

  before(async () => {
    f = await startFixture("server", {
      auth: "token",
      maxBodyBytes: 256 * 1024,
      counts: () => {
        if (failCounts) throw new Error("secret detail /etc/chakrator");
        return { reconciles: 7, errors: 1 };
      },
    });
  });
  after(async () => {
    await f?.stop();
  });

  it("refuses REST reads and writes without a valid token (401) and passes the API server's 403 through", async () => {
    const save = { files: sampleSource("01-message"), resourceVersion: "1" };
    for (const token of [undefined, "not-a-token"]) {
      const opts = token === undefined ? {} : { token };
      const read = await call(f.url, "GET", path(), opts);
      assert.equal(read.status, 401, JSON.stringify(read.body));
      assert.equal(read.body.error.reason, "Unauthorized");
      assert.equal((await call(f.url, "GET", "/api/reconcilers", opts)).status, 401);
      assert.equal((await call(f.url, "PUT", path(), { ...opts, body: save })).status, 401);
    }
    const bad = await call(f.url, "POST", "/api/session", { body: { token: "not-a-token" } });
    assert.equal(bad.status, 401);
    assert.equal(bad.headers.getSetCookie().length, 0, "no cookie for a bad token");

    const user = { token: f.info.userToken };
    const read = await call(f.url, "GET", path(), user);
    assert.equal(read.status, 403, JSON.stringify(read.body));
    assert.match(read.body.error.message, /forbidden/i);
    const write = await call(f.url, "PUT", path(), { ...user, body: { ...save, resourceVersion: (await getCm())!.metadata.resourceVersion } });
    assert.equal(write.status, 403, JSON.stringify(write.body));
    // A broken source from someone who may not read the ConfigMap: 403 before any compile, not 422.
    const broken = await call(f.url, "PUT", path(), { ...user, body: { files: { "reconciler.ts": 'export const answer: number = "forty-two";\n' }, resourceVersion: (await getCm())!.metadata.resourceVersion } });
    assert.equal(broken.status, 403, JSON.stringify(broken.body));
    assert.equal(broken.body.error.diagnostics, undefined, "no diagnostics for someone who may not read the source");
    assert.equal((await call(f.url, "POST", "/api/reconcilers", { ...user, body: { namespace: f.ns, name: "other" } })).status, 403);
    assert.equal((await call(f.url, "GET", `${path()}/revisions`, user)).status, 403);
    // Status from memory is listed only for reconcilers the person may read: none here.
    const list = await call(f.url, "GET", "/api/reconcilers", user);
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.items, []);
  });

  it("refuses WebSocket upgrades without a valid token (401) or from a person who may read no reconciler (403)", async () => {
    assert.equal(await refusedStatus(f.url, ""), 401);
    assert.equal(await refusedStatus(f.url, "", { token: "not-a-token" }), 401);
    assert.equal(await refusedStatus(f.url, "", { token: f.info.userToken }), 403);
  });

  it("signs the admin in with an HttpOnly, SameSite=Strict cookie", async () => {
    const res = await call(f.url, "POST", "/api/session", { body: { token: f.info.adminToken } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.signedIn, true);
    assert.equal(res.body.auth, "token");
    const set = res.headers.getSetCookie()[0] ?? "";
    assert.match(set, /HttpOnly/);
    assert.match(set, /SameSite=Strict/);
    assert.match(set, /Path=\//);
    assert.doesNotMatch(set, /Secure/, "plain HTTP: no Secure flag");
    assert.ok(!JSON.stringify(res.body).includes(f.info.adminToken), "the token never comes back in a body");
    cookie = set.split(";")[0]!;
    const session = await call(f.url, "GET", "/api/session", { cookie });
    assert.equal(session.body.signedIn, true);
    const https = await call(f.url, "POST", "/api/session", { body: { token: f.info.adminToken }, headers: { "x-forwarded-proto": "https" } });
    assert.match(https.headers.getSetCookie()[0] ?? "", /^__Host-chakrator-session=.*; Secure$/);
  });

  it("lists reconcilers with state, counts and permissions", async () => {
    const res = await call(f.url, "GET", "/api/reconcilers", { cookie });
    assert.equal(res.status, 200);
    const item = res.body.items.find((i: { name: string }) => i.name === "reconciler");
    assert.equal(item.active.number, 1);
    assert.equal(item.active.for.kind, "MyResource");
    assert.deepEqual(item.counts, { reconciles: 7, errors: 1 });
    assert.deepEqual(item.permissions, { update: true, create: true });
  });

  it("reads the source and saves it with the right resourceVersion as chakrator-editor", async () => {
    const got = await call(f.url, "GET", path(), { cookie });
    assert.equal(got.status, 200);
    const src = got.body as ReconcilerSource;
    assert.equal(src.files["reconciler.ts"], sampleSource("01-message")["reconciler.ts"]);
    assert.equal(src.resourceVersion, (await getCm())!.metadata.resourceVersion);
    const edited = src.files["reconciler.ts"]!.replace("toUpperCase()", "toLowerCase()");
    const saved = await call(f.url, "PUT", path(), { cookie, body: { files: { "reconciler.ts": edited }, resourceVersion: src.resourceVersion } });
    assert.equal(saved.status, 200, JSON.stringify(saved.body));
    const cm = (await getCm())!;
    assert.equal(cm.data?.["reconciler.ts"], edited);
    assert.equal(saved.body.resourceVersion, cm.metadata.resourceVersion);
    const managers = ((cm.metadata.managedFields ?? []) as Array<{ manager: string }>).map((m) => m.manager);
    assert.ok(managers.includes("chakrator-editor"), managers.join(","));
    await eventually(() => f.op.sources.state(`${f.ns}/reconciler`)?.active?.number === 2, 20_000, "revision 2");
  });

  it("answers 409 with the current files after an out-of-band edit (kubectl edit)", async () => {
    const loaded = (await call(f.url, "GET", path(), { cookie })).body as ReconcilerSource;
    const cm = (await getCm())!;
    const theirs = cm.data!["reconciler.ts"]! + "\n// edited with kubectl\n";
    await f.admin.replace({ ...cm, data: { ...cm.data, "reconciler.ts": theirs } });
    const res = await call(f.url, "PUT", path(), { cookie, body: { files: loaded.files, resourceVersion: loaded.resourceVersion } });
    assert.equal(res.status, 409, JSON.stringify(res.body));
    const body = res.body as SaveConflict;
    assert.equal(body.error.reason, "Conflict");
    assert.equal(body.current.files["reconciler.ts"], theirs);
    assert.equal(body.current.resourceVersion, (await getCm())!.metadata.resourceVersion);
    assert.equal((await getCm())!.data?.["reconciler.ts"], theirs, "the kubectl edit was not overwritten");
  });

  it("refuses a source with a type error with 422 and line/column diagnostics, unless forced", async () => {
    const current = (await call(f.url, "GET", path(), { cookie })).body as ReconcilerSource;
    const broken = `${current.files["reconciler.ts"]}\nexport const answer: number = "forty-two";\n`;
    const res = await call(f.url, "PUT", path(), { cookie, body: { files: { "reconciler.ts": broken }, resourceVersion: current.resourceVersion } });
    assert.equal(res.status, 422, JSON.stringify(res.body));
    const d = res.body.error.diagnostics[0];
    assert.equal(d.file, "reconciler.ts");
    assert.ok(d.line > 1 && d.column > 1, JSON.stringify(d));
    assert.equal((await getCm())!.metadata.resourceVersion, current.resourceVersion, "nothing was written");
    const validate = await call(f.url, "POST", "/api/validate", { cookie, body: { files: { "reconciler.ts": broken }, reconciler: ref() } });
    assert.equal(validate.status, 200);
    assert.equal(validate.body.ok, false);
    assert.deepEqual(validate.body.diagnostics[0], d);
    const forced = await call(f.url, "PUT", path(), { cookie, body: { files: { "reconciler.ts": broken }, resourceVersion: current.resourceVersion, force: true } });
    assert.equal(forced.status, 200, JSON.stringify(forced.body));
    await eventually(() => f.op.sources.state(`${f.ns}/reconciler`)?.lastRejection?.resourceVersion === forced.body.resourceVersion, 20_000, "rejected by the operator");
  });

  it("refuses bodies over the cap (413), non-JSON writes (415), malformed bodies (400) and cross-origin writes (403)", async () => {
    const big = await call(f.url, "POST", "/api/validate", { cookie, body: { files: { "reconciler.ts": "x".repeat(300 * 1024) }, reconciler: ref() } });
    assert.equal(big.status, 413);
    assert.equal(big.body.error.reason, "PayloadTooLarge");
    const form = await call(f.url, "POST", "/api/validate", { cookie, body: "files=x", headers: { "content-type": "application/x-www-form-urlencoded" } });
    assert.equal(form.status, 415);
    const bad = await call(f.url, "POST", "/api/validate", { cookie, body: "{nope" });
    assert.equal(bad.status, 400);
    const noFiles = await call(f.url, "POST", "/api/validate", { cookie, body: { file: {} } });
    assert.equal(noFiles.status, 400);
    assert.match(noFiles.body.error.message, /"files"/);
    const cross = await call(f.url, "POST", "/api/validate", { cookie, body: { files: {}, reconciler: ref() }, headers: { origin: "https://evil.example" } });
    assert.equal(cross.status, 403);
    const same = await call(f.url, "POST", "/api/validate", { cookie, body: { files: {}, reconciler: ref() }, headers: { origin: f.url } });
    assert.equal(same.status, 200);
  });

  it("dry-runs unsaved source against a live resource, showing the live children", async () => {
    const files = sampleSource("01-message");
    const res = await call(f.url, "POST", "/api/dry-run", { cookie, body: { files, reconciler: ref(), target: { namespace: f.ns, name: "hello" } } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const body = res.body as DryRunResponse;
    assert.equal(body.ok, true, JSON.stringify(body.error));
    const child = body.children[0] as ConfigMap;
    assert.equal(child.metadata.name, "hello-message");
    assert.equal(child.data?.["message"], "hello there");
    assert.deepEqual(body.status, { message: "HELLO THERE" });
    assert.ok(body.live?.children.some((c) => (c as ConfigMap).metadata.name === "hello-message"), JSON.stringify(body.live));
    const pasted = await call(f.url, "POST", "/api/dry-run", { cookie, body: { files, reconciler: ref(), yaml: "apiVersion: example.com/v1\nkind: MyResource\nmetadata: {name: pasted}\nspec: {message: hi}\n" } });
    assert.equal((pasted.body.children[0] as ConfigMap).metadata.name, "pasted-message");
    const missing = await call(f.url, "POST", "/api/dry-run", { cookie, body: { files, reconciler: ref(), target: { namespace: f.ns, name: "nope" } } });
    assert.equal(missing.status, 404);
  });

  it("dry-run says what validate and mutate make of the object: CREATE for a pasted one, UPDATE for a live one", async () => {
    const seed = sampleSource("01-message")["reconciler.ts"]!;
    const files = { "reconciler.ts": seed.replace("reconcile(", `mutate(res: MyResource) { return { ...res, spec: { ...res.spec, message: res.spec.message.trim() } }; },
  validate(res: MyResource, _ctx, request) { return res.spec.message.length <= 20 ? { allowed: true, warnings: [request.operation] } : { allowed: false, message: "spec.message is over 20 characters" }; },
  reconcile(`) };
    const yaml = (message: string) => `apiVersion: example.com/v1\nkind: MyResource\nmetadata: {name: pasted}\nspec: {message: "${message}"}\n`;
    const ok = await call(f.url, "POST", "/api/dry-run", { cookie, body: { files, reconciler: ref(), yaml: yaml("  hi  ") } });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const admission = (ok.body as DryRunResponse).admission!;
    assert.equal(admission.operation, "CREATE");
    assert.equal(admission.allowed, true);
    assert.deepEqual(admission.mutate, { object: { apiVersion: "example.com/v1", kind: "MyResource", metadata: { name: "pasted" }, spec: { message: "hi" } }, patch: [{ op: "replace", path: "/spec/message", value: "hi" }] });
    assert.deepEqual(admission.validate, { allowed: true, warnings: ["CREATE"] });
    const refused = (await call(f.url, "POST", "/api/dry-run", { cookie, body: { files, reconciler: ref(), yaml: yaml("x".repeat(30)) } })).body as DryRunResponse;
    assert.equal(refused.admission?.allowed, false);
    assert.deepEqual(refused.admission?.validate, { allowed: false, message: "spec.message is over 20 characters" });
    const live = (await call(f.url, "POST", "/api/dry-run", { cookie, body: { files, reconciler: ref(), target: { namespace: f.ns, name: "hello" } } })).body as DryRunResponse;
    assert.equal(live.admission?.operation, "UPDATE");
    assert.deepEqual(live.admission?.validate, { allowed: true, warnings: ["UPDATE"] });
    const without = (await call(f.url, "POST", "/api/dry-run", { cookie, body: { files: sampleSource("01-message"), reconciler: ref(), yaml: yaml("hi") } })).body as DryRunResponse;
    assert.equal(without.admission, undefined, "no admission exports, no admission section");
  });

  it("lists revisions and rolls back to revision 1", async () => {
    const revs = await call(f.url, "GET", `${path()}/revisions`, { cookie });
    assert.equal(revs.status, 200);
    const items = revs.body.items as Revision[];
    assert.ok(items.length >= 2);
    assert.equal(items.find((r) => r.active)?.number, f.op.sources.state(`${f.ns}/reconciler`)?.active?.number);
    const rv = (await getCm())!.metadata.resourceVersion!;
    const stale = await call(f.url, "POST", `${path()}/rollback`, { cookie, body: { revision: 1, resourceVersion: "1" } });
    assert.equal(stale.status, 409);
    const gone = await call(f.url, "POST", `${path()}/rollback`, { cookie, body: { revision: 99, resourceVersion: rv } });
    assert.equal(gone.status, 404);
    const res = await call(f.url, "POST", `${path()}/rollback`, { cookie, body: { revision: 1, resourceVersion: rv } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal((await getCm())!.data?.["reconciler.ts"], sampleSource("01-message")["reconciler.ts"]);
  });

  it("lists the reconciler's resources and creates a reconciler from a template (409 when it exists)", async () => {
    const res = await call(f.url, "GET", `${path()}/resources`, { cookie });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.items, [{ apiVersion: "example.com/v1", kind: "MyResource", namespace: f.ns, name: "hello" }]);
    const created = await call(f.url, "POST", "/api/reconcilers", { cookie, body: { namespace: f.ns, name: "second" } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const cm = (await f.admin.get<ConfigMap>("v1", "ConfigMap", "second", f.ns))!;
    assert.equal(cm.metadata.labels?.["chakrator.dev/reconciler"], "true");
    assert.equal(cm.data?.["reconciler.ts"], sampleSource("01-message")["reconciler.ts"]);
    const again = await call(f.url, "POST", "/api/reconcilers", { cookie, body: { namespace: f.ns, name: "second" } });
    assert.equal(again.status, 409);
  });

  it("answers unknown routes with 404 JSON and hides internal errors", async () => {
    const unknown = await call(f.url, "GET", "/api/nope", { cookie });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.status, 404);
    failCounts = true;
    try {
      const res = await call(f.url, "GET", "/api/reconcilers", { cookie });
      assert.equal(res.status, 500);
      assert.deepEqual(res.body, { error: { status: 500, reason: "InternalError", message: "internal error" } });
      const logged = f.bus.recent({ text: "secret detail" });
      assert.ok(logged.length > 0, "the detail is in the operator log");
    } finally {
      failCounts = false;
    }
  });

  it("signs out: the cookie is cleared", async () => {
    const res = await call(f.url, "DELETE", "/api/session", { cookie });
    assert.equal(res.status, 200);
    assert.match(res.headers.getSetCookie()[0] ?? "", /Max-Age=0/);
  });

  it("refuses auth off on a non-loopback address", async () => {
    await assert.rejects(startServer({ operator: f.op, auth: "off" }, { host: "0.0.0.0", port: 0 }), /loopback/);
  });
});
