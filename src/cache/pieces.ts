// An archive's bytes on their way to the decoder, in memory used again.
//
// A file read stream returns every piece in a new buffer: restoring a
// monorepo (a 139 MB archive), faulting in those pages and collecting them
// again was about a fifth of the restore's CPU time (bench/README.md). Here
// each piece is read into a buffer from a pool of the stream's own, and the
// zstd decoder (zstd-frames.ts) gives a piece back with `recycle` once nothing
// it started still reads from it. A piece nobody gives back is collected as
// garbage, and one the stream machinery copied on the way is simply not in
// the pool: either costs only the reuse, never the data. An HTTP body, whose
// chunks are not ours to fill, is copied into pieces of the same kind.
import type { FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";

export const PIECE = 1 << 20;

/** Buffers of PIECE bytes, handed out by take and given back by recycle. */
export class PiecePool {
  private readonly free: Buffer[] = [];

  take(): Buffer {
    let whole = this.free.pop();
    if (!whole) {
      whole = Buffer.allocUnsafe(PIECE);
      slots.set(whole.buffer, { whole, free: this.free, out: false });
    }
    (slots.get(whole.buffer) as Slot).out = true;
    return whole;
  }
}

interface Slot {
  whole: Buffer;
  /** Its pool's. */
  free: Buffer[];
  /** Handed out, and not given back yet. */
  out: boolean;
}

const slots = new WeakMap<ArrayBufferLike, Slot>();

/** Gives a piece (or any part of one) back to its pool, if it came from one. The caller must not read it again. */
export function recycle(piece: Buffer): void {
  const slot = slots.get(piece.buffer);
  if (!slot?.out) return;
  slot.out = false;
  slot.free.push(slot.whole);
}

/**
 * An HTTP response body (fetch's) in pieces from a pool, like a file's
 * (readPieces). S3's arrive in 64 KB chunks, each a new buffer: passed on as
 * they come, each went through every stage of the stream on its own and most
 * frames had to be copied together out of fifteen of them; copied into 1 MB
 * pieces, a chunk is freed at once and its memory used again for the next
 * ones, rather than piling up (~2,000 for a 139 MB archive) until a
 * collection. Destroying the stream cancels the body (an abandoned download
 * closes its connection).
 */
export function httpPieces(body: ReadableStream<Uint8Array>): Readable {
  const reader = body.getReader();
  const pool = new PiecePool();
  /** The chunk being copied out, from `at`. */
  let chunk: Uint8Array | null = null;
  let at = 0;
  return new Readable({
    highWaterMark: PIECE,
    read() {
      fill().then(
        (piece) => this.push(piece),
        (e) => this.destroy(e),
      );
    },
    destroy(err, cb) {
      reader.cancel(err ?? undefined).catch(() => {});
      cb(err);
    },
  });

  /** The next piece, full but for the last; null at the end. */
  async function fill(): Promise<Buffer | null> {
    const piece = pool.take();
    let filled = 0;
    while (filled < PIECE) {
      if (!chunk) {
        const { done, value } = await reader.read();
        if (done) break;
        chunk = value;
        at = 0;
      }
      const n = Math.min(PIECE - filled, chunk.length - at);
      piece.set(chunk.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (at === chunk.length) {
        // Nobody else holds it: detaching frees it now, not at a collection.
        const whole = chunk.buffer;
        if (chunk.byteOffset === 0 && chunk.byteLength === whole.byteLength && whole instanceof ArrayBuffer)
          whole.transfer(0);
        chunk = null;
      }
    }
    if (filled > 0) return piece.subarray(0, filled);
    recycle(piece);
    return null;
  }
}

/** The file from its current position to its end; the handle is closed when the stream closes (ended or destroyed). */
export function readPieces(handle: FileHandle): Readable {
  const pool = new PiecePool();
  async function* read(): AsyncGenerator<Buffer> {
    for (;;) {
      const whole = pool.take();
      const { bytesRead } = await handle.read(whole, 0, PIECE, null);
      if (bytesRead === 0) return;
      yield whole.subarray(0, bytesRead);
    }
  }
  const stream = Readable.from(read(), { objectMode: false, highWaterMark: PIECE });
  // Not in a `finally` of read(): a stream destroyed before its first read never enters it.
  stream.once("close", () => {
    handle.close().catch(() => {});
  });
  return stream;
}
