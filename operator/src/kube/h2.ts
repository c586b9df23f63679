/**
 * HTTP/2 for KubeClient's plain requests, opt-in (`CHAKRATOR_KUBE_HTTP2=1`; watches stay
 * on HTTP/1.1, each on its own connection). Measured trade (operator/bench/MEMORY.md):
 * the engine's exchange per new child costs this client 0.79x the CPU of HTTP/1.1
 * (transport.bench.ts) and the API server the same, with no rate difference seen in
 * throughput.bench.ts; but Node's HTTP/2 client holds ~100 MiB more native memory after
 * a burst of 30,000 requests (the V8 heap is unchanged: not a JavaScript leak), so the
 * operator with 10,000 resources is 331 MiB RSS against 231. Hence off by default.
 *
 * Guarantees:
 * - One TLS connection (session) per origin and TLS identity (CA, client certificate,
 *   verification): a session opened with one certificate never carries a request of
 *   another. Requests of one identity share it, many streams at once.
 * - The protocol is chosen by ALPN on our own TLS socket: a server (or proxy) that
 *   answers `http/1.1` makes `exchange` resolve `undefined`, remembered for that
 *   identity, and the caller sends the request over HTTP/1.1.
 * - A session that errs, closes or receives GOAWAY is never given a new request; the
 *   next request opens a new one. A stream the server refused unprocessed (REFUSED_STREAM,
 *   or sent after a GOAWAY) is sent once more on a new session; any other failure
 *   rejects, as a broken HTTP/1.1 socket does, and the caller's retry decides.
 * - `timeoutMs` without a byte of the response cancels the stream and rejects; the
 *   session is then probed with a PING and destroyed if it does not answer in 5 s, so
 *   a half-open connection does not swallow later requests.
 * - An aborted `signal` cancels the stream; the rejection's `name` is "AbortError".
 * - A session keeps this process alive only while a request is in flight (a CLI exits
 *   when its work is done); `close()` destroys every session.
 */
import { connect as h2connect, constants, type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import { isIP } from "node:net";
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from "node:tls";
import { tlsIdentity } from "./pool-agent.ts";

/** What a request needs to be sent. Header names must be lower case (HTTP/2). */
export interface H2Request {
  url: URL;
  method: string;
  headers: Record<string, string | string[]>;
  payload?: string | undefined;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

/** The TLS identity of a request: what a session is keyed by. */
export type H2Tls = Pick<ConnectionOptions, "ca" | "cert" | "key" | "pfx" | "passphrase" | "rejectUnauthorized" | "servername">;

const WINDOW = 16 * 2 ** 20;
const PROBE_MS = 5000;
/** Headers HTTP/2 forbids (RFC 9113 8.2.2); `host` is `:authority`. */
const CONNECTION_HEADERS = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host"]);

interface Session {
  session: ClientHttp2Session;
  inFlight: number;
  dead: boolean;
}

class Refused extends Error {}

export class H2Pool {
  readonly #sessions = new Map<string, Promise<Session | undefined>>();
  /** The open session of each key (set once connected, removed when dropped). */
  readonly #entries = new Map<string, Session>();
  readonly #http1 = new Set<string>();
  readonly #keys = new WeakMap<object, string>();

  /**
   * Sends one request over HTTP/2; resolves to its status and whole body, or to
   * `undefined` when the server does not speak HTTP/2 for this identity.
   */
  async exchange(tls: H2Tls, request: H2Request): Promise<{ status: number; text: string } | undefined> {
    const key = this.#key(tls, request.url);
    if (this.#http1.has(key)) return undefined;
    for (let attempt = 0; ; attempt++) {
      const entry = await this.#session(key, tls, request.url);
      if (entry === undefined) return undefined;
      try {
        return await send(entry, request, () => this.#probe(key, entry));
      } catch (err: unknown) {
        // Refused: nothing was processed. Again, on this session, or a new one if this one is closing.
        if (!(err instanceof Refused) || attempt > 0) throw err instanceof Refused ? new Error(err.message) : err;
      }
    }
  }

  /** Destroys every session; later requests open new ones. */
  close(): void {
    this.#entries.clear();
    for (const [key, pending] of this.#sessions) {
      this.#sessions.delete(key);
      // A session still connecting is destroyed once it is there.
      void pending.then((entry) => entry?.session.destroy(), () => {});
    }
  }

  #key(tls: H2Tls, url: URL): string {
    let identity = this.#keys.get(tls);
    if (identity === undefined) {
      identity = tlsIdentity(tls);
      this.#keys.set(tls, identity);
    }
    return `${url.origin} ${identity}`;
  }

  #session(key: string, tls: H2Tls, url: URL): Promise<Session | undefined> {
    let pending = this.#sessions.get(key);
    if (pending === undefined) {
      pending = this.#open(key, tls, url);
      this.#sessions.set(key, pending);
      // A failed connect is not cached: the next request tries again.
      pending.then((entry) => { if (entry === undefined) this.#sessions.delete(key); }, () => this.#sessions.delete(key));
    }
    return pending;
  }

  async #open(key: string, tls: H2Tls, url: URL): Promise<Session | undefined> {
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const options: ConnectionOptions = {
      ...tls, host, port: Number(url.port || 443), ALPNProtocols: ["h2", "http/1.1"],
      servername: tls.servername ?? (isIP(host) === 0 ? host : undefined),
    };
    if (options.servername === undefined) delete options.servername;
    const socket = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect(options);
      s.once("secureConnect", () => { s.removeListener("error", reject); resolve(s); });
      s.once("error", reject);
    });
    if (socket.alpnProtocol !== "h2") {
      socket.destroy();
      this.#http1.add(key);
      return undefined;
    }
    const session = h2connect(url.origin, { createConnection: () => socket, settings: { enablePush: false, initialWindowSize: WINDOW } });
    const entry: Session = { session, inFlight: 0, dead: false };
    this.#entries.set(key, entry);
    session.setLocalWindowSize(2 * WINDOW);
    session.unref();
    const drop = () => this.#drop(key, entry);
    session.on("error", drop);
    session.on("goaway", drop);
    session.on("close", drop);
    session.on("frameError", drop);
    return entry;
  }

  #drop(key: string, entry: Session): void {
    entry.dead = true;
    if (this.#entries.get(key) === entry) {
      this.#entries.delete(key);
      this.#sessions.delete(key);
    }
    // In-flight streams finish (GOAWAY) or fail on their own; an idle session goes now.
    if (entry.inFlight === 0) entry.session.close();
  }

  /** After a stream timed out: a session that does not answer a PING is destroyed. */
  #probe(key: string, entry: Session): void {
    if (entry.dead) return;
    const timer = setTimeout(() => { this.#drop(key, entry); entry.session.destroy(); }, PROBE_MS);
    timer.unref();
    try {
      entry.session.ping((err) => { if (err === null) clearTimeout(timer); });
    } catch {
      clearTimeout(timer);
      this.#drop(key, entry);
      entry.session.destroy();
    }
  }
}

function send(entry: Session, r: H2Request, onTimeout: () => void): Promise<{ status: number; text: string }> {
  if (entry.dead || entry.session.closed || entry.session.destroyed) return Promise.reject(new Refused("the session is closing"));
  if (r.signal?.aborted) return Promise.reject(Object.assign(new Error("the request was aborted"), { name: "AbortError" }));
  const headers: Record<string, string | string[]> = { ":method": r.method, ":path": r.url.pathname + r.url.search };
  for (const [name, value] of Object.entries(r.headers)) if (!CONNECTION_HEADERS.has(name.toLowerCase())) headers[name.toLowerCase()] = value;
  let stream: ClientHttp2Stream;
  try {
    stream = entry.session.request(headers, { endStream: r.payload === undefined });
  } catch (err: unknown) {
    // GOAWAY received or stream ids used up: nothing was sent.
    return Promise.reject(new Refused(err instanceof Error ? err.message : String(err)));
  }
  if (entry.inFlight++ === 0) entry.session.ref();
  return new Promise((resolve, reject) => {
    let status = 0;
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (err: Error | undefined) => {
      if (settled) return;
      settled = true;
      r.signal?.removeEventListener("abort", onAbort);
      if (err === undefined) resolve({ status, text: Buffer.concat(chunks).toString("utf8") });
      else reject(err);
    };
    const onAbort = () => {
      stream.close(constants.NGHTTP2_CANCEL);
      finish(Object.assign(new Error("the request was aborted"), { name: "AbortError" }));
    };
    r.signal?.addEventListener("abort", onAbort, { once: true });
    if (r.timeoutMs > 0) {
      stream.setTimeout(r.timeoutMs, () => {
        stream.close(constants.NGHTTP2_CANCEL);
        finish(new Error(`no response within ${r.timeoutMs} ms`));
        onTimeout();
      });
    }
    stream.on("response", (h) => { status = Number(h[":status"] ?? 0); });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => finish(status === 0 ? new Error("the stream ended without a response") : undefined));
    stream.on("error", (err: Error) => {
      finish(stream.rstCode === constants.NGHTTP2_REFUSED_STREAM && status === 0 ? new Refused(err.message) : err);
    });
    stream.on("close", () => {
      if (--entry.inFlight === 0 && !entry.session.destroyed) {
        if (entry.dead) entry.session.close();
        else entry.session.unref();
      }
      finish(status === 0 ? new Error(`the stream closed without a response (code ${stream.rstCode})`) : new Error("the response was cut off"));
    });
    if (r.payload !== undefined) stream.end(r.payload);
  });
}
