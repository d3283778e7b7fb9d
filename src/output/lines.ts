// Splits a byte stream into lines. Works on bytes, not strings, so output that
// is not UTF-8 passes through unchanged; a long line is gathered from its
// pieces once, without quadratic concatenation.

const NEWLINE = 0x0a;

export class LineSplitter {
  private pending: Uint8Array[] = [];

  /** The complete lines in chunk (without their "\n"), in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    const lines: Uint8Array[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      const piece = chunk.subarray(start, nl);
      if (this.pending.length > 0) {
        this.pending.push(piece);
        lines.push(concat(this.pending));
        this.pending = [];
      } else {
        lines.push(piece);
      }
      start = nl + 1;
    }
    if (start < chunk.length) this.pending.push(chunk.slice(start));
    return lines;
  }

  /** The last line if it had no newline. */
  end(): Uint8Array | null {
    if (this.pending.length === 0) return null;
    const last = concat(this.pending);
    this.pending = [];
    return last;
  }
}

export function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
