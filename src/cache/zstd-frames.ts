// Reading a zstd stream, fast for our own archives and correct for anyone's.
//
// One zstd stream decodes on one core, and Bun's streaming decoder runs at
// about half the zstd CLI's speed (~300 ms for 200 MB here): on restore that
// alone was slower than `zstd -dc | tar -x` as a whole. Our archives are a
// sequence of independent frames of at most 4 MB (tar-writer.ts), each
// declaring its size, so they are cut at frame boundaries and each decoded in
// one call (~1 ms per MB). A frame that does not declare a small content
// size — the old tool's archives are one frame of unknown size — switches the
// rest of the stream to the streaming decoder, so memory stays bounded
// whatever the input.
//
// Each frame decodes on the thread pool while the consumer takes the one
// before it apart: decoding on this thread was over half of the main thread's
// time restoring a monorepo (~600 MB of tar, bench/README.md), and the main
// thread was the slow side. Never more than one frame ahead, and each one's
// memory is freed as soon as the consumer has taken it apart: decoding
// further ahead, and leaving dead frames to the garbage collector, held ~25 MB
// more at the peak of a node_modules restore for no gain.
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import { FrameGarbage } from "./memory";
import { ArchiveError } from "./store";

const ZSTD_MAGIC = 0xfd2fb528;
/** Frames declaring up to this much content are decoded in one piece. */
const MAX_ONE_SHOT = 16 << 20;
/** Buffers for compressed frames grow in steps of this much (ours compress to ~1 MB, 4 MB at worst). */
const FRAME_STEP = 256 << 10;
/** The streaming decoder's output pieces; its 16 KB default is ~2× slower. */
const STREAM_CHUNK = 1 << 20;

/**
 * zstd → bytes, in order. Throws ArchiveError for a stream that is not zstd or
 * ends inside a frame. A piece it yields is valid until the consumer asks for
 * the next one (its memory is then freed).
 */
export function decompress(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  return decompressFrames(source);
}

/** decompress, handing each skippable frame (its magic number and payload) to onSkippable. */
type OnSkippable = (magic: number, payload: Buffer) => void;

export function decompressWith(onSkippable: OnSkippable): (source: AsyncIterable<Buffer>) => AsyncGenerator<Buffer> {
  return (source) => decompressFrames(source, onSkippable);
}

async function* decompressFrames(source: AsyncIterable<Buffer>, onSkippable?: OnSkippable): AsyncGenerator<Buffer> {
  const garbage = new FrameGarbage();
  const input = source[Symbol.asyncIterator]();
  const pending = new Bytes();
  // A frame spread over several input pieces is copied into one of these reused
  // buffers, in turn: the previous frame may still be decoding from the other.
  const scratch = [Buffer.alloc(0), Buffer.alloc(0)];
  let frames = 0;
  // The frame decoding on the thread pool while the consumer takes the one before apart.
  let ahead: Promise<Buffer> | null = null;
  async function* handOver(): AsyncGenerator<Buffer> {
    if (!ahead) return;
    const decoded = await ahead;
    ahead = null;
    yield decoded;
    release(decoded);
    garbage.afterFrame();
  }
  // The frame being cut out: where its next block header is, and once the
  // last block is seen, its total size.
  let frame: { next: number; checksum: boolean; total: number | null } | null = null;
  let offset = 0; // of the frame in the archive, for messages
  for (;;) {
    // Decode every complete frame that has arrived.
    for (;;) {
      if (!frame) {
        if (pending.length < 4) break;
        const magic = pending.u32(0);
        if ((magic & 0xfffffff0) === 0x184d2a50) {
          // A skippable frame (pzstd and others write them): skip its payload.
          if (pending.length < 8 || pending.length < 8 + pending.u32(4)) break;
          const size = pending.u32(4);
          offset += 8 + size;
          const frame = pending.takeInto(Buffer.allocUnsafe(8 + size), 8 + size);
          onSkippable?.(magic, frame.subarray(8, 8 + size));
          continue;
        }
        if (magic !== ZSTD_MAGIC) throw new ArchiveError("not a zstd archive (bad frame header)");
        const header = pending.length >= 5 ? frameHeader(pending) : null;
        if (!header) break;
        if (header.contentSize === null || header.contentSize > MAX_ONE_SHOT) {
          // Not one of ours: stream the rest.
          yield* handOver();
          yield* streamRest(pending.takeAll(), input);
          return;
        }
        frame = { next: header.size, checksum: header.checksum, total: null };
      }
      // Walk the block headers (3 bytes each: last flag, type, size).
      while (frame.total === null && pending.length >= frame.next + 3) {
        const h = pending.u8(frame.next) | (pending.u8(frame.next + 1) << 8) | (pending.u8(frame.next + 2) << 16);
        const type = (h >> 1) & 3;
        if (type === 3) throw new ArchiveError("corrupt zstd archive (reserved block type)");
        frame.next += 3 + (type === 1 ? 1 : h >>> 3); // an RLE block stores one byte
        if (h & 1) frame.total = frame.next + (frame.checksum ? 4 : 0);
      }
      if (frame.total === null || pending.length < frame.total) break;
      const at = offset;
      const size = frame.total;
      offset += size;
      frame = null;
      let compressed = pending.single(size);
      if (!compressed) {
        const turn = frames % 2;
        if (scratch[turn].length < size) scratch[turn] = Buffer.allocUnsafe(Math.ceil(size / FRAME_STEP) * FRAME_STEP);
        compressed = pending.takeInto(scratch[turn], size).subarray(0, size);
      }
      frames++;
      const decoding = decodeFrame(compressed, at);
      yield* handOver();
      ahead = decoding;
    }
    const next = await input.next();
    if (next.done) break;
    pending.push(next.value);
  }
  yield* handOver();
  if (pending.length > 0) throw new ArchiveError("archive is truncated (it ends inside a zstd frame)");
}

/** One frame, decoded on the thread pool; its failure is an ArchiveError, and handled if nobody waits for it. */
function decodeFrame(compressed: Buffer, at: number): Promise<Buffer> {
  const decoding = Bun.zstdDecompress(compressed).catch((e) => {
    // Bun says only "DecompressionFailed" for a bad checksum or bad data alike.
    throw new ArchiveError(
      `corrupt archive: the zstd frame at byte ${at} fails its checksum or does not decode ` +
        `(${(e as Error).message})`,
    );
  });
  decoding.catch(() => {});
  return decoding;
}

interface FrameHeader {
  size: number;
  contentSize: number | null;
  checksum: boolean;
}

/** RFC 8878 §3.1.1.1; null until the whole header has arrived. */
function frameHeader(b: Bytes): FrameHeader | null {
  const fhd = b.u8(4);
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const dictBytes = [0, 1, 2, 4][fhd & 3];
  const fcsBytes = fcsFlag === 0 ? single : [0, 2, 4, 8][fcsFlag];
  const size = 5 + (single ? 0 : 1) + dictBytes + fcsBytes;
  if (b.length < size) return null;
  const at = size - fcsBytes;
  let contentSize: number | null = null;
  if (fcsBytes === 1) contentSize = b.u8(at);
  else if (fcsBytes === 2) contentSize = (b.u8(at) | (b.u8(at + 1) << 8)) + 256;
  else if (fcsBytes === 4) contentSize = b.u32(at);
  else if (fcsBytes === 8) contentSize = b.u32(at + 4) === 0 ? b.u32(at) : Number.MAX_SAFE_INTEGER;
  return { size, contentSize, checksum: ((fhd >> 2) & 1) === 1 };
}

/** The streaming decoder for the rest of the input, starting with `first`. */
async function* streamRest(first: Buffer, input: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  async function* rest() {
    if (first.length) yield first;
    for (let r = await input.next(); !r.done; r = await input.next()) yield r.value;
  }
  const decoder = zlib.createZstdDecompress({
    chunkSize: STREAM_CHUNK,
    highWaterMark: 4 * STREAM_CHUNK,
  } as zlib.ZstdOptions);
  const done = pipeline(Readable.from(rest(), { objectMode: false }), decoder).catch(() => {});
  // Iterating (rather than piping) lets the next chunk decode on the thread
  // pool while the consumer writes this one out.
  yield* decoder;
  await done;
}

/** A queue of chunks read as one buffer without concatenating them (frames arrive in 64 KB pieces). */
class Bytes {
  private chunks: Buffer[] = [];
  length = 0;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.chunks.push(b);
    this.length += b.length;
  }

  u8(i: number): number {
    for (const c of this.chunks) {
      if (i < c.length) return c[i];
      i -= c.length;
    }
    throw new RangeError("read past the buffered bytes");
  }

  u32(i: number): number {
    return (this.u8(i) | (this.u8(i + 1) << 8) | (this.u8(i + 2) << 16) | (this.u8(i + 3) << 24)) >>> 0;
  }

  /** The first n bytes without copying, if they lie in one piece (then dropped from the queue); else null. */
  single(n: number): Buffer | null {
    const c = this.chunks[0];
    if (!c || c.length < n) return null;
    return this.take(n);
  }

  /** Moves the first n bytes into `target` (which must be large enough) and returns it. */
  takeInto(target: Buffer, n: number): Buffer {
    if (target.length < n) target = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - at);
      c.copy(target, at, 0, k);
      at += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.length -= n;
    return target;
  }

  take(n: number): Buffer {
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const c = this.chunks[0];
      if (c.length <= need) {
        parts.push(c);
        this.chunks.shift();
        need -= c.length;
      } else {
        parts.push(c.subarray(0, need));
        this.chunks[0] = c.subarray(need);
        need = 0;
      }
    }
    this.length -= n;
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, n);
  }

  takeAll(): Buffer {
    return this.take(this.length);
  }
}

/**
 * Frees a decoded frame's memory now rather than at a garbage collection,
 * which comes late (detaching a buffer frees it): a node_modules is ~45 frames
 * of 4 MB, each dead once it is taken apart.
 */
function release(frame: Buffer): void {
  const whole = frame.buffer;
  if (frame.byteOffset === 0 && frame.byteLength === whole.byteLength && whole instanceof ArrayBuffer)
    whole.transfer(0);
}
