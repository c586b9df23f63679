/**
 * Transport: what one API request costs the client's CPU over HTTP/1.1 with a keep-alive
 * pool (what KubeClient uses) against one HTTP/2 session (what client-go, and so
 * controller-runtime, uses), on a private control plane, in the same run. Each request
 * is a GET of a missing ConfigMap (a 404: the smallest exchange), 32 in flight. Usage:
 *   node operator/bench/transport.bench.ts [REQUESTS=3000] [ROUNDS=2]
 */
import { readFileSync } from "node:fs";
import { connect } from "node:http2";
import { Agent, request } from "node:https";
import { parse } from "yaml";
import { ControlPlane } from "../testenv/controlplane.ts";

const N = Number(process.argv[2] ?? 3000);
const ROUNDS = Number(process.argv[3] ?? 2);
const C = 32;

interface KubeConfigFile {
  clusters: Array<{ cluster: { server: string; "certificate-authority-data"?: string; "certificate-authority"?: string } }>;
  users: Array<{ user: { token?: string; "client-certificate-data"?: string; "client-key-data"?: string; "client-certificate"?: string; "client-key"?: string } }>;
}

const cp = await ControlPlane.start();
try {
  const kc = parse(readFileSync(cp.info.kubeconfig, "utf8")) as KubeConfigFile;
  const cluster = kc.clusters[0]!.cluster;
  const user = kc.users[0]!.user;
  const server = new URL(cluster.server);
  const pem = (data: string | undefined, file: string | undefined) => (data ? Buffer.from(data, "base64") : file ? readFileSync(file) : undefined);
  const tls = { ca: pem(cluster["certificate-authority-data"], cluster["certificate-authority"]), cert: pem(user["client-certificate-data"], user["client-certificate"]), key: pem(user["client-key-data"], user["client-key"]) };
  const headers = { accept: "application/json", ...(user.token ? { authorization: `Bearer ${user.token}` } : {}) };
  const path = "/api/v1/namespaces/default/configmaps/missing";

  const agent = new Agent({ keepAlive: true, maxSockets: 64, ...tls });
  const viaHttp1 = () => new Promise<void>((resolve, reject) => {
    const req = request({ hostname: server.hostname, port: server.port, path, method: "GET", agent, headers }, (res) => {
      res.on("data", () => {});
      res.on("end", () => resolve());
    });
    req.on("error", reject);
    req.end();
  });
  const session = connect(server.origin, tls);
  const viaHttp2 = () => new Promise<void>((resolve, reject) => {
    const req = session.request({ ":path": path, ":method": "GET", ...headers });
    req.on("data", () => {});
    req.on("end", () => resolve());
    req.on("error", reject);
    req.end();
  });
  const run = async (name: string, one: () => Promise<void>) => {
    let started = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: C }, async () => {
      while (started++ < N) await one();
    }));
    const cpu = process.cpuUsage(cpu0);
    console.log(`${name.padEnd(10)} client CPU ${((cpu.user + cpu.system) / N).toFixed(0).padStart(4)} µs per request | ${((N / (performance.now() - t0)) * 1000).toFixed(0)} requests/s`);
  };
  for (let round = 0; round < ROUNDS; round++) {
    await run("HTTP/1.1", viaHttp1);
    await run("HTTP/2", viaHttp2);
  }
  session.close();
  agent.destroy();
} finally {
  await cp.stop();
}
