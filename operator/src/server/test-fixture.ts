/**
 * Test fixture for the server's integration tests: a real control plane, a fresh
 * namespace holding the seed reconciler (revision 1 accepted) and one MyResource
 * whose child exists, an Operator watching that namespace, and the server on a
 * loopback port. Helpers speak HTTP and WebSocket as a browser or script would.
 */
import { WebSocket } from "ws";
import { eventually, installCrds, kubeConfig, sampleSource, testCluster, testNamespace, type ControlPlaneInfo } from "../../testenv/index.ts";
import { KubeClient, type KubeObject } from "../kube/client.ts";
import { Operator } from "../operator.ts";
import { LogBus } from "../telemetry/log.ts";
import { startServer, type ServerDeps } from "./index.ts";
import type { StreamMessage } from "./protocol.ts";

export interface Fixture {
  info: ControlPlaneInfo;
  ns: string;
  admin: KubeClient;
  op: Operator;
  bus: LogBus;
  url: string;
  stop(): Promise<void>;
}

/** Starts everything; see the module comment. */
export async function startFixture(prefix: string, deps: Omit<ServerDeps, "operator"> = { auth: "token" }): Promise<Fixture> {
  const info = await testCluster();
  await installCrds(info);
  const ns = await testNamespace(info, prefix);
  const admin = KubeClient.fromKubeConfig(kubeConfig(info));
  await admin.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "reconciler", namespace: ns, labels: { "chakrator.dev/reconciler": "true" } }, data: sampleSource("01-message") });
  const bus = new LogBus({ stdout: false });
  const op = await Operator.start({ kubeConfig: kubeConfig(info), namespace: ns, log: bus, sandbox: { timeoutMs: 2_000, poolSize: 2 } });
  await eventually(() => op.sources.state(`${ns}/reconciler`)?.active?.number === 1, 20_000, "revision 1");
  await admin.create({ apiVersion: "example.com/v1", kind: "MyResource", metadata: { name: "hello", namespace: ns }, spec: { message: "hello there" } });
  await eventually(() => admin.get("v1", "ConfigMap", "hello-message", ns), 20_000, "child ConfigMap");
  const server = await startServer({ operator: op, ...deps }, { host: "127.0.0.1", port: 0 });
  return {
    info, ns, admin, op, bus, url: server.url,
    async stop() {
      await server.close();
      await op.stop(2_000);
      admin.close();
    },
  };
}

/** A JSON request; `token` goes in Authorization, `cookie` in Cookie. */
export async function call(url: string, method: string, path: string, o: { body?: unknown; token?: string; cookie?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token !== undefined) headers["authorization"] = `Bearer ${o.token}`;
  if (o.cookie !== undefined) headers["cookie"] = o.cookie;
  if (o.body !== undefined && headers["content-type"] === undefined) headers["content-type"] = "application/json";
  const res = await fetch(url + path, { method, headers, ...(o.body !== undefined ? { body: typeof o.body === "string" ? o.body : JSON.stringify(o.body) } : {}) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body, headers: res.headers };
}

/** Opens the log stream; resolves with the socket and its received messages, or rejects with the refused upgrade's HTTP status. */
export function openStream(url: string, query: string, o: { token?: string; cookie?: string; origin?: string } = {}): Promise<{ ws: WebSocket; messages: StreamMessage[] }> {
  const headers: Record<string, string> = {};
  if (o.token !== undefined) headers["authorization"] = `Bearer ${o.token}`;
  if (o.cookie !== undefined) headers["cookie"] = o.cookie;
  const ws = new WebSocket(`${url.replace(/^http/, "ws")}/api/logs${query}`, { headers, ...(o.origin ? { origin: o.origin } : {}) });
  const messages: StreamMessage[] = [];
  ws.on("message", (data) => messages.push(JSON.parse(data.toString()) as StreamMessage));
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve({ ws, messages }));
    ws.once("unexpected-response", (_req, res) => {
      reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode }));
      ws.terminate();
    });
    ws.once("error", (err) => reject(err));
  });
}

/** The HTTP status of a refused upgrade (fails if the upgrade was accepted). */
export async function refusedStatus(url: string, query: string, o: { token?: string; cookie?: string; origin?: string } = {}): Promise<number> {
  try {
    const { ws } = await openStream(url, query, o);
    ws.close();
    return 101;
  } catch (err: unknown) {
    return (err as { status?: number }).status ?? 0;
  }
}

export type { KubeObject };
