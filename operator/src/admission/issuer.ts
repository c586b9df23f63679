/**
 * The certificate issuer process (see issuer-process.ts): answers one
 * `{ t: "issue", request }` with `{ t: "issued", cert, key }` or `{ t: "failed", message }`,
 * then the parent disconnects and it exits. node-forge is loaded here, never in the
 * operator. Heartbeat, `ready` and exit on disconnect are child/guard.ts's.
 */
import { guardChild, sendToParent } from "../child/guard.ts";
import type { IssueRequest } from "./issuer-process.ts";
import { issueCa, issueServing } from "./x509.ts";

guardChild<{ t: "issue"; request: IssueRequest }>((msg) => {
  const r = msg.request;
  (r.t === "ca" ? issueCa(r.validityMs) : issueServing(r.ca, r.hosts, r.validityMs)).then(
    (issued) => sendToParent({ t: "issued", cert: issued.cert, key: issued.key }),
    (err: unknown) => sendToParent({ t: "failed", message: err instanceof Error ? err.message : String(err) }),
  );
});
