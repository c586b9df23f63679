// The operator as an SRE runs it: real `node operator/src/main.ts` processes on the
// real control plane. Leader election (one reconciler at a time, takeover after kill -9
// and after SIGTERM), /metrics parsed by a real Prometheus parser, /healthz and /readyz,
// JSON log lines, and graceful shutdown during a slow reconcile.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { eventually, freePort, grantNamespace, installCrds, kubeConfig, testCluster, testNamespace, type ControlPlaneInfo } from "../testenv/index.ts";
import WebSocket from "ws";
import { KubeClient, type KubeObject } from "./kube/client.ts";

interface Family { name: string; type: string; metrics: Array<{ value?: string; labels?: Record<string, string> }> }
const parseMetrics = createRequire(import.meta.url)("parse-prometheus-text-format") as (text: string) => Family[];

interface Proc {
  child: ChildProcess;
  url: string;
  lines: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

const mr = { apiVersion: "example.com/v1", kind: "MyResource" } as const;

/** A reconciler that marks the start and end of each call in the log, 60 ms apart. */
const markedSource = (extra = "") => ({
  "reconciler.ts": `import type { Reconciler, Resource } from "chakrator";
interface R extends Resource { spec: { message: string } }
export default {
  for: { apiVersion: "example.com/v1", kind: "MyResource" },
  owns: [{ apiVersion: "v1", kind: "ConfigMap" }],
  reconcile(res: R, ctx) {
    ctx.log.info("begin");
    const end = ctx.now() + ${extra ? 2000 : 60};
    while (ctx.now() < end) {}
    ctx.log.info("end");
    return {
      children: [
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: res.metadata.name + "-a" }, data: { m: res.spec.message } },
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: res.metadata.name + "-b" }, data: { m: res.spec.message } },
      ],
      status: { message: res.spec.message },
    };
  },
} satisfies Reconciler<R>;
// ${extra}
`,
});

describe("operator process life cycle", () => {
  let info: ControlPlaneInfo;
  let client: KubeClient;
  let ns: string;
  const procs: Proc[] = [];

  async function startProcess(): Promise<Proc> {
    const port = await freePort();
    const child = spawn(process.execPath, [join(import.meta.dirname, "main.ts")], {
      env: {
        ...process.env,
        KUBECONFIG: info.kubeconfig,
        CHAKRATOR_NAMESPACE: ns,
        CHAKRATOR_LISTEN: `127.0.0.1:${port}`,
        CHAKRATOR_LEADER_ELECTION: "true",
        CHAKRATOR_LEASE_NAMESPACE: ns,
        CHAKRATOR_LOG_LEVEL: "info",
        CHAKRATOR_SHUTDOWN_GRACE_MS: "10000",
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const proc: Proc = {
      child,
      url: `http://127.0.0.1:${port}`,
      lines: [],
      exited: new Promise((r) => child.on("exit", (code) => r(code))),
    };
    let buf = "";
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split("\n");
      buf = parts.pop() ?? "";
      for (const l of parts) if (l.trim()) proc.lines.push(JSON.parse(l) as Record<string, unknown>);
    });
    procs.push(proc);
    await eventually(() => fetch(`${proc.url}/healthz`).then((r) => r.ok, () => false), 30_000, "healthz");
    return proc;
  }
  const leaderGauge = async (p: Proc) => {
    const text = await (await fetch(`${p.url}/metrics`)).text();
    return Number(parseMetrics(text).find((f) => f.name === "chakrator_leader")?.metrics[0]?.value);
  };
  const metric = async (p: Proc, name: string, labels: Record<string, string> = {}) => {
    const fam = parseMetrics(await (await fetch(`${p.url}/metrics`)).text()).find((f) => f.name === name);
    return (fam?.metrics ?? []).filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)).reduce((a, m) => a + Number(m.value), 0);
  };
  const statusOf = async (name: string) => (await client.get<KubeObject & { status?: { message?: string } }>(mr.apiVersion, mr.kind, name, ns))?.status?.message;
  const putSource = async (data: Record<string, string>) => {
    const cm = await client.get("v1", "ConfigMap", "marked", ns);
    if (cm) await client.replace({ ...cm, data });
    else await client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "marked", namespace: ns, labels: { "chakrator.dev/reconciler": "true" } }, data });
  };

  before(async () => {
    info = await testCluster();
    await installCrds(info);
    ns = await testNamespace(info, "lifecycle");
    // The operator binary impersonates each reconciler's ServiceAccount (here: default).
    await grantNamespace(info, ns);
    client = KubeClient.fromKubeConfig(kubeConfig(info));
    await putSource(markedSource());
  });
  after(async () => {
    for (const p of procs) p.child.kill("SIGKILL");
    client?.close();
  });

  let leader: Proc;
  let follower: Proc;

  it("elects exactly one leader among two processes, and only it reconciles", async () => {
    const [a, b] = [await startProcess(), await startProcess()];
    await eventually(async () => (await leaderGauge(a)) + (await leaderGauge(b)) === 1, 30_000, "one leader");
    [leader, follower] = (await leaderGauge(a)) === 1 ? [a, b] : [b, a];
    for (let i = 0; i < 5; i++) await client.create({ ...mr, metadata: { name: `m-${i}`, namespace: ns }, spec: { message: `one-${i}` } });
    await eventually(async () => (await statusOf("m-4")) === "one-4", 20_000, "reconciled");
    assert.ok(leader.lines.some((l) => l.message === "begin"), "the leader ran the reconciler");
    assert.ok(!follower.lines.some((l) => l.message === "begin"), "the follower did not");
    assert.equal(await metric(follower, "chakrator_reconciles_total"), 0);
    // Both serve the editor and are ready.
    assert.equal((await fetch(`${follower.url}/readyz`)).status, 200);
    assert.equal((await fetch(`${follower.url}/api/reconcilers`)).status, 200);
    // The follower's editor streams the leader's reconcile logs (relayed through the Lease's editor URL).
    const ws = new WebSocket(`${follower.url.replace("http", "ws")}/api/logs?replay=0`);
    const relayed: Array<{ message?: string; resource?: string }> = [];
    ws.on("message", (d) => { const m = JSON.parse(String(d)) as { type: string; record?: { message?: string; resource?: string } }; if (m.type === "log" && m.record) relayed.push(m.record); });
    await new Promise((r) => ws.once("open", r));
    await eventually(async () => {
      await client.patch(mr.apiVersion, mr.kind, "m-1", ns, { spec: { message: `relay-${Date.now()}` } });
      await new Promise((r) => setTimeout(r, 500));
      return relayed.some((r) => r.message === "begin" && r.resource === `MyResource ${ns}/m-1`);
    }, 20_000, "the leader's log line on the follower's stream");
    ws.close();
    // Log lines are JSON objects with the editor stream's fields.
    const line = leader.lines.find((l) => l.message === "begin")!;
    assert.deepEqual(Object.keys(line).filter((k) => ["time", "level", "message", "reconciler", "revision", "resource", "source"].includes(k)).sort(), ["level", "message", "reconciler", "resource", "revision", "source", "time"]);
  });

  it("exposes Prometheus metrics whose counters move with reconciles and rejections", async () => {
    const reconciler = `${ns}/marked`;
    const families = parseMetrics(await (await fetch(`${leader.url}/metrics`)).text());
    for (const name of ["chakrator_reconciles_total", "chakrator_reconcile_duration_seconds", "chakrator_queue_depth", "chakrator_active_revision", "chakrator_revisions_rejected_total", "chakrator_leader", "process_resident_memory_bytes"]) {
      assert.ok(families.some((f) => f.name === name), `${name} exported`);
    }
    const before = await metric(leader, "chakrator_reconciles_total", { reconciler });
    await client.patch(mr.apiVersion, mr.kind, "m-0", ns, { spec: { message: "moved" } });
    await eventually(async () => (await metric(leader, "chakrator_reconciles_total", { reconciler })) > before, 15_000, "reconciles_total moved");
    const rejected = await metric(leader, "chakrator_revisions_rejected_total", { reconciler });
    await putSource({ "reconciler.ts": "export default { for: " });
    await eventually(async () => (await metric(leader, "chakrator_revisions_rejected_total", { reconciler })) === rejected + 1, 15_000, "rejected_total moved");
    await putSource(markedSource("restored"));
    await eventually(async () => (await metric(leader, "chakrator_active_revision", { reconciler })) >= 2, 15_000, "new revision active");
  });

  it("fails over after kill -9 of the leader within the lease duration, and never runs one object in two processes at once", async () => {
    const killedAt = Date.now();
    leader.child.kill("SIGKILL");
    await eventually(async () => (await leaderGauge(follower)) === 1, 30_000, "follower leads");
    const takeover = Date.now() - killedAt;
    console.log(`# takeover after kill -9: ${takeover} ms (lease 15 s)`);
    assert.ok(takeover < 15_000 + 2 * 2_000 + 3_000, `took ${takeover} ms`);
    await client.create({ ...mr, metadata: { name: "after-kill", namespace: ns }, spec: { message: "converged" } });
    await eventually(async () => (await statusOf("after-kill")) === "converged", 20_000, "new leader converges");
    // Single writer: per object, [begin, end] intervals of different processes never overlap.
    const spans: Array<{ proc: number; resource: string; from: number; to: number }> = [];
    procs.forEach((p, i) => {
      const open = new Map<string, number>();
      for (const l of p.lines) {
        if (l.message === "begin") open.set(String(l.resource), Date.parse(String(l.time)));
        if (l.message === "end" && open.has(String(l.resource))) spans.push({ proc: i, resource: String(l.resource), from: open.get(String(l.resource))!, to: Date.parse(String(l.time)) });
      }
    });
    assert.ok(spans.length > 5);
    for (const s of spans) {
      for (const t of spans) {
        if (s.proc !== t.proc && s.resource === t.resource) assert.ok(s.to < t.from || t.to < s.from, `${s.resource} ran in two processes at once`);
      }
    }
  });

  it("on SIGTERM finishes the in-flight slow reconcile, hands over at once, exits 0, nothing half-applied", async () => {
    const standby = await startProcess();
    await eventually(async () => (await leaderGauge(standby)) === 0, 10_000, "standby follows");
    leader = follower;
    await putSource(markedSource("slow"));
    await eventually(async () => leader.lines.some((l) => typeof l.message === "string" && /revision \d+ .*accepted/.test(l.message) && String(l.message).length > 0), 15_000, "slow revision");
    await new Promise((r) => setTimeout(r, 500));
    const begins = leader.lines.filter((l) => l.message === "begin").length;
    await client.create({ ...mr, metadata: { name: "slow", namespace: ns }, spec: { message: "slow-done" } });
    await eventually(() => leader.lines.filter((l) => l.message === "begin").length > begins, 15_000, "slow reconcile started");
    const termAt = Date.now();
    leader.child.kill("SIGTERM");
    assert.equal(await leader.exited, 0, "exit code");
    const a = await client.get<KubeObject & { data?: Record<string, string> }>("v1", "ConfigMap", "slow-a", ns);
    const b = await client.get<KubeObject & { data?: Record<string, string> }>("v1", "ConfigMap", "slow-b", ns);
    const status = await statusOf("slow");
    // Either the whole result was applied before exit, or (never) a part: both children and the status agree.
    assert.equal(a?.data?.m, "slow-done");
    assert.equal(b?.data?.m, "slow-done");
    assert.equal(status, "slow-done");
    await eventually(async () => (await leaderGauge(standby)) === 1, 10_000, "standby leads");
    const handover = Date.now() - termAt;
    console.log(`# handover after SIGTERM (including the 2 s in-flight reconcile): ${handover} ms`);
    assert.ok(handover < 10_000, `took ${handover} ms`);
  });
});
