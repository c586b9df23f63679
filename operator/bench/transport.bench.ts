/**
 * Transport: what KubeClient's requests cost over HTTP/1.1 (a keep-alive pool) against
 * HTTP/2 (one session, kube/h2.ts; what client-go uses) and against a floor, the same
 * requests by bare `node:https` (a keep-alive agent, no client around it), on a private
 * control plane, in the same run, rounds alternating. Each "resource" is the engine's exchange for a new
 * child: a GET of the missing child (404), a server-side apply of it, and a merge patch
 * of its parent's status stand-in (a second ConfigMap), 32 in flight. Prints, per
 * resource: this client's CPU, the API server's + etcd's CPU (from /proc), and the rate.
 * Usage:
 *   node operator/bench/transport.bench.ts [RESOURCES=1000] [ROUNDS=3]
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { ControlPlane } from "../testenv/controlplane.ts";
import { kubeConfig } from "../testenv/index.ts";
import { KubeClient } from "../src/kube/client.ts";
import { processCpuMs } from "./contenders.ts";

const N = Number(process.argv[2] ?? 1000);
const ROUNDS = Number(process.argv[3] ?? 3);
const C = 32;

const cp = await ControlPlane.start();
try {
  const serverCpu = () => processCpuMs(cp.info.apiserverPid) + processCpuMs(cp.info.etcdPid);
  const clientFor = (http2: boolean) => {
    if (http2) process.env.CHAKRATOR_KUBE_HTTP2 = "1";
    const client = KubeClient.fromKubeConfig(kubeConfig(cp.info));
    delete process.env.CHAKRATOR_KUBE_HTTP2;
    return client;
  };
  const figures: Record<string, { client: number[]; server: number[]; rate: number[] }> = {};
  type Mode = "HTTP/1.1" | "HTTP/2" | "node:https";
  /** The floor: one request by bare node:https, the body read whole and parsed. */
  const agent = new Agent({ keepAlive: true, maxSockets: 64, ca: readFileSync(cp.info.caFile, "utf8") });
  const bare = (method: string, path: string, body?: unknown, contentType?: string) => new Promise<number>((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { authorization: `Bearer ${cp.info.adminToken}`, accept: "application/json" };
    if (payload !== undefined) Object.assign(headers, { "content-type": contentType!, "content-length": String(Buffer.byteLength(payload)) });
    const { hostname, port } = new URL(cp.info.server);
    const req = request({ hostname, port, path, method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      // Parsed, as any client must.
      res.on("end", () => { JSON.parse(Buffer.concat(chunks).toString("utf8")); resolve(res.statusCode ?? 0); });
    });
    req.on("error", reject);
    req.end(payload);
  });
  const run = async (name: Mode, round: number) => {
    const client = clientFor(name === "HTTP/2");
    const ns = `transport-${name === "HTTP/2" ? "h2" : name === "HTTP/1.1" ? "h1" : "bare"}-${round}`;
    await client.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    await client.get("v1", "ConfigMap", "warm-up", ns);
    const one = name === "node:https"
      ? async (childName: string, i: number) => {
        const path = `/api/v1/namespaces/${ns}/configmaps/${childName}`;
        await bare("GET", path);
        await bare("PATCH", `${path}?fieldManager=chakrator`, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: childName, namespace: ns, labels: { "example.com/owner": "bench" } }, data: { message: `hello ${i}` } }, "application/apply-patch+yaml");
        await bare("PATCH", path, { metadata: { annotations: { "example.com/observed": String(i) } } }, "application/merge-patch+json");
      }
      : async (childName: string, i: number) => {
        await client.get("v1", "ConfigMap", childName, ns);
        await client.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: childName, namespace: ns, labels: { "example.com/owner": "bench" } }, data: { message: `hello ${i}` } }, { fieldManager: "chakrator" });
        await client.patch("v1", "ConfigMap", childName, ns, { metadata: { annotations: { "example.com/observed": String(i) } } });
      };
    let started = 0;
    const cpu0 = process.cpuUsage();
    const s0 = serverCpu();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: C }, async () => {
      for (let i = started++; i < N; i = started++) await one(`child-${i}`, i);
    }));
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const f = (figures[name] ??= { client: [], server: [], rate: [] });
    f.client.push((cpu.user + cpu.system) / 1000 / N);
    f.server.push((serverCpu() - s0) / N);
    f.rate.push(N / (ms / 1000));
    console.log(`${name.padEnd(10)} round ${round + 1}: client CPU ${f.client.at(-1)!.toFixed(2)} ms per resource, API server + etcd ${f.server.at(-1)!.toFixed(2)} ms | ${f.rate.at(-1)!.toFixed(0)} resources/s (3 requests each)`);
    await client.delete("v1", "Namespace", ns, undefined);
    client.close();
  };
  const modes: Mode[] = ["HTTP/1.1", "HTTP/2", "node:https"];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first, so none always meets a warmer server.
    for (const mode of round % 2 === 0 ? modes : [...modes].reverse()) await run(mode, round);
  }
  agent.destroy();
  const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
  const range = (xs: number[]) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
  console.log(`--- over ${ROUNDS} rounds (mean, range)`);
  for (const [name, f] of Object.entries(figures)) {
    console.log(`${name.padEnd(10)} client CPU ${mean(f.client).toFixed(2)} ms (${range(f.client)}) | API server + etcd ${mean(f.server).toFixed(2)} ms (${range(f.server)}) | ${mean(f.rate).toFixed(0)} resources/s`);
  }
  const h1 = figures["HTTP/1.1"]!;
  const h2 = figures["HTTP/2"]!;
  const floor = figures["node:https"]!;
  console.log(`ratio      KubeClient HTTP/1.1 / bare node:https: client CPU ${(mean(h1.client) / mean(floor.client)).toFixed(2)}x`);
  console.log(`ratio      HTTP/2 / HTTP/1.1: client CPU ${(mean(h2.client) / mean(h1.client)).toFixed(2)}x, API server + etcd CPU ${(mean(h2.server) / mean(h1.server)).toFixed(2)}x, rate ${(mean(h2.rate) / mean(h1.rate)).toFixed(2)}x`);
} finally {
  await cp.stop();
}
