/**
 * The certificate issuer process (see issuer-process.ts): answers one
 * `{ t: "issue", request }` with `{ t: "issued", cert, key }` or `{ t: "failed", message }`,
 * then the parent disconnects and it exits. node-forge is loaded here, never in the
 * operator. Heartbeat, `ready` and exit on disconnect are child/guard.ts's.
 */
import { guardChild, sendToParent } from "../child/guard.ts";
import type { IssuerReply, IssueRequest } from "./issuer-process.ts";
import { issueCa, issueServing } from "./x509.ts";

async function issue(r: IssueRequest): Promise<IssuerReply> {
  if (r.t === "ca") return { t: "issued", ...(await issueCa(r.validityMs)) };
  if (r.t === "serving") return { t: "issued", ...(await issueServing(r.ca, r.hosts, r.validityMs)) };
  const ca = await issueCa(r.caValidityMs);
  const serving = await issueServing(ca, r.hosts, r.validityMs);
  return { t: "issued", cert: serving.cert, key: serving.key, ca: { cert: ca.cert, key: ca.key } };
}

guardChild<{ t: "issue"; request: IssueRequest }>((msg) => {
  issue(msg.request).then(
    (reply) => sendToParent(reply),
    (err: unknown) => sendToParent({ t: "failed", message: err instanceof Error ? err.message : String(err) }),
  );
});
