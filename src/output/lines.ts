// Splits a byte stream into lines. Works on bytes, not strings, so output that
// is not UTF-8 passes through unchanged; a long line is gathered from its
// pieces without quadratic concatenation, and a very long one is never joined
// at all: its pieces go to the sinks as they are (output.ts).

const NEWLINE = 0x0a;

/**
 * A complete line: its bytes, or — for a line longer than the splitter joins —
 * its pieces in order, never copied into one buffer (a 200 MB minified bundle
 * on one line is held once, not once per copy).
 */
export type Line = Uint8Array | Uint8Array[];

export class LineSplitter {
  private pending: Uint8Array[] = [];
  private pendingSize = 0;

  /** joinUpTo: a longer line is handed out as its pieces (pushPieces, endPieces). */
  constructor(private readonly joinUpTo = Infinity) {}

  /** The complete lines in chunk (without their "\n"), in order, each in one buffer. */
  push(chunk: Uint8Array): Uint8Array[] {
    return this.pushPieces(chunk).map(whole);
  }

  /** The last line if it had no newline. */
  end(): Uint8Array | null {
    const last = this.endPieces();
    return last === null ? null : whole(last);
  }

  /** As push, but a line longer than joinUpTo comes as its pieces. */
  pushPieces(chunk: Uint8Array): Line[] {
    const lines: Line[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      const piece = chunk.subarray(start, nl);
      if (this.pending.length > 0) {
        this.keep(piece);
        lines.push(this.take());
      } else {
        lines.push(piece);
      }
      start = nl + 1;
    }
    // A tail that is most of the chunk is kept as a view of it; a short one is
    // copied, so as not to hold the whole chunk for a few bytes.
    const rest = chunk.length - start;
    if (rest > 0) this.keep(rest > chunk.length / 2 ? chunk.subarray(start) : chunk.slice(start));
    return lines;
  }

  endPieces(): Line | null {
    return this.pending.length === 0 ? null : this.take();
  }

  private keep(piece: Uint8Array): void {
    this.pending.push(piece);
    this.pendingSize += piece.length;
  }

  private take(): Line {
    const line = this.pendingSize <= this.joinUpTo ? concat(this.pending) : this.pending;
    this.pending = [];
    this.pendingSize = 0;
    return line;
  }
}

/** A line in one buffer. */
export function whole(line: Line): Uint8Array {
  return Array.isArray(line) ? concat(line) : line;
}

/** A line's length in bytes. */
export function lineLength(line: Line): number {
  if (!Array.isArray(line)) return line.length;
  let n = 0;
  for (const p of line) n += p.length;
  return n;
}

/**
 * Lines (and output batches) up to this size are joined into one buffer: cheap
 * to copy, one write. Longer ones stay in pieces.
 */
export const JOIN_UP_TO = 1 << 20;

/**
 * Reads a child process's output stream into complete lines, handed to
 * onLines as they arrive (a last line without a newline too, at the end): the
 * one way the output of a task or a post-unpack command becomes lines.
 * cancel() stops reading (a stream a background process keeps open) and
 * hands over what has arrived of an unfinished line.
 */
export function pumpLines(
  stream: ReadableStream<Uint8Array>,
  onLines: (lines: Line[]) => void,
  onError: (e: unknown) => void,
): { done: Promise<void>; cancel(): void } {
  const reader = stream.getReader();
  const splitter = new LineSplitter(JOIN_UP_TO);
  let cancelled = false;
  const done = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || cancelled) break;
        onLines(splitter.pushPieces(value));
      }
    } catch (e) {
      onError(e);
    }
    const last = splitter.endPieces();
    if (last && !cancelled) onLines([last]);
  })();
  return {
    done,
    cancel() {
      cancelled = true;
      const last = splitter.endPieces();
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
