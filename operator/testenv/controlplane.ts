/**
 * A real Kubernetes control plane (etcd + kube-apiserver) on loopback, for tests and
 * for `npm run control-plane`, in the spirit of controller-runtime's envtest.
 *
 * Guarantees:
 * - Everything lives in one temporary folder (data, certificates, keys, tokens,
 *   kubeconfig, logs) that `stop()` removes.
 * - Processes never outlive us: `stop()` ends them, exit and signal hooks end them
 *   when the test runner is interrupted, and a detached reaper watching a pipe from
 *   this process ends them (and removes the folder) even after a `kill -9` of us.
 * - A failure to start is one `ControlPlaneError` whose message says what happened
 *   (with the tail of the failing process's log) and what to do; never a hang.
 *
 * There is no controller manager: no garbage collector, no namespace controller.
 * Tests check owner references rather than waiting for cascading deletion.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinaries, type ControlPlaneBinaries } from "./binaries.ts";

/** Starting or talking to the control plane failed; the message says what to do. */
export class ControlPlaneError extends Error {
  override name = "ControlPlaneError";
  /** The temporary folder of the failed attempt (removed by the time you see this). */
  dir?: string;
}

/** Connection facts for a running control plane; safe to pass to child processes. */
export interface ControlPlaneInfo {
  /** `https://127.0.0.1:<port>` */
  server: string;
  /** Kubeconfig whose current context is the admin (system:masters). */
  kubeconfig: string;
  /** Kubeconfig for the unprivileged user `chakrator-test-user` (no RBAC grants). */
  userKubeconfig: string;
  adminToken: string;
  /** Bearer token of `chakrator-test-user` (authenticated, nothing authorized). */
  userToken: string;
  /** PEM bundle that verifies the API server's serving certificate. */
  caFile: string;
  dir: string;
  etcdPid: number;
  apiserverPid: number;
}

export interface StartOptions {
  log?: (line: string) => void;
  /** Extra kube-apiserver flags, e.g. to shorten timeouts in a test. */
  apiserverArgs?: string[];
  readyTimeoutMs?: number;
  /** Fixed ports instead of free ones (then a taken port is an error, not a retry). */
  ports?: { etcdClient: number; etcdPeer: number; apiserver: number };
}

/** Asks the kernel for a free loopback port. Another process may still take it first; start() retries. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

function tail(file: string, lines = 8): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-lines).join("\n    ");
  } catch {
    return "(no log)";
  }
}

/** One running etcd + kube-apiserver. Use `ControlPlane.start()`. */
export class ControlPlane {
  readonly info: ControlPlaneInfo;
  readonly binaries: ControlPlaneBinaries;
  #procs: ChildProcess[];
  #reaper: ChildProcess;
  #stopped = false;
  #onExit: () => void;
  #restartApiserver: (() => Promise<void>) | undefined;

  private constructor(info: ControlPlaneInfo, binaries: ControlPlaneBinaries, procs: ChildProcess[], reaper: ChildProcess) {
    this.info = info;
    this.binaries = binaries;
    this.#procs = procs;
    this.#reaper = reaper;
    this.#onExit = () => this.#killNow();
    process.once("exit", this.#onExit);
  }

  /** Builds or finds the binaries, starts both servers and waits for `/readyz`. */
  static async start(options: StartOptions = {}): Promise<ControlPlane> {
    const log = options.log ?? ((l: string) => console.error(l));
    const binaries = await ensureBinaries(log);
    let lastError: unknown;
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        return await ControlPlane.#startOnce(binaries, options);
      } catch (err: unknown) {
        lastError = err;
        if (!(err instanceof PortInUseError)) throw err;
        if (options.ports) {
          const e = new ControlPlaneError(`${err.message}: choose other ports or stop what listens there`);
          if (err.dir) e.dir = err.dir;
          throw e;
        }
        log(`testenv: ${err.message}; retrying with other ports (${attempt}/3)`);
      }
    }
    throw new ControlPlaneError(`could not find free loopback ports after 3 tries (${String(lastError)}); free some ports or stop other control planes`);
  }

  static async #startOnce(binaries: ControlPlaneBinaries, options: StartOptions): Promise<ControlPlane> {
    const dir = mkdtempSync(join(tmpdir(), "chakrator-testenv-"));
    const procs: ChildProcess[] = [];
    const reaper = spawn(process.execPath, [join(import.meta.dirname, "reaper.ts"), dir], {
      detached: true,
      stdio: ["pipe", "ignore", "ignore"],
    });
    reaper.unref();
    (reaper.stdin as unknown as { unref(): void }).unref();
    const tellReaper = (pid: number | undefined) => { if (pid) reaper.stdin?.write(`${pid}\n`); };
    const cleanup = () => {
      for (const p of procs) p.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      reaper.stdin?.end();
    };
    try {
      const clientPort = options.ports?.etcdClient ?? await freePort();
      const peerPort = options.ports?.etcdPeer ?? await freePort();
      const securePort = options.ports?.apiserver ?? await freePort();
      const etcdLog = join(dir, "etcd.log");
      const etcd = startLogged(binaries.etcd, [
        `--data-dir=${join(dir, "etcd")}`,
        `--listen-client-urls=http://127.0.0.1:${clientPort}`,
        `--advertise-client-urls=http://127.0.0.1:${clientPort}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
        "--unsafe-no-fsync=true",
        "--log-level=warn",
      ], etcdLog);
      procs.push(etcd);
      tellReaper(etcd.pid);

      const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      writeFileSync(join(dir, "sa.key"), privateKey.export({ type: "pkcs1", format: "pem" }));
      writeFileSync(join(dir, "sa.pub"), publicKey.export({ type: "spki", format: "pem" }));
      const adminToken = randomBytes(24).toString("hex");
      const userToken = randomBytes(24).toString("hex");
      writeFileSync(join(dir, "tokens.csv"),
        `${adminToken},chakrator-test-admin,admin-uid,"system:masters"\n${userToken},chakrator-test-user,user-uid,"chakrator-test-users"\n`,
        { mode: 0o600 });

      const apiLog = join(dir, "kube-apiserver.log");
      const apiArgs = [
        "--advertise-address=127.0.0.1",
        "--bind-address=127.0.0.1",
        `--secure-port=${securePort}`,
        `--cert-dir=${join(dir, "certs")}`,
        `--etcd-servers=http://127.0.0.1:${clientPort}`,
        "--service-cluster-ip-range=10.0.0.0/24",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${join(dir, "sa.pub")}`,
        `--service-account-signing-key-file=${join(dir, "sa.key")}`,
        `--token-auth-file=${join(dir, "tokens.csv")}`,
        "--authorization-mode=RBAC",
        "--allow-privileged=true",
        "--v=0",
        ...(options.apiserverArgs ?? []),
      ];
      const apiserver = startLogged(binaries.kubeApiserver, apiArgs, apiLog);
      procs.push(apiserver);
      tellReaper(apiserver.pid);

      const server = `https://127.0.0.1:${securePort}`;
      const caFile = join(dir, "certs", "apiserver.crt");
      await waitReady({ server, caFile, adminToken, etcd, etcdLog, apiserver, apiLog, timeoutMs: options.readyTimeoutMs ?? 90_000 });

      const kubeconfig = join(dir, "kubeconfig");
      const userKubeconfig = join(dir, "kubeconfig-user");
      const ca = readFileSync(caFile).toString("base64");
      writeFileSync(kubeconfig, renderKubeconfig(server, ca, "chakrator-test-admin", adminToken), { mode: 0o600 });
      writeFileSync(userKubeconfig, renderKubeconfig(server, ca, "chakrator-test-user", userToken), { mode: 0o600 });
      const info: ControlPlaneInfo = {
        server, kubeconfig, userKubeconfig, adminToken, userToken, caFile, dir,
        etcdPid: etcd.pid ?? 0, apiserverPid: apiserver.pid ?? 0,
      };
      const cp = new ControlPlane(info, binaries, procs, reaper);
      cp.#restartApiserver = async () => {
        const old = procs[1]!;
        await stopProcess(old);
        const next = startLogged(binaries.kubeApiserver, apiArgs, apiLog);
        procs[1] = next;
        tellReaper(next.pid);
        cp.info.apiserverPid = next.pid ?? 0;
        await waitReady({ server, caFile, adminToken, etcd, etcdLog, apiserver: next, apiLog, timeoutMs: options.readyTimeoutMs ?? 90_000 });
      };
      return cp;
    } catch (err: unknown) {
      cleanup();
      if (err instanceof ControlPlaneError) err.dir = dir;
      throw err;
    }
  }

  /**
   * Stops kube-apiserver and starts it again on the same port and etcd (data kept), as
   * an API server upgrade or crash would look to clients: every watch breaks.
   */
  async restartApiserver(): Promise<void> {
    await this.#restartApiserver?.();
  }

  /** Stops both servers (SIGTERM, then SIGKILL after 5 s) and removes the folder. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    process.removeListener("exit", this.#onExit);
    await Promise.all([...this.#procs].reverse().map((p) => stopProcess(p)));
    rmSync(this.info.dir, { recursive: true, force: true });
    this.#reaper.stdin?.end("clean\n");
  }

  #killNow(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const p of this.#procs) p.kill("SIGKILL");
    rmSync(this.info.dir, { recursive: true, force: true });
  }
}

class PortInUseError extends ControlPlaneError {
  override name = "PortInUseError";
}

function startLogged(bin: string, args: string[], logFile: string): ChildProcess {
  const fd = openSync(logFile, "a");
  const child = spawn(bin, args, { stdio: ["ignore", fd, fd] });
  closeSync(fd);
  // Our handles must not keep the event loop alive: the owner decides when to stop,
  // and exit hooks plus the reaper end the processes if it never does.
  child.unref();
  return child;
}

function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  // Hold the event loop open until the exit is seen (the handle is unref'd otherwise).
  p.ref();
  return new Promise((resolve) => {
    const kill = setTimeout(() => p.kill("SIGKILL"), 5_000);
    p.once("exit", () => { clearTimeout(kill); resolve(); });
    p.kill("SIGTERM");
  });
}

interface ReadyWait {
  server: string;
  caFile: string;
  adminToken: string;
  etcd: ChildProcess;
  etcdLog: string;
  apiserver: ChildProcess;
  apiLog: string;
  timeoutMs: number;
}

async function waitReady(w: ReadyWait): Promise<void> {
  const deadline = Date.now() + w.timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    for (const [name, proc, file] of [["etcd", w.etcd, w.etcdLog], ["kube-apiserver", w.apiserver, w.apiLog]] as const) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        const log = tail(file);
        const inUse = /address already in use[^\n]*/i.exec(log);
        if (inUse) throw new PortInUseError(`${name} could not listen: ${inUse[0].slice(0, 160)}`);
        throw new ControlPlaneError(`${name} exited during start-up (${proc.signalCode ?? `exit ${proc.exitCode}`}); its log ends:\n    ${log}`);
      }
    }
    if (existsSync(w.caFile)) {
      last = await probeReadyz(w.server, w.caFile, w.adminToken).catch((e: unknown) => String(e));
      if (last === "ok") return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new ControlPlaneError(`kube-apiserver was not ready after ${w.timeoutMs / 1000} s (last /readyz: ${last.slice(0, 200)}); its log ends:\n    ${tail(w.apiLog)}`);
}

function probeReadyz(server: string, caFile: string, token: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${server}/readyz`, { ca: readFileSync(caFile), headers: { authorization: `Bearer ${token}` }, timeout: 5_000 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => { body += d.toString(); });
      res.on("end", () => resolve(res.statusCode === 200 ? "ok" : `${res.statusCode}: ${body}`));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

function renderKubeconfig(server: string, caBase64: string, user: string, token: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: chakrator-testenv",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${caBase64}`,
    "users:",
    `- name: ${user}`,
    "  user:",
    `    token: ${token}`,
    "contexts:",
    "- name: chakrator-testenv",
    "  context:",
    "    cluster: chakrator-testenv",
    `    user: ${user}`,
    "    namespace: default",
    "current-context: chakrator-testenv",
    "",
  ].join("\n");
}
