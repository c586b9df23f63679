// A short, stable content hash (32-bit FNV-1a, hex) for pod template annotations.
// The sandbox has no `crypto` module: plain arithmetic is enough to notice a change.
export function contentHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}
