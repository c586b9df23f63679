/**
 * The webhook's HTTPS server: `POST /validate/<namespace>/<name>` and
 * `POST /mutate/<namespace>/<name>` take an admission.k8s.io/v1 AdmissionReview and
 * answer one. Every replica runs it; the certificate can be swapped while it runs
 * (`setCertificate`), and connections already open keep theirs.
 *
 * It is plain node:http2 (with HTTP/1.1 allowed), not the editor's Koa app: the API
 * server is its only client, the protocol is one JSON body in and one out, and keeping
 * it apart means a slow or busy editor never delays an admission answer. HTTP/2 because
 * the API server's webhook client speaks it: all concurrent calls share one connection,
 * where HTTP/1.1 would keep opening connections (and paying TLS handshakes) under load. Bodies over 8 MiB are refused (the
 * API server's own request limit is 3 MiB per object, two objects on UPDATE).
 */
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from "node:http2";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { AdmissionMethod, ReviewRequest, ReviewResponse } from "./review.ts";

const MAX_BODY = 8 * 1024 * 1024;

export type ReviewHandler = (method: AdmissionMethod, reconciler: string, request: ReviewRequest) => Promise<ReviewResponse>;

export interface WebhookServer {
  /** `https://host:port` as bound. */
  url: string;
  port: number;
  setCertificate(cert: string, key: string): void;
  close(): Promise<void>;
}

/** Starts the server on `listen` with the given certificate. */
export async function startWebhookServer(listen: { host: string; port: number }, tls: { cert: string; key: string }, handle: ReviewHandler): Promise<WebhookServer> {
  const handler = (req: Http2ServerRequest | IncomingMessage, res: Http2ServerResponse | ServerResponse) => {
    const reply = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      (res as ServerResponse).writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
      res.end(text);
    };
    const match = /^\/(validate|mutate)\/([a-z0-9][a-z0-9.-]*)\/([a-z0-9][a-z0-9.-]*)$/.exec((req.url ?? "").split("?")[0] ?? "");
    if (req.method !== "POST" || !match) return reply(404, { message: "not a webhook path: POST /validate/<namespace>/<name> or /mutate/<namespace>/<name>" });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reply(413, { message: "request body too large" });
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      let review: { apiVersion?: string; kind?: string; request?: ReviewRequest };
      try {
        review = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof review;
      } catch {
        return reply(400, { message: "the body is not JSON" });
      }
      if (review.kind !== "AdmissionReview" || !review.request || typeof review.request.uid !== "string") {
        return reply(400, { message: "expected an admission.k8s.io/v1 AdmissionReview with a request" });
      }
      handle(match[1] as AdmissionMethod, `${match[2]}/${match[3]}`, review.request).then(
        (response) => reply(200, { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response }),
        (err: unknown) => reply(200, {
          apiVersion: "admission.k8s.io/v1",
          kind: "AdmissionReview",
          response: { uid: review.request?.uid, allowed: false, status: { code: 500, message: `chakrator: ${err instanceof Error ? err.message : String(err)}` } },
        }),
      );
    });
  };
  const server: Http2SecureServer = createSecureServer({ cert: tls.cert, key: tls.key, allowHTTP1: true }, handler);
  // Open HTTP/2 sessions and HTTP/1.1 sockets, so that close() ends them.
  const sessions = new Set<ServerHttp2Session>();
  const sockets = new Set<Socket>();
  server.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  server.on("secureConnection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = listen.host.includes(":") ? `[${listen.host}]` : listen.host === "0.0.0.0" ? "127.0.0.1" : listen.host;
  return {
    url: `https://${host}:${port}`,
    port,
    setCertificate: (cert, key) => server.setSecureContext({ cert, key }),
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
    }),
  };
}
