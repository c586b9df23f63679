// Static files, probes and the auth-off guards, without a cluster: the server starts
// with a stand-in operator (only its log bus is used on these paths).
import assert from "node:assert/strict";
import { request } from "node:http";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Operator } from "../operator.ts";
import { LogBus } from "../telemetry/log.ts";
import { startServer, type RunningServer } from "./index.ts";
import { isHashedName, resolveInside } from "./static.ts";

/** A raw GET, so the path and Host header go out exactly as written. */
function rawGet(url: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    // Options, not a URL: a URL would normalize "/../" away before it is sent.
    const req = request({ host: u.hostname, port: u.port, path, headers }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("static files and probes", () => {
  const ui = mkdtempSync(join(tmpdir(), "chakrator-ui-"));
  const secret = mkdtempSync(join(tmpdir(), "chakrator-secret-"));
  const fakeOperator = { client: {}, log: new LogBus({ stdout: false }), sources: { states: () => [] } } as unknown as Operator;
  let server: RunningServer;
  let empty: RunningServer;
  let ready = true;

  before(async () => {
    writeFileSync(join(ui, "index.html"), "<!doctype html><title>editor</title>");
    mkdirSync(join(ui, "assets"));
    writeFileSync(join(ui, "assets", "main-5XKZQ2LM.js"), "console.log(1)");
    writeFileSync(join(ui, "assets", "codemirror-language.css"), "body{}");
    writeFileSync(join(ui, ".env"), "SECRET=1");
    writeFileSync(join(secret, "passwd"), "root:x");
    server = await startServer({
      operator: fakeOperator, auth: "off", uiDir: ui,
      ready: () => ({ ready, reasons: ready ? [] : ["caches not synced"] }),
      metrics: { render: () => "chakrator_up 1\n", contentType: "text/plain; version=0.0.4; charset=utf-8" },
    }, { host: "127.0.0.1", port: 0 });
    empty = await startServer({ operator: fakeOperator, auth: "off", uiDir: join(ui, "missing") }, { host: "127.0.0.1", port: 0 });
  });
  after(async () => {
    await server?.close();
    await empty?.close();
  });

  it("serves files with their content type and cache headers", async () => {
    const index = await rawGet(server.url, "/");
    assert.equal(index.status, 200);
    assert.equal(index.headers["content-type"], "text/html; charset=utf-8");
    assert.equal(index.headers["cache-control"], "no-cache");
    assert.equal(index.headers["x-frame-options"], "DENY");
    const js = await rawGet(server.url, "/assets/main-5XKZQ2LM.js");
    assert.equal(js.headers["content-type"], "text/javascript; charset=utf-8");
    assert.equal(js.headers["cache-control"], "public, max-age=31536000, immutable");
    const css = await rawGet(server.url, "/assets/codemirror-language.css");
    assert.equal(css.headers["content-type"], "text/css; charset=utf-8");
    assert.equal(css.headers["cache-control"], "no-cache", "a name without a hash is revalidated");
    const again = await rawGet(server.url, "/", { "if-none-match": String(index.headers["etag"]) });
    assert.equal(again.status, 304);
    const spa = await rawGet(server.url, "/reconcilers/default/reconciler");
    assert.equal(spa.status, 200);
    assert.match(spa.body, /editor/);
  });

  it("never serves outside the UI folder or dotfiles", async () => {
    const rel = `../${secret.split("/").pop()}/passwd`;
    for (const path of [`/${rel}`, `/%2e%2e/${secret.split("/").pop()}/passwd`, "/..%2f..%2fetc%2fpasswd", "/.env", "/assets/%00.js", "/%5c..%5cetc"]) {
      const res = await rawGet(server.url, path);
      assert.doesNotMatch(res.body, /root:x|SECRET/, path);
      // Refused, or (for an extension-less path) the app's index.html; never the file.
      assert.ok(res.status >= 400 || res.body.includes("<title>editor</title>"), `${path}: ${res.status}`);
    }
    assert.equal(resolveInside("/srv/ui", "/../etc/passwd"), undefined);
    assert.equal(resolveInside("/srv/ui", "/a/b.js"), "/srv/ui/a/b.js");
    assert.ok(isHashedName("main-5XKZQ2LM.js") && !isHashedName("codemirror-language.js"));
  });

  it("says how to build the UI when it is missing", async () => {
    const res = await rawGet(empty.url, "/");
    assert.equal(res.status, 200);
    assert.match(res.body, /npm run build:ui/);
  });

  it("answers probes and metrics", async () => {
    assert.equal((await rawGet(server.url, "/healthz")).status, 200);
    assert.equal((await rawGet(server.url, "/readyz")).status, 200);
    ready = false;
    const notReady = await rawGet(server.url, "/readyz");
    assert.equal(notReady.status, 503);
    assert.match(notReady.body, /caches not synced/);
    ready = true;
    const metrics = await rawGet(server.url, "/metrics");
    assert.match(metrics.body, /chakrator_up 1/);
    assert.equal((await rawGet(empty.url, "/metrics")).status, 404);
  });

  it("with auth off: says so, and refuses non-loopback Host headers (DNS rebinding)", async () => {
    const session = await rawGet(server.url, "/api/session");
    assert.deepEqual(JSON.parse(session.body), { auth: "off", signedIn: true });
    const rebound = await rawGet(server.url, "/api/session", { host: "evil.example:80" });
    assert.equal(rebound.status, 403);
    assert.equal(JSON.parse(rebound.body).error.reason, "Forbidden");
    const unknown = await rawGet(server.url, "/api/nope");
    assert.equal(unknown.status, 404);
    assert.equal(JSON.parse(unknown.body).error.status, 404);
  });
});
