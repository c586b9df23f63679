/**
 * Issues one certificate in a short-lived child process (issuer.ts), so node-forge's
 * 8 MiB stay out of the operator: a process does not give back what a loaded library
 * took (a worker thread was tried: the operator kept 114 MiB against 94-101,
 * operator/bench/MEMORY.md). Issuance happens at the first start without the Secret (the
 * CA and the serving certificate from one process) and at rotation, months apart; each
 * costs a process start (~0.3 s).
 *
 * Rejects with the child's own message when issuance fails, and with why the child
 * ended when it dies or does not answer within `timeoutMs`.
 */
import { jsEntry } from "../child/js-entry.ts";
import { SupervisedChild } from "../child/supervised.ts";
import type { Issued } from "./x509.ts";

export type IssueRequest =
  | { t: "ca"; validityMs: number }
  | { t: "serving"; ca: Issued; hosts: string[]; validityMs: number }
  /** A new CA and a serving certificate it signs, in one process start (a first start's). */
  | { t: "ca+serving"; caValidityMs: number; hosts: string[]; validityMs: number };

/** `ca` answers a `ca+serving` request (`cert`/`key` are then the serving certificate's). */
export type IssuerReply = { t: "issued"; cert: string; key: string; ca?: Issued } | { t: "failed"; message: string };

/** Clock skew allowance: issued certificates are valid from one hour back. */
export const BACKDATE_MS = 3600_000;

const ISSUER = new URL("./issuer.ts", import.meta.url).pathname;

export async function issueInChild(request: Exclude<IssueRequest, { t: "ca+serving" }>, timeoutMs = 60_000): Promise<Issued> {
  const reply = await askIssuer(request, timeoutMs);
  return { cert: reply.cert, key: reply.key };
}

/** A new CA and a serving certificate for `hosts` signed by it, from one issuer process. */
export async function issueCaAndServingInChild(o: { caValidityMs: number; hosts: string[]; validityMs: number }, timeoutMs = 60_000): Promise<{ ca: Issued; serving: Issued }> {
  const reply = await askIssuer({ t: "ca+serving", ...o }, timeoutMs);
  if (reply.ca === undefined) throw new Error("the certificate issuer answered without the CA");
  return { ca: reply.ca, serving: { cert: reply.cert, key: reply.key } };
}

async function askIssuer(request: IssueRequest, timeoutMs: number): Promise<Extract<IssuerReply, { t: "issued" }>> {
  let settle: (reply: IssuerReply | Error) => void = () => {};
  const answer = new Promise<IssuerReply | Error>((resolve) => (settle = resolve));
  const child = new SupervisedChild<{ t: "issue"; request: IssueRequest }, IssuerReply>({
    modulePath: jsEntry(ISSUER),
    execArgv: ["--disable-warning=ExperimentalWarning"],
    startTimeoutMs: timeoutMs,
    onMessage: (reply) => settle(reply),
    onExit: (reason) => settle(new Error(`the certificate issuer process ended before it answered (${reason.kind === "exited" ? `code ${reason.code}, signal ${reason.signal}` : reason.kind})`)),
  });
  const timer = setTimeout(() => settle(new Error(`the certificate issuer process did not answer within ${timeoutMs} ms`)), timeoutMs);
  try {
    await child.ready;
    child.send({ t: "issue", request });
    const reply = await answer;
    if (reply instanceof Error) throw reply;
    if (reply.t === "failed") throw new Error(`issuing a certificate failed: ${reply.message}`);
    return reply;
  } finally {
    clearTimeout(timer);
    await child.stop(1000);
  }
}
