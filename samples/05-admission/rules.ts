// The rules of a Worker, shared by mutate, validate and reconcile.

export interface WorkerSpec {
  queue: string;
  replicas?: number;
  concurrency?: number;
}

export const DEFAULTS = { replicas: 1, concurrency: 4 } as const;

/** The spec with every optional field set. */
export function withDefaults(spec: WorkerSpec): Required<WorkerSpec> {
  return { ...DEFAULTS, ...spec };
}

/** Every problem with a spec, in words a person can act on. */
export function problems(spec: WorkerSpec): string[] {
  const found: string[] = [];
  if (!/^[a-z][a-z0-9-]{0,40}$/.test(spec.queue)) found.push(`spec.queue "${spec.queue}" must be lowercase letters, digits and dashes`);
  const replicas = spec.replicas ?? DEFAULTS.replicas;
  if (!Number.isInteger(replicas) || replicas < 0 || replicas > 10) found.push(`spec.replicas must be at most 10, got ${replicas}`);
  const concurrency = spec.concurrency ?? DEFAULTS.concurrency;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) found.push(`spec.concurrency must be 1 to 64, got ${concurrency}`);
  return found;
}
