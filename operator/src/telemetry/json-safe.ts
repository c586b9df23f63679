/**
 * JSON-safe copies of whatever is logged: the log bus turns every field into one when it
 * is logged, so a record can always be serialised and holds no reference to a live
 * object, whatever the caller passed (cycles, BigInt, Errors, hostile getters).
 */
const MAX_DEPTH = 8;
const MAX_STRING = 16_384;
const MAX_ENTRIES = 200;

function truncate(text: string): string {
  return text.length <= MAX_STRING ? text : `${text.slice(0, MAX_STRING)}…[${text.length - MAX_STRING} more chars]`;
}

export function safeString(value: unknown): string {
  try {
    return truncate(String(value));
  } catch {
    return "[unprintable]";
  }
}

export function errorFields(error: unknown): unknown {
  return toJsonSafe(error, 0, new Set());
}

/**
 * A JSON-safe copy: cycles become "[Circular]", BigInt a decimal string, Errors
 * {name, message, stack, cause}, functions and symbols their description, Dates ISO,
 * Maps and Sets objects and arrays; deep, long or wide values are cut with a marker.
 * Getters that throw give "[Threw: ...]". Never throws.
 */
export function toJsonSafe(value: unknown, depth: number, seen: Set<object>): unknown {
  switch (typeof value) {
    case "string":
      return truncate(value);
    case "number":
      return Number.isFinite(value) ? value : String(value);
    case "boolean":
      return value;
    case "bigint":
      return value.toString();
    case "undefined":
      return undefined;
    case "symbol":
      return value.toString();
    case "function":
      return `[Function ${value.name || "anonymous"}]`;
  }
  if (value === null) return null;
  const object = value as object;
  if (seen.has(object)) return "[Circular]";
  if (depth >= MAX_DEPTH) return "[Too deep]";
  seen.add(object);
  try {
    if (object instanceof Date) return Number.isNaN(object.getTime()) ? "Invalid Date" : object.toISOString();
    if (object instanceof Error) {
      const out: Record<string, unknown> = { name: safeString(object.name), message: safeString(object.message) };
      if (object.stack !== undefined) out["stack"] = safeString(object.stack);
      if (object.cause !== undefined) out["cause"] = toJsonSafe(object.cause, depth + 1, seen);
      return out;
    }
    if (Array.isArray(object)) return safeArray(object, depth, seen);
    if (object instanceof Set) return safeArray([...object], depth, seen);
    if (object instanceof Map) return safeEntries([...object].map(([key, item]) => [safeString(key), item] as const), depth, seen);
    if (ArrayBuffer.isView(object)) return `[${object.constructor.name} ${object.byteLength} bytes]`;
    const toJSON = (object as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") return toJsonSafe(toJSON.call(object), depth + 1, seen);
    return safeEntries(
      Object.keys(object).map((key) => {
        try {
          return [key, (object as Record<string, unknown>)[key]] as const;
        } catch (error: unknown) {
          return [key, `[Threw: ${safeString(error)}]`] as const;
        }
      }),
      depth,
      seen,
    );
  } catch (error: unknown) {
    return `[Unserialisable: ${safeString(error)}]`;
  } finally {
    seen.delete(object);
  }
}

function safeArray(items: unknown[], depth: number, seen: Set<object>): unknown[] {
  const out = items.slice(0, MAX_ENTRIES).map((item) => {
    const safe = toJsonSafe(item, depth + 1, seen);
    return safe === undefined ? null : safe;
  });
  if (items.length > MAX_ENTRIES) out.push(`[${items.length - MAX_ENTRIES} more items]`);
  return out;
}

function safeEntries(entries: ReadonlyArray<readonly [string, unknown]>, depth: number, seen: Set<object>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, item] of entries.slice(0, MAX_ENTRIES)) {
    const safe = toJsonSafe(item, depth + 1, seen);
    // defineProperty, so a key named "__proto__" stays a plain key.
    if (safe !== undefined) Object.defineProperty(out, key, { value: safe, enumerable: true, writable: true, configurable: true });
  }
  if (entries.length > MAX_ENTRIES) out["…"] = `[${entries.length - MAX_ENTRIES} more keys]`;
  return out;
}
