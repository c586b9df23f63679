/**
 * Test fixture for the server's integration tests: a real control plane, a fresh
 * namespace holding the seed reconciler (revision 1 accepted) and one MyResource
 * whose child exists, an Operator watching that namespace, and the server on a
 * loopback port. Helpers speak HTTP and WebSocket as a browser or script would.
 */
import { connect, type Socket } from "node:net";
import { WebSocket } from "ws";
import { eventually, installCrds, kubeConfig, sampleSource, testCluster, testNamespace, type ControlPlaneInfo } from "../../testenv/index.ts";
import { KubeClient, type KubeObject } from "../kube/client.ts";
import { Operator } from "../operator.ts";
import { LogBus } from "../telemetry/log.ts";
import { startServer, type RunningServer, type ServerDeps } from "./index.ts";
import type { StreamMessage } from "./protocol.ts";

export interface Fixture {
  info: ControlPlaneInfo;
  ns: string;
  admin: KubeClient;
  op: Operator;
  bus: LogBus;
  url: string;
  server: RunningServer;
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
    info, ns, admin, op, bus, url: server.url, server,
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

/** What a raw HTTP exchange saw: the response text, and whether the server closed the connection (false: we gave up waiting). */
export interface RawExchange {
  response: string;
  closedByServer: boolean;
}

/**
 * Speaks HTTP on a bare socket: sends `head` (request line and headers, without the
 * blank line) and `bodyStart`, the first bytes of a body that may announce much more,
 * then sends nothing else and waits until the server closes the connection (or
 * `timeoutMs` passes). A server that waited for the whole body would never answer.
 */
export function rawExchange(url: string, head: string, bodyStart: Buffer | string = "", timeoutMs = 10_000): Promise<RawExchange> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket: Socket = connect(Number(port), hostname);
    let response = "";
    let settled = false;
    const finish = (closedByServer: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ response, closedByServer });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on("data", (d) => { response += d.toString("latin1"); });
    socket.on("error", () => finish(true));
    socket.on("close", () => finish(true));
    socket.on("connect", () => {
      socket.write(`${head}\r\n\r\n`);
      socket.write(bodyStart);
    });
  });
}

/** A socket that sent one complete keep-alive request and got its answer (so the server counts it), kept open. */
export function idleConnection(url: string): Promise<Socket> {
  const { hostname, port, host } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    socket.once("error", reject);
    socket.once("close", () => reject(new Error("closed by the server")));
    socket.once("data", () => {
      socket.removeAllListeners("close");
      socket.removeAllListeners("error");
      socket.on("error", () => {});
      resolve(socket);
    });
    socket.on("connect", () => socket.write(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n\r\n`));
  });
}
