/**
 * KubeClient over HTTP/2 (h2.ts): on the real API server (one connection for many
 * requests, a multi-megabyte list through flow control), and against servers that
 * misbehave on purpose (HTTP/1.1 only, GOAWAY, refused streams, silence, a connection
 * that stops carrying bytes, a broken socket, two client certificates, a CLI that must
 * exit).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { constants, createSecureServer, type Http2SecureServer, type ServerHttp2Session } from "node:http2";
import { createServer as createNetServer, connect as netConnect, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { TLSSocket } from "node:tls";
import * as k8s from "@kubernetes/client-node";
import { kubeConfig, testCluster, testNamespace } from "../../testenv/index.ts";
import { issueCa, issueServing } from "../admission/x509.ts";
import { KubeApiError, KubeClient } from "./client.ts";

/** Established TCP connections of this process to `port` on loopback (from /proc). */
function connectionsTo(port: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // The fd closed meanwhile.
    }
  }
  let n = 0;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== "01") continue;
      if (Number.parseInt(f[2]!.split(":").pop()!, 16) === port && inodes.has(f[9]!)) n++;
    }
  }
  return n;
}

describe("KubeClient over HTTP/2 on the real API server", () => {
  it("with CHAKRATOR_KUBE_HTTP2=1, sends 60 concurrent GETs over one connection (HTTP/1.1, the default, needs several), with the same answers", async () => {
    const info = await testCluster();
    const port = Number(new URL(info.server).port);
    const counts: Record<string, number> = {};
    for (const mode of ["h2", "http1"]) {
      if (mode === "h2") process.env.CHAKRATOR_KUBE_HTTP2 = "1";
      const client = KubeClient.fromKubeConfig(kubeConfig(info));
      delete process.env.CHAKRATOR_KUBE_HTTP2;
      try {
        const before = connectionsTo(port);
        const names = await Promise.all(Array.from({ length: 60 }, () => client.request<{ metadata: { name: string } }>("GET", "/api/v1/namespaces/default")));
        assert.ok(names.every((n) => n.metadata.name === "default"));
        counts[mode] = connectionsTo(port) - before;
      } finally {
        client.close();
      }
    }
    assert.equal(counts.h2, 1, `HTTP/2: ${counts.h2} new connections`);
    assert.ok(counts.http1! > 1, `HTTP/1.1: ${counts.http1} new connections`);
  });

  it("over HTTP/2, lists 4 MiB of ConfigMaps in pages, and writes (apply, patch, delete) work as over HTTP/1.1", async () => {
    const info = await testCluster();
    const ns = await testNamespace(info, "h2");
    process.env.CHAKRATOR_KUBE_HTTP2 = "1";
    const client = KubeClient.fromKubeConfig(kubeConfig(info));
    delete process.env.CHAKRATOR_KUBE_HTTP2;
    try {
      const blob = "x".repeat(16 * 1024);
      for (let i = 0; i < 256; i += 32) {
        await Promise.all(Array.from({ length: 32 }, (_, j) => client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: `cm-${i + j}`, namespace: ns }, data: { blob } })));
      }
      const list = await client.list("v1", "ConfigMap", { namespace: ns, pageSize: 200 });
      assert.equal(list.items.filter((c) => c.metadata.name.startsWith("cm-")).length, 256);
      assert.ok(list.items.every((c) => !c.metadata.name.startsWith("cm-") || (c.data as { blob: string }).blob === blob));
      const applied = await client.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cm-0", namespace: ns }, data: { blob: "y" } }, { fieldManager: "h2-test" });
      assert.equal((applied.data as { blob: string }).blob, "y");
      await client.patch("v1", "ConfigMap", "cm-1", ns, { data: { extra: "1" } });
      assert.equal(((await client.get("v1", "ConfigMap", "cm-1", ns))!.data as { extra: string }).extra, "1");
      assert.equal(await client.delete("v1", "ConfigMap", "cm-2", ns), true);
      assert.equal(await client.get("v1", "ConfigMap", "cm-2", ns), undefined);
      await assert.rejects(client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cm-3", namespace: ns } }), (e: unknown) => e instanceof KubeApiError && e.status === 409);
    } finally {
      client.close();
    }
  });
});

describe("KubeClient over HTTP/2 against servers that misbehave", () => {
  let tls: { ca: string; cert: string; key: string };
  // Inside the repository: the command's script imports the Kubernetes client library.
  const dir = mkdtempSync(join(new URL("../../../node_modules/", import.meta.url).pathname, ".chakrator-h2-test-"));
  before(async () => {
    const ca = await issueCa();
    const serving = await issueServing(ca, ["127.0.0.1", "localhost"]);
    tls = { ca: ca.cert, ...serving };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function clientFor(port: number, user: k8s.User = { name: "u", token: "t" }): KubeClient {
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "c", server: `https://127.0.0.1:${port}`, caData: Buffer.from(tls.ca).toString("base64"), skipTLSVerify: false }],
      users: [user],
      contexts: [{ name: "x", cluster: "c", user: user.name }],
      currentContext: "x",
    });
    process.env.CHAKRATOR_KUBE_HTTP2 = "1";
    try {
      return KubeClient.fromKubeConfig(kc);
    } finally {
      delete process.env.CHAKRATOR_KUBE_HTTP2;
    }
  }

  async function h2Server(onStream: (path: string, stream: import("node:http2").ServerHttp2Stream, session: ServerHttp2Session) => void, extra: object = {}): Promise<{ server: Http2SecureServer; port: number; sessions: ServerHttp2Session[] }> {
    const server = createSecureServer({ cert: tls.cert, key: tls.key, ...extra });
    const sessions: ServerHttp2Session[] = [];
    server.on("session", (s) => sessions.push(s));
    server.on("stream", (stream, headers) => {
      stream.on("error", () => {});
      onStream(String(headers[":path"]), stream, stream.session as ServerHttp2Session);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { server, port: (server.address() as AddressInfo).port, sessions };
  }
  const ok = (stream: import("node:http2").ServerHttp2Stream, body: unknown) => {
    stream.respond({ ":status": 200, "content-type": "application/json" });
    stream.end(JSON.stringify(body));
  };
  const close = (server: { close(): void }, sessions: ServerHttp2Session[] = []) => {
    for (const s of sessions) s.destroy();
    server.close();
  };

  it("falls back to HTTP/1.1 when the server does not offer HTTP/2 (ALPN), and stays there", async () => {
    let requests = 0;
    const server = createHttpsServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      requests++;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ path: req.url, version: req.httpVersion, auth: req.headers.authorization }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const client = clientFor((server.address() as AddressInfo).port);
    try {
      for (let i = 0; i < 3; i++) {
        const got = await client.request<{ path: string; version: string; auth: string }>("GET", "/api/v1/namespaces/a?x=1");
        assert.deepEqual(got, { path: "/api/v1/namespaces/a?x=1", version: "1.1", auth: "Bearer t" });
      }
      assert.equal(requests, 3);
    } finally {
      client.close();
      server.closeAllConnections();
      server.close();
    }
  });

  it("after a GOAWAY, the next request opens a new session; the request in flight finishes", async () => {
    const { server, port, sessions } = await h2Server((path, stream, session) => {
      if (path === "/bye") {
        session.goaway(constants.NGHTTP2_NO_ERROR, stream.id);
        setTimeout(() => ok(stream, { bye: true }), 50);
      } else {
        ok(stream, { path, version: "2" });
      }
    });
    const client = clientFor(port);
    try {
      assert.deepEqual(await client.request("GET", "/a"), { path: "/a", version: "2" });
      assert.deepEqual(await client.request("GET", "/bye"), { bye: true });
      assert.deepEqual(await client.request("GET", "/b"), { path: "/b", version: "2" });
      assert.equal(sessions.length, 2);
    } finally {
      client.close();
      close(server, sessions);
    }
  });

  it("sends a refused stream (REFUSED_STREAM: not processed) once more; twice refused is an error", async () => {
    let posts = 0;
    const { server, port, sessions } = await h2Server((path, stream) => {
      if (path === "/refuse-once" && posts++ === 0) stream.close(constants.NGHTTP2_REFUSED_STREAM);
      else if (path === "/refuse-always") stream.close(constants.NGHTTP2_REFUSED_STREAM);
      else {
        let body = "";
        stream.setEncoding("utf8");
        stream.on("data", (c: string) => (body += c));
        stream.on("end", () => ok(stream, { body }));
      }
    });
    const client = clientFor(port);
    try {
      assert.deepEqual(await client.request("POST", "/refuse-once", { body: { a: 1 } }), { body: '{"a":1}' });
      assert.equal(posts, 2);
      await assert.rejects(client.request("POST", "/refuse-always", { body: {} }), (e: unknown) => e instanceof KubeApiError && e.status === 0 && e.reason === "NetworkError");
    } finally {
      client.close();
      close(server, sessions);
    }
  });

  it("a server that never answers: the request times out (status 0); the live session keeps serving", async () => {
    const { server, port, sessions } = await h2Server((path, stream) => {
      if (path !== "/hang") ok(stream, { path });
    });
    const client = clientFor(port);
    try {
      await assert.rejects(client.request("GET", "/hang", { timeoutMs: 300 }), (e: unknown) => e instanceof KubeApiError && e.status === 0 && /no response within 300 ms/.test(e.message));
      // The session answers its PING: it is kept.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(await client.request("GET", "/after"), { path: "/after" });
      assert.equal(sessions.length, 1);
      const stop = new AbortController();
      const pending = client.request("GET", "/hang", { signal: stop.signal });
      setTimeout(() => stop.abort(), 100);
      await assert.rejects(pending, (e: unknown) => e instanceof KubeApiError && e.reason === "Aborted");
    } finally {
      client.close();
      close(server, sessions);
    }
  });

  it("a connection that stops carrying bytes (half-open): the timed-out session fails its PING and is replaced", async () => {
    const { server, port, sessions } = await h2Server((path, stream) => ok(stream, { path }));
    // A TCP relay in front of the server that can go silent, as a dead route does.
    let silent = false;
    const pairs: Socket[] = [];
    const relay = createNetServer((inbound) => {
      const outbound = netConnect(port, "127.0.0.1");
      pairs.push(inbound, outbound);
      inbound.on("data", (c) => { if (!silent) outbound.write(c); });
      outbound.on("data", (c) => { if (!silent) inbound.write(c); });
      inbound.on("error", () => outbound.destroy());
      outbound.on("error", () => inbound.destroy());
      inbound.on("close", () => outbound.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
    const client = clientFor((relay.address() as AddressInfo).port);
    try {
      assert.deepEqual(await client.request("GET", "/1"), { path: "/1" });
      silent = true;
      await assert.rejects(client.request("GET", "/2", { timeoutMs: 300 }), /no response within 300 ms/);
      // The PING goes unanswered for 5 s: the session is destroyed; the route comes back.
      await new Promise((resolve) => setTimeout(resolve, 5500));
      silent = false;
      assert.deepEqual(await client.request("GET", "/3", { timeoutMs: 5000 }), { path: "/3" });
      assert.equal(sessions.length, 2, "a second connection was opened");
    } finally {
      client.close();
      for (const s of pairs) s.destroy();
      relay.close();
      close(server, sessions);
    }
  });

  it("a connection broken mid-request fails that request (status 0) and the next one gets a new session", async () => {
    const { server, port, sessions } = await h2Server((path, stream, session) => {
      if (path === "/break") (session.socket as TLSSocket).destroy();
      else ok(stream, { path });
    });
    const client = clientFor(port);
    try {
      await assert.rejects(client.request("GET", "/break"), (e: unknown) => e instanceof KubeApiError && e.status === 0);
      assert.deepEqual(await client.request("GET", "/next"), { path: "/next" });
      assert.equal(sessions.length, 2);
    } finally {
      client.close();
      close(server, sessions);
    }
  });

  it("two client certificates never share a session: each request reaches the server with its own", async () => {
    const ca = await issueCa();
    const alice = await issueServing(ca, ["alice"]);
    const bob = await issueServing(ca, ["bob"]);
    const { server, port, sessions } = await h2Server((_path, stream, session) => {
      ok(stream, { cn: (session.socket as TLSSocket).getPeerCertificate().subject?.CN });
    }, { requestCert: true, rejectUnauthorized: false });
    const user = (name: string, c: { cert: string; key: string }): k8s.User => ({ name, certData: Buffer.from(c.cert).toString("base64"), keyData: Buffer.from(c.key).toString("base64") });
    const a = clientFor(port, user("alice", alice));
    const b = clientFor(port, user("bob", bob));
    try {
      const got = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).request<{ cn: string }>("GET", "/whoami")));
      assert.deepEqual(got.map((g) => g.cn), Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? "alice" : "bob")));
      assert.equal(sessions.length, 2);
    } finally {
      a.close();
      b.close();
      close(server, sessions);
    }
  });

  it("a command that made a request exits by itself: an idle session does not keep the process alive", async () => {
    const { server, port, sessions } = await h2Server((path, stream) => ok(stream, { path }));
    const script = join(dir, "cli.mjs");
    writeFileSync(join(dir, "ca.pem"), tls.ca);
    writeFileSync(script, `
      import * as k8s from "@kubernetes/client-node";
      import { KubeClient } from ${JSON.stringify(new URL("./client.ts", import.meta.url).pathname)};
      const kc = new k8s.KubeConfig();
      kc.loadFromOptions({ clusters: [{ name: "c", server: "https://127.0.0.1:${port}", caFile: ${JSON.stringify(join(dir, "ca.pem"))} }], users: [{ name: "u", token: "t" }], contexts: [{ name: "x", cluster: "c", user: "u" }], currentContext: "x" });
      const client = KubeClient.fromKubeConfig(kc);
      console.log(JSON.stringify(await client.request("GET", "/cli")));
    `);
    try {
      const child = spawn(process.execPath, [script], { env: { ...process.env, CHAKRATOR_KUBE_HTTP2: "1" }, cwd: new URL("../../..", import.meta.url).pathname, stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      child.stdout.on("data", (c: Buffer) => (out += c.toString()));
      const code = await new Promise<number | "still running">((resolve) => {
        const timer = setTimeout(() => { child.kill("SIGKILL"); resolve("still running"); }, 10_000);
        child.on("exit", (c) => { clearTimeout(timer); resolve(c ?? -1); });
      });
      assert.equal(code, 0);
      assert.deepEqual(JSON.parse(out), { path: "/cli" });
      assert.equal(sessions.length, 1, "it went over HTTP/2");
    } finally {
      close(server, sessions);
    }
  });
});
