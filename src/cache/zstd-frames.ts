// Reading a zstd stream, fast for our own archives and correct for anyone's.
//
// Our archives are a sequence of independent frames of at most 4 MB
// (tar-writer.ts), each declaring its size: each is cut out of the input and
// decoded whole before any of it is handed on, so a frame that fails its
// checksum yields nothing. A frame that does not declare a small content size
// — the old tool's archives are one frame of unknown size — switches the rest
// of the stream to decoding piece by piece, so memory stays bounded whatever
// the input.
//
// The next two frames of ours decode on the thread pool, each on a zstd
// decoder of its own, while the consumer takes the one before them apart
// (decoding was over half of the main thread's time restoring a monorepo,
// ~600 MB of tar: bench/README.md), with zstd's streaming decoder driven by
// hand — node:zlib's native handle, what its own streams call — straight from
// the input pieces the frame lies in, into one of three buffers reused for the
// whole stream. Bun's one-shot decoder returns
// every frame in a fresh 4 MB buffer, and faulting in those pages cost ~40%
// more CPU than the decoding itself. An input piece from a PiecePool
// (pieces.ts) goes back to it once every frame that reads from it is decoded.
import { availableParallelism } from "node:os";
import zlib from "node:zlib";
import { FrameGarbage } from "./memory";
import { recycle } from "./pieces";
import { ArchiveError } from "./store";

const ZSTD_MAGIC = 0xfd2fb528;
const EMPTY = Buffer.alloc(0);
/** Frames declaring up to this much content are decoded whole. */
const MAX_WHOLE = 16 << 20;
/**
 * zstd decoders working at once, each on a frame of its own (frame n on
 * decoder n % DECODERS), on the thread pool: while the file-writing thread
 * holds the restore up (a run of small files), the frames after decode on the
 * core left idle. Each costs an output buffer and zstd's own state
 * (bench/README.md).
 */
const DECODERS = availableParallelism() > 1 ? 2 : 1;
/** The output buffers: one frame of ours, or one piece of a stream of unknown size. */
const OUT = 4 << 20;
/**
 * Room past a frame's declared size (zstd's largest block): a frame that fills
 * its buffer exactly could be left with its checksum unread, and one that
 * decodes to more than it declares fails the size check below instead.
 */
const SLACK = 128 << 10;
/**
 * A frame in more pieces than this is copied into one buffer before decoding:
 * each piece is a trip to the thread pool, and from S3 a frame arrives in
 * dozens of pieces. From the directory store, in 1 MB pieces, most frames lie
 * in one or two, decoded where they are.
 */
const MAX_PARTS = 3;
/** The buffer for a frame copied together grows in steps of this much (ours compress to ~1 MB, 4 MB at worst). */
const FRAME_STEP = 256 << 10;

/**
 * zstd → bytes, in order. Throws ArchiveError for a stream that is not zstd or
 * ends inside a frame. A piece it yields is valid until the consumer asks for
 * the next one (its memory is then reused). Input pieces are given back with
 * `recycle` (pieces.ts) once read: the source must not reuse them otherwise.
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
  // Frame n decodes on decoders[n % DECODERS] into outs[n % outs.length]:
  // when it starts, the consumer has given back frame n - outs.length (it
  // asked for the one after). Each is made when first needed (a small archive
  // is one small frame).
  const decoders: Decoder[] = [];
  const outs: Buffer[] = Array.from({ length: DECODERS + 1 }, () => EMPTY);
  const decoder = (n: number) => (decoders[n % DECODERS] ??= new Decoder());
  const out = (n: number, size: number) => {
    const slot = n % outs.length;
    if (outs[slot].length < size) outs[slot] = Buffer.allocUnsafe(size);
    return outs[slot];
  };
  let frames = 0;
  const input = source[Symbol.asyncIterator]();
  const pending = new Bytes();
  // The frames decoding on the thread pool while the consumer takes the one
  // before them apart, oldest first, each with the input pieces it used up
  // (given back once it is done).
  const aheads: { decoded: Promise<Buffer>; used: Buffer[] }[] = [];
  async function decodedAhead(): Promise<Buffer | null> {
    const oldest = aheads.shift();
    if (!oldest) return null;
    const decoded = await oldest.decoded;
    for (const piece of oldest.used) recycle(piece);
    return decoded;
  }
  async function* handOver(): AsyncGenerator<Buffer> {
    for (let decoded = await decodedAhead(); decoded; decoded = await decodedAhead()) {
      yield decoded;
      garbage.afterFrame();
    }
  }
  // The frame being cut out: where its next block header is, its declared
  // content size, and once the last block is seen, its total size.
  let frame: { next: number; checksum: boolean; content: number; total: number | null } | null = null;
  let offset = 0; // of the frame in the archive, for messages
  try {
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
            const used: Buffer[] = [];
            const skipped = Buffer.concat(pending.takeParts(8 + size, used), 8 + size);
            // A piece may also hold the end of the last frame decoding ahead.
            if (aheads.length > 0) aheads[aheads.length - 1].used.push(...used);
            else for (const piece of used) recycle(piece);
            onSkippable?.(magic, skipped.subarray(8));
            continue;
          }
          if (magic !== ZSTD_MAGIC) throw new ArchiveError("not a zstd archive (bad frame header)");
          const header = pending.length >= 5 ? frameHeader(pending) : null;
          if (!header) break;
          if (header.contentSize === null || header.contentSize > MAX_WHOLE) {
            // Not one of ours: stream the rest.
            yield* handOver();
            for (const part of pending.takeParts(pending.length)) {
              yield* decoder(0).stream(part, out(0, OUT + SLACK), offset);
              recycle(part);
            }
            for (let r = await input.next(); !r.done; r = await input.next()) {
              yield* decoder(0).stream(r.value, out(0, OUT + SLACK), offset);
              recycle(r.value);
            }
            return;
          }
          frame = { next: header.size, checksum: header.checksum, content: header.contentSize, total: null };
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
        const used: Buffer[] = [];
        const parts = pending.takeParts(frame.total, used);
        const { content } = frame;
        const at = offset;
        offset += frame.total;
        frame = null;
        const decoded = aheads.length === DECODERS ? await decodedAhead() : null;
        const n = frames++;
        const next = decoder(n).frame(parts, out(n, content + SLACK), content, at);
        next.catch(() => {}); // handled when handed over; never unhandled if the consumer stops first
        aheads.push({ decoded: next, used });
        if (decoded) {
          yield decoded;
          garbage.afterFrame();
        }
      }
      const next = await input.next();
      if (next.done) break;
      pending.push(next.value);
    }
    yield* handOver();
    if (pending.length > 0) throw new ArchiveError("archive is truncated (it ends inside a zstd frame)");
  } finally {
    // Never close a decoder under a frame it is decoding.
    for (const { decoded } of aheads) await decoded.catch(() => {});
    for (const decoder of decoders) decoder.close();
  }
}

/** node:zlib's native zstd handle: what its own streams call. */
interface ZstdHandle {
  init(params: Uint32Array, pledgedSize: undefined, state: Uint32Array, done: () => void): void;
  /** Decodes on the thread pool, then calls init's `done` (or onerror). */
  write(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void;
  /** Decodes now (calling onerror on failure). */
  writeSync(
    flush: number,
    input: Buffer,
    inOff: number,
    inLen: number,
    out: Buffer,
    outOff: number,
    outLen: number,
  ): void;
  onerror: (message: string) => void;
  close(): void;
}

type ZstdHandleClass = new (mode: number) => ZstdHandle;
let handleClass: ZstdHandleClass | null = null;

/**
 * zstd's streaming decoder, writing into buffers it is given (reused for the
 * whole stream: decompressFrames's), one frame after another.
 */
class Decoder {
  private readonly handle: ZstdHandle;
  /** After each call: output space left, input left. */
  private readonly state = new Uint32Array(2);
  /** The frames given to it, one after another: the last one's end. */
  private last: Promise<unknown> = Promise.resolve();
  /** A frame in many pieces, copied together (one frame decodes at a time). */
  private gathered = Buffer.alloc(0);
  private failure: string | null = null;
  /** The end of the write on the thread pool, if one is under way. */
  private written: (() => void) | null = null;

  constructor() {
    handleClass ??= (zlib.createZstdDecompress() as unknown as { _handle: ZstdHandle })._handle
      .constructor as ZstdHandleClass;
    this.handle = new handleClass(zlib.constants.ZSTD_DECOMPRESS);
    this.handle.init(new Uint32Array(0), undefined, this.state, () => this.written?.());
    this.handle.onerror = (message) => {
      this.failure = message;
      this.written?.();
    };
  }

  /**
   * A whole frame of `size` bytes of content from its compressed parts (the
   * frame at byte `at`), decoded on the pool into `out` (size + SLACK bytes at
   * least) once the frames given before it are.
   */
  frame(parts: Buffer[], out: Buffer, size: number, at: number): Promise<Buffer> {
    const decoded = this.last.then(() => this.decode(parts, out, size, at));
    this.last = decoded.catch(() => {});
    return decoded;
  }

  private async decode(parts: Buffer[], out: Buffer, size: number, at: number): Promise<Buffer> {
    let made = 0;
    for (const part of parts.length > MAX_PARTS ? [this.gather(parts)] : parts) {
      for (let inOff = 0; inOff < part.length; ) {
        const space = out.length - made;
        await new Promise<void>((resolve) => {
          this.written = resolve;
          this.handle.write(ZSTD_E_CONTINUE, part, inOff, part.length - inOff, out, made, space);
        });
        this.written = null;
        if (this.failure !== null) throw this.corrupt(at);
        inOff = part.length - this.state[1];
        made += space - this.state[0];
        // Output full with input left: the frame decodes to more than it declares.
        if (this.state[0] === 0 && this.state[1] > 0) throw this.corrupt(at, "decodes to more than its header says");
      }
    }
    if (made !== size) throw this.corrupt(at, `decodes to ${made} bytes, not the ${size} its header says`);
    return out.subarray(0, size);
  }

  /** Decodes `input`, a piece of a stream that began at byte `at`, yielding each buffer-full. */
  *stream(input: Buffer, out: Buffer, at: number): Generator<Buffer> {
    for (let inOff = 0; ; ) {
      this.handle.writeSync(ZSTD_E_CONTINUE, input, inOff, input.length - inOff, out, 0, out.length);
      if (this.failure !== null) throw this.corrupt(at);
      const made = out.length - this.state[0];
      inOff = input.length - this.state[1];
      if (made > 0) yield out.subarray(0, made);
      // Done when the input is used up and the output was not filled (nothing held back).
      if (inOff === input.length && this.state[0] > 0) return;
    }
  }

  close(): void {
    this.handle.close();
  }

  private gather(parts: Buffer[]): Buffer {
    const size = parts.reduce((n, p) => n + p.length, 0);
    if (this.gathered.length < size) this.gathered = Buffer.allocUnsafe(Math.ceil(size / FRAME_STEP) * FRAME_STEP);
    let at = 0;
    for (const part of parts) at += part.copy(this.gathered, at);
    return this.gathered.subarray(0, size);
  }

  private corrupt(at: number, why = `fails its checksum or does not decode (${this.failure})`): ArchiveError {
    return new ArchiveError(`corrupt archive: the zstd frame at byte ${at} ${why}`);
  }
}

/** "Continue" (no flush): decoding ignores the flag, and the decoder flushes whatever fits. */
const ZSTD_E_CONTINUE = zlib.constants.ZSTD_e_continue;

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

  /** The first n bytes, as the pieces they lie in (not copied), dropped from the queue; `used`: the pieces used up. */
  takeParts(n: number, used: Buffer[] = []): Buffer[] {
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const c = this.chunks[0];
      if (c.length <= need) {
        parts.push(c);
        used.push(c);
        this.chunks.shift();
        need -= c.length;
      } else {
        parts.push(c.subarray(0, need));
        this.chunks[0] = c.subarray(need);
        need = 0;
      }
    }
    this.length -= n;
    return parts;
  }
}
