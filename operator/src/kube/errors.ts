/** The API client's one error type, and how a failed response becomes one. */

/** An API request failed. `status` is 0 when no HTTP response arrived. */
export class KubeApiError extends Error {
  override name = "KubeApiError";
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
    this.reason = reason;
  }
}

/** True for errors worth retrying: network failures, 429, 5xx. */
export function isTransient(err: unknown): boolean {
  return err instanceof KubeApiError && (err.status === 0 || err.status === 429 || err.status >= 500);
}

/** The `KubeApiError` of a non-2xx response, from its `Status` body when it has one. */
export function statusError(status: number, text: string, what: string): KubeApiError {
  let reason = "Unknown";
  let message = text.slice(0, 500) || `HTTP ${status}`;
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    if (s.reason) reason = s.reason;
    if (s.message) message = s.message;
  } catch {
    // Not a Status object (e.g. a proxy's HTML page): keep the raw text.
  }
  return new KubeApiError(status, reason, `${what}: ${status} ${reason}: ${message}`);
}
