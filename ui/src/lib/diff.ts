/**
 * A line diff for the revision, conflict and dry-run views. Common prefix and suffix
 * are trimmed, then the middle is aligned by a longest-common-subsequence table, which
 * is exact and fast for reconciler-sized files. Beyond `MAX_CELLS` the middle is shown
 * as removed-then-added rather than freezing the page.
 */

/** One line of a diff: kept, added (only in `b`), or removed (only in `a`). */
export interface DiffLine {
  op: "same" | "add" | "del";
  text: string;
  /** 1-based line number in `a` (for same/del). */
  a?: number;
  /** 1-based line number in `b` (for same/add). */
  b?: number;
}

const MAX_CELLS = 4_000_000;

/** Splits into lines without a trailing empty line for a final newline. */
export function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** The line diff turning `a` into `b`. */
export function diffLines(a: string, b: string): DiffLine[] {
  const x = splitLines(a);
  const y = splitLines(b);
  let pre = 0;
  while (pre < x.length && pre < y.length && x[pre] === y[pre]) pre++;
  let suf = 0;
  while (suf < x.length - pre && suf < y.length - pre && x[x.length - 1 - suf] === y[y.length - 1 - suf]) suf++;
  const out: DiffLine[] = [];
  for (let i = 0; i < pre; i++) out.push({ op: "same", text: x[i] ?? "", a: i + 1, b: i + 1 });
  const xs = x.slice(pre, x.length - suf);
  const ys = y.slice(pre, y.length - suf);
  out.push(...middle(xs, ys, pre, pre));
  for (let k = suf; k > 0; k--) {
    const i = x.length - k;
    const j = y.length - k;
    out.push({ op: "same", text: x[i] ?? "", a: i + 1, b: j + 1 });
  }
  return out;
}

function middle(xs: string[], ys: string[], offA: number, offB: number): DiffLine[] {
  const n = xs.length;
  const m = ys.length;
  const out: DiffLine[] = [];
  if (n * m > MAX_CELLS) {
    xs.forEach((text, i) => out.push({ op: "del", text, a: offA + i + 1 }));
    ys.forEach((text, j) => out.push({ op: "add", text, b: offB + j + 1 }));
    return out;
  }
  // lcs[i][j] = LCS length of xs[i..] and ys[j..], flattened.
  const w = m + 1;
  const lcs = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * w + j] = xs[i] === ys[j] ? (lcs[(i + 1) * w + j + 1] ?? 0) + 1 : Math.max(lcs[(i + 1) * w + j] ?? 0, lcs[i * w + j + 1] ?? 0);
    }
  }
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && xs[i] === ys[j]) {
      out.push({ op: "same", text: xs[i] ?? "", a: offA + i + 1, b: offB + j + 1 });
      i++;
      j++;
    } else if (i < n && (j >= m || (lcs[(i + 1) * w + j] ?? 0) >= (lcs[i * w + j + 1] ?? 0))) {
      out.push({ op: "del", text: xs[i] ?? "", a: offA + i + 1 });
      i++;
    } else {
      out.push({ op: "add", text: ys[j] ?? "", b: offB + j + 1 });
      j++;
    }
  }
  return out;
}

/** How many lines were added and removed. */
export function diffStats(lines: readonly DiffLine[]): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const l of lines) {
    if (l.op === "add") added++;
    else if (l.op === "del") removed++;
  }
  return { added, removed };
}

/** Diffs two sets of files by name (union of keys, sorted), skipping identical files. */
export function diffFiles(a: Record<string, string>, b: Record<string, string>): Array<{ file: string; lines: DiffLine[] }> {
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return names
    .filter((f) => a[f] !== b[f])
    .map((file) => ({ file, lines: diffLines(a[file] ?? "", b[file] ?? "") }));
}
