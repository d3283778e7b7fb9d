// An archive's bytes on their way to the decoder, in memory used again.
//
// A file read stream returns every piece in a new buffer: restoring a
// monorepo (a 139 MB archive), faulting in those pages and collecting them
// again was about a fifth of the restore's CPU time (bench/README.md). Here
// each piece is read into a buffer from a pool of the stream's own, and the
// zstd decoder (zstd-frames.ts) gives a piece back with `recycle` once nothing
// it started still reads from it. A piece nobody gives back is collected as
// garbage, and one the stream machinery copied on the way is simply not in
// the pool: either costs only the reuse, never the data. An HTTP body's
// chunks, which are not ours to fill, are freed when given back instead.
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
/** Chunks nobody but their reader holds (disposable): freed as soon as they are given back. */
const disposables = new WeakSet<ArrayBufferLike>();

/**
 * Gives a piece (or any part of one) back: to its pool, if it came from one; a
 * disposable chunk's memory is freed. The caller must not read it again.
 */
export function recycle(piece: Buffer): void {
  const whole = piece.buffer;
  if (disposables.has(whole)) {
    disposables.delete(whole);
    if (whole instanceof ArrayBuffer) whole.transfer(0); // detaching frees it now, not at a collection
    return;
  }
  const slot = slots.get(whole);
  if (!slot?.out) return;
  slot.out = false;
  slot.free.push(slot.whole);
}

/**
 * A chunk of an HTTP response body (fetch's) as a disposable Buffer: nobody
 * else keeps it, so it is freed as soon as it is given back. S3's come in
 * 64 KB chunks, each a new buffer: freed once decoded, their memory is used
 * again for the next ones, rather than piling up (~2,000 for a 139 MB
 * archive) until a collection.
 */
export function owned(value: Uint8Array): Buffer {
  const chunk = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength) disposables.add(chunk.buffer);
  return chunk;
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
