/**
 * The wire protocol as the UI sees it: types only, re-exported from the server's
 * `protocol.ts` (the contract between the two). Nothing here exists at run time.
 */
export type * from "../../operator/src/server/protocol.ts";
