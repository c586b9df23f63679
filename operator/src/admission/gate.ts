/**
 * Hands accepted revisions to admission, also those accepted before admission started:
 * the operator accepts the revisions in the cluster while it starts, and admission
 * needs the started operator's parts (sandbox, compiler, caches). Until `attach`, the
 * gate keeps the newest revision per reconciler; `attach` activates them in order.
 */
import type { AcceptedRevision } from "../reconcilers/loader.ts";
import type { Admission } from "./admission.ts";

export class AdmissionGate {
  #admission: Admission | undefined;
  readonly #waiting = new Map<string, AcceptedRevision>();

  async accepted(rev: AcceptedRevision): Promise<void> {
    if (this.#admission) await this.#admission.activate(rev);
    else this.#waiting.set(rev.reconciler, rev);
  }

  async removed(reconciler: string): Promise<void> {
    if (this.#admission) await this.#admission.remove(reconciler);
    else this.#waiting.delete(reconciler);
  }

  async attach(admission: Admission): Promise<void> {
    this.#admission = admission;
    for (const rev of [...this.#waiting.values()]) await admission.activate(rev);
    this.#waiting.clear();
  }
}
