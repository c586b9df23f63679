/**
 * Admission webhooks from the reconciler's `validate` and `mutate` exports: the
 * public surface of admission/. See admission.ts.
 */
export { AdmissionGate } from "./gate.ts";
export { Admission, ADMISSION_DEFAULTS, admissionLimitAnnotation, failurePolicyAnnotation, timeoutSecondsAnnotation, validateDeleteAnnotation, type AdmissionDeps, type AdmissionOptions } from "./admission.ts";
export { tlsSecretName } from "./certificates.ts";
export type { AdmissionMethod, AdmissionOutcome, ReviewRequest, ReviewResponse } from "./review.ts";
export { configurationName } from "./webhooks.ts";
export { admissionMetrics } from "./metrics.ts";
