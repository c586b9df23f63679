/**
 * Admission metrics, declared on the operator's registry beside its own:
 *   chakrator_admission_requests_total{reconciler,method,outcome}
 *     outcome: allowed | denied | mutated | failed-denied | failed-allowed
 *   chakrator_admission_duration_seconds{reconciler,method}  (histogram, whole answer)
 * A removed reconciler's series go with the operator's (`OperatorMetrics.forgetReconciler`).
 */
import { Counter, Histogram } from "prom-client";
import type { Registry } from "../telemetry/metrics.ts";
import type { AdmissionOptions } from "./admission.ts";

/** Declares the series and returns the `onOutcome` hook that feeds them. */
export function admissionMetrics(registry: Registry): NonNullable<AdmissionOptions["onOutcome"]> {
  const registers = [registry];
  const requests = new Counter({ name: "chakrator_admission_requests_total", help: "Admission requests answered, by reconciler, method and outcome.", labelNames: ["reconciler", "method", "outcome"] as const, registers });
  const duration = new Histogram({ name: "chakrator_admission_duration_seconds", help: "Time to answer one admission request, sandbox call included.", labelNames: ["reconciler", "method"] as const, registers });
  return (reconciler, method, outcome, seconds) => {
    requests.inc({ reconciler, method, outcome });
    duration.observe({ reconciler, method }, seconds);
  };
}
