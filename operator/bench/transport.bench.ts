/**
 * Transport: what KubeClient's requests cost over HTTP/1.1 (a keep-alive pool) against
 * HTTP/2 (one session, kube/h2.ts; what client-go uses), on a private control plane, in
 * the same run, rounds alternating. Each "resource" is the engine's exchange for a new
 * child: a GET of the missing child (404), a server-side apply of it, and a merge patch
 * of its parent's status stand-in (a second ConfigMap), 32 in flight. Prints, per
 * resource: this client's CPU, the API server's + etcd's CPU (from /proc), and the rate.
 * Usage:
 *   node operator/bench/transport.bench.ts [RESOURCES=1000] [ROUNDS=3]
 */
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
  const run = async (name: string, http2: boolean, round: number) => {
    const client = clientFor(http2);
    const ns = `transport-${http2 ? "h2" : "h1"}-${round}`;
    await client.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    await client.get("v1", "ConfigMap", "warm-up", ns);
    let started = 0;
    const cpu0 = process.cpuUsage();
    const s0 = serverCpu();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: C }, async () => {
      for (let i = started++; i < N; i = started++) {
        const name = `child-${i}`;
        await client.get("v1", "ConfigMap", name, ns);
        await client.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: ns, labels: { "example.com/owner": "bench" } }, data: { message: `hello ${i}` } }, { fieldManager: "chakrator" });
        await client.patch("v1", "ConfigMap", name, ns, { metadata: { annotations: { "example.com/observed": String(i) } } });
      }
    }));
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const f = (figures[name] ??= { client: [], server: [], rate: [] });
    f.client.push((cpu.user + cpu.system) / 1000 / N);
    f.server.push((serverCpu() - s0) / N);
    f.rate.push(N / (ms / 1000));
    console.log(`${name.padEnd(9)} round ${round + 1}: client CPU ${f.client.at(-1)!.toFixed(2)} ms per resource, API server + etcd ${f.server.at(-1)!.toFixed(2)} ms | ${f.rate.at(-1)!.toFixed(0)} resources/s (3 requests each)`);
    await client.delete("v1", "Namespace", ns, undefined);
    client.close();
  };
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first, so neither always meets a warmer server.
    for (const http2 of round % 2 === 0 ? [false, true] : [true, false]) await run(http2 ? "HTTP/2" : "HTTP/1.1", http2, round);
  }
  const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
  const range = (xs: number[]) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
  console.log(`--- over ${ROUNDS} rounds (mean, range)`);
  for (const [name, f] of Object.entries(figures)) {
    console.log(`${name.padEnd(9)} client CPU ${mean(f.client).toFixed(2)} ms (${range(f.client)}) | API server + etcd ${mean(f.server).toFixed(2)} ms (${range(f.server)}) | ${mean(f.rate).toFixed(0)} resources/s`);
  }
  const h1 = figures["HTTP/1.1"]!;
  const h2 = figures["HTTP/2"]!;
  console.log(`ratio     HTTP/2 / HTTP/1.1: client CPU ${(mean(h2.client) / mean(h1.client)).toFixed(2)}x, API server + etcd CPU ${(mean(h2.server) / mean(h1.server)).toFixed(2)}x, rate ${(mean(h2.rate) / mean(h1.rate)).toFixed(2)}x`);
} finally {
  await cp.stop();
}
