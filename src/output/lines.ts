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

/**
 * Reads a child process's output stream into complete lines, handed to
 * onLines as they arrive (a last line without a newline too, at the end): the
 * one way the output of a task or a post-unpack command becomes lines.
 * cancel() stops reading (a stream a background process keeps open) and
 * hands over what has arrived of an unfinished line.
 */
export function pumpLines(
  stream: ReadableStream<Uint8Array>,
  onLines: (lines: Uint8Array[]) => void,
  onError: (e: unknown) => void,
): { done: Promise<void>; cancel(): void } {
  const reader = stream.getReader();
  const splitter = new LineSplitter();
  let cancelled = false;
  const done = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || cancelled) break;
        onLines(splitter.push(value));
      }
    } catch (e) {
      onError(e);
    }
    const last = splitter.end();
    if (last && !cancelled) onLines([last]);
  })();
  return {
    done,
    cancel() {
      cancelled = true;
      const last = splitter.end();
      if (last) onLines([last]);
      reader.cancel().catch(onError);
    },
  };
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
