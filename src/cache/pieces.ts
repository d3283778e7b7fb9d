// An archive read from a file, in 1 MB pieces whose memory is used again.
//
// A file read stream returns every piece in a new buffer: restoring a
// monorepo (a 139 MB archive), faulting in those pages and collecting them
// again was about a quarter of the restore's CPU time (bench/README.md). Here
// each piece is read into a buffer from a pool of the stream's own, and the
// zstd decoder (zstd-frames.ts) gives a piece back with `recycle` once nothing
// it started still reads from it. A piece nobody gives back is collected as
// garbage, and one the stream machinery copied on the way is simply not in
// the pool: either costs only the reuse, never the data.
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

/** Gives a piece (or any part of one) back to its pool, if it came from one; the caller must not read it again. */
export function recycle(piece: Buffer): void {
  const slot = slots.get(piece.buffer);
  if (!slot?.out) return;
  slot.out = false;
  slot.free.push(slot.whole);
}

/** The file from its current position to its end; the handle is closed at the end, or when the stream is destroyed. */
export function readPieces(handle: FileHandle): Readable {
  const pool = new PiecePool();
  async function* read(): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        const whole = pool.take();
        const { bytesRead } = await handle.read(whole, 0, PIECE, null);
        if (bytesRead === 0) return;
        yield whole.subarray(0, bytesRead);
      }
    } finally {
      await handle.close();
    }
  }
  return Readable.from(read(), { objectMode: false, highWaterMark: PIECE });
}
