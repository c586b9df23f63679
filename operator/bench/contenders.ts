/**
 * What throughput.bench.ts and memory.bench.ts share: the contenders as separate
 * processes (Chakrator as the image runs it, `node operator/src/main.ts`; the
 * controller-runtime peer, crpeer.ts), the API server audit log that counts every
 * contender's writes the same way, and RSS of a whole process tree.
 *
 * Write counts come from the audit log, not from the contenders' own counters, so
 * each side is counted by the same neutral party: every create/update/patch of a
 * ConfigMap or a MyResource, by namespace (each contender has its own), at stage
 * ResponseComplete. A ConfigMap `patch` is a server-side apply (all contenders apply
 * children that way); a `myresources/status` patch is the status write.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sampleSource } from "../testenv/index.ts";
import type { KubeClient } from "../src/kube/client.ts";
import { killOnExit, scrape } from "./crpeer.ts";
import { buildTree, OPERATOR_ENTRIES } from "../src/child/js-entry.ts";
import { procStat } from "../src/child/supervised.ts";

/** kube-apiserver flags that write the audit log of our writes to `<dir>/audit.log`. */
export function auditArgs(dir: string): { args: string[]; log: string } {
  const policy = join(dir, "audit-policy.yaml");
  writeFileSync(policy, [
    "apiVersion: audit.k8s.io/v1",
    "kind: Policy",
    "omitStages: [RequestReceived, ResponseStarted]",
    "rules:",
    "  - level: Metadata",
    "    verbs: [create, update, patch, delete, deletecollection]",
    "    resources:",
    "      - group: \"\"",
    "        resources: [configmaps]",
    "      - group: example.com",
    "        resources: [myresources, myresources/status]",
    "  - level: None",
    "",
  ].join("\n"));
  const log = join(dir, "audit.log");
  return { log, args: [`--audit-policy-file=${policy}`, `--audit-log-path=${log}`, "--audit-log-format=json", "--audit-log-maxsize=0", "--audit-log-mode=blocking"] };
}

export interface WriteCounts {
  /** Server-side applies of ConfigMaps (children). */
  applies: number;
  /** Patches of myresources/status. */
  statusPatches: number;
  /** Other writes by the contender: ConfigMap creates/updates (revisions, the baseline's children), MyResource patches. */
  other: number;
  /** Writes the API server refused (409 and the like), included in the above. */
  failed: number;
}

/**
 * Writes per namespace from the audit log, leaving out the benchmark's own writes: the
 * creates of MyResources and of the reconciler ConfigMap, and the cleanup deletes.
 * The blocking backend has written an event before the API server answers, so the
 * log is complete for every write that has been answered.
 */
export function writeCounts(auditLog: string): Map<string, WriteCounts> {
  const out = new Map<string, WriteCounts>();
  const text = readFileSync(auditLog, "utf8"); // rotation is off (--audit-log-maxsize=0)
  for (const line of text.split("\n")) {
    if (!line) continue;
    const e = JSON.parse(line) as { stage: string; verb: string; objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string }; responseStatus?: { code?: number } };
    if (e.stage !== "ResponseComplete" || !e.objectRef?.namespace) continue;
    const { resource, subresource, namespace, name } = e.objectRef;
    if (e.verb === "create" && resource === "myresources") continue; // the benchmark's
    if (e.verb === "create" && resource === "configmaps" && name === "message") continue; // the reconciler source
    if (e.verb === "delete" || e.verb === "deletecollection") continue; // the benchmark's cleanup
    const c = out.get(namespace) ?? { applies: 0, statusPatches: 0, other: 0, failed: 0 };
    if (e.verb === "patch" && resource === "configmaps") c.applies++;
    else if (e.verb === "patch" && resource === "myresources" && subresource === "status") c.statusPatches++;
    else c.other++;
    if ((e.responseStatus?.code ?? 200) >= 300) c.failed++;
    out.set(namespace, c);
  }
  return out;
}

export function formatCounts(c: WriteCounts | undefined): string {
  if (!c) return "no writes";
  return `${c.applies} applies, ${c.statusPatches} status patches, ${c.other} other writes${c.failed ? `, ${c.failed} refused` : ""}`;
}

/** Resident set size (MiB) of `pid` and all its descendants, from /proc. */
export function treeRss(pid: number): { total: number; byPid: Array<{ pid: number; name: string; mib: number }> } {
  const byPid: Array<{ pid: number; name: string; mib: number }> = [];
  const visit = (p: number) => {
    let status: string;
    try {
      status = readFileSync(`/proc/${p}/status`, "utf8");
    } catch {
      return;
    }
    byPid.push({ pid: p, name: /Name:\s+(\S+)/.exec(status)?.[1] ?? "?", mib: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024 });
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch { /* gone */ }
    for (const t of tasks) {
      let kids = "";
      try {
        kids = readFileSync(`/proc/${p}/task/${t}/children`, "utf8");
      } catch { /* gone */ }
      for (const k of kids.trim().split(/\s+/).filter(Boolean)) visit(Number(k));
    }
  };
  visit(pid);
  return { total: byPid.reduce((a, p) => a + p.mib, 0), byPid };
}

/**
 * What a process tree costs a pod, from /proc/<pid>/smaps: every process's anonymous
 * memory, plus resident file pages counted once per file (the Node binary and its
 * libraries are mapped by every Node process, and RSS counts them in each; the pod's
 * memory cgroup is charged once for a page cache page). A file's resident size is taken
 * as the largest among the processes that map it (a lower bound of the union, which is
 * near it: the processes run the same binary). MiB.
 */
export function treeFootprint(pid: number): { rss: number; anon: number; files: number; total: number; byPid: Array<{ pid: number; anon: number }> } {
  const fileMax = new Map<string, number>();
  const byPid: Array<{ pid: number; anon: number }> = [];
  let rss = 0;
  for (const p of treeRss(pid).byPid) {
    rss += p.mib;
    let smaps: string;
    try {
      smaps = readFileSync(`/proc/${p.pid}/smaps`, "utf8");
    } catch {
      continue;
    }
    let anonKb = 0;
    let file = "";
    const perFile = new Map<string, number>();
    let rssKb = 0;
    for (const line of smaps.split("\n")) {
      const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
      if (header) {
        file = header[1] !== "0" ? header[2]! : "";
        continue;
      }
      if (line.startsWith("Rss:")) rssKb = Number(line.slice(4).trim().split(" ")[0]);
      else if (line.startsWith("Anonymous:")) {
        const a = Number(line.slice(10).trim().split(" ")[0]);
        anonKb += a;
        // Pages of a file mapping that were written to are anonymous (copy-on-write).
        if (file) perFile.set(file, (perFile.get(file) ?? 0) + rssKb - a);
      }
    }
    for (const [f, kb] of perFile) fileMax.set(f, Math.max(fileMax.get(f) ?? 0, kb));
    byPid.push({ pid: p.pid, anon: anonKb / 1024 });
  }
  const anon = byPid.reduce((a, p) => a + p.anon, 0);
  const files = [...fileMax.values()].reduce((a, kb) => a + kb, 0) / 1024;
  return { rss, anon, files, total: anon + files, byPid };
}

/** The pids of a process tree, root first. */
export function treePids(pid: number): number[] {
  return treeRss(pid).byPid.map((p) => p.pid);
}

/**
 * CPU time (user + system) a process has used so far, in ms, from /proc/<pid>/stat
 * (clock ticks of 10 ms); 0 if it is gone.
 */
export function processCpuMs(pid: number): number {
  return procStat(`/proc/${pid}/stat`)?.cpuMs ?? 0;
}

/** What a child of Chakrator's operator is, by its command line: "compiler", "sandbox host", or the command line itself. */
export function childRole(pid: number): string {
  const c = cmdline(pid);
  return /compile/.test(c) ? "compiler" : /host|sandbox/.test(c) ? "sandbox host" : /issuer/.test(c) ? "certificate issuer" : /^sh -c /.test(c) ? "reaper" : c;
}

/** The command line of a process (for naming the sandbox host and the compiler). */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).map((a) => a.split("/").at(-1)).join(" ");
  } catch {
    return "?";
  }
}

/** The image's NODE_OPTIONS (Containerfile), unless CHAKRATOR_NODE_OPTIONS says otherwise. */
export function imageNodeOptions(): string {
  if (process.env.CHAKRATOR_NODE_OPTIONS !== undefined) return process.env.CHAKRATOR_NODE_OPTIONS;
  const file = readFileSync(join(import.meta.dirname, "..", "..", "Containerfile"), "utf8");
  return /NODE_OPTIONS="([^"]*)"/.exec(file)?.[1] ?? "";
}

/** samples/01-message without `finalize`, so all contenders make the same writes (no finalizer). */
export function messageSource(): Record<string, string> {
  const files = sampleSource("01-message");
  files["reconciler.ts"] = files["reconciler.ts"]!.replace(/  finalize\(res, ctx\) \{[\s\S]*?\n  \},\n/, "");
  if (files["reconciler.ts"]!.includes("finalize(")) throw new Error("could not strip finalize from the sample");
  return files;
}

/** Creates the reconciler ConfigMap `message` in `namespace`. */
export async function installReconciler(client: KubeClient, namespace: string): Promise<void> {
  await client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "message", namespace, labels: { "chakrator.dev/reconciler": "true" } }, data: messageSource() });
}

export interface ChakratorProcess {
  process: ChildProcess;
  metric(name: string): Promise<number>;
  /** Resolves once the reconciler's revision is active. */
  active(): Promise<void>;
  stop(): Promise<void>;
}

let tree: string | undefined;

/**
 * The operator's JavaScript built ahead of time, as the image builds it
 * (child/js-entry.ts), once per bench process, under node_modules (so that dynamic
 * imports of packages resolve, as under /app in the image); removed at exit.
 */
export function imageTree(): string {
  if (tree === undefined) {
    const dir = join(import.meta.dirname, "..", "..", "node_modules", `.chakrator-js-bench-${process.pid}`);
    buildTree(dir, [...OPERATOR_ENTRIES]);
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    tree = dir;
  }
  return tree;
}

/**
 * Starts the operator for reconcilers in `namespace` as the image runs it: the
 * ahead-of-time JavaScript (`imageTree`, CHAKRATOR_JS_DIR for the sandbox host and the
 * compiler) with NODE_OPTIONS from the Containerfile, except for impersonation
 * (CHAKRATOR_IMPERSONATE=false, see below).
 */
export function startChakrator(o: { kubeconfig: string; namespace: string; port: number; workers: number; env?: Record<string, string> }): ChakratorProcess {
  // CHAKRATOR_BENCH_MAIN: another checkout's main.ts, to compare before and after a change.
  const main = process.env.CHAKRATOR_BENCH_MAIN ?? join(imageTree(), "operator", "src", "main.mjs");
  const child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      ...(process.env.CHAKRATOR_BENCH_MAIN ? {} : { CHAKRATOR_JS_DIR: imageTree() }),
      NODE_OPTIONS: imageNodeOptions(),
      KUBECONFIG: o.kubeconfig,
      CHAKRATOR_NAMESPACE: o.namespace,
      CHAKRATOR_LISTEN: `127.0.0.1:${o.port}`,
      CHAKRATOR_LOG_LEVEL: "warn",
      CHAKRATOR_WORKERS: String(o.workers),
      // Reconcile with the operator's own (admin) credentials, as the peer does; with
      // impersonation every request would also carry Impersonate-User and cost the API
      // server an extra authorization check, and each namespace's ServiceAccount would
      // need a grant.
      CHAKRATOR_IMPERSONATE: "false",
      ...o.env,
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  killOnExit(child);
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const metric = (name: string) => scrape(`http://127.0.0.1:${o.port}/metrics`, name);
  return {
    process: child,
    metric,
    active: async () => {
      while ((await metric("chakrator_active_revision")) < 1) {
        if (child.exitCode !== null) throw new Error(`chakrator exited (${child.exitCode}) before its revision became active`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Removes a namespace's MyResources and ConfigMaps (there is no namespace controller), so later runs see a control plane of the same size. */
export async function clearNamespace(client: KubeClient, namespace: string): Promise<void> {
  // Best effort, and slow for 10,000 objects on a busy machine: a failure only leaves objects behind.
  for (const path of [`/apis/example.com/v1/namespaces/${namespace}/myresources`, `/api/v1/namespaces/${namespace}/configmaps`]) {
    await client.request("DELETE", path, { timeoutMs: 300_000 }).catch((err: unknown) => console.error(`cleanup of ${path} failed: ${String(err)}`));
  }
}
