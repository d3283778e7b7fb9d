// An HTTP download as a stream, over several connections at once when the
// user asks for it (TASKRUNNER_S3_DOWNLOAD_CONNECTIONS).
//
// One connection to S3 carries some 50–90 MB/s, less from a CI runner in
// another cloud, and a restore takes an archive apart at about that speed or
// faster (bench/README.md). With N connections, a big object comes as
// consecutive ranges of `bytes`, as `aws s3 cp` does: the first answer's
// stream up to the first range's end, and the ranges after it N at a time.
// A range is read into memory as it comes, whether or not the reader is
// there yet, and the next is asked for once the oldest has been read: at
// most N ranges wait. Every range asks for the version of the object the
// first answer had (its ETag): an object replaced half-way fails the
// download rather than splice two versions. One connection (the default), a
// small object or a store without ranges: the first answer's stream alone.
import { Readable } from "node:stream";
import { PIECE, owned } from "./pieces";
import { StoreError } from "./store";

/** A body's reader, as both fetch's and node:stream/web's streams give it. */
interface Reader {
  read(): Promise<{ done: boolean; value?: Uint8Array }>;
  cancel(reason?: unknown): Promise<void>;
}

export interface Ranges {
  /** Connections at once; 1: the first answer's stream alone. */
  connections: number;
  /** Bytes per range. */
  bytes: number;
}

export const RANGE_BYTES = 8 << 20;

/** Where the rest of an object can come from, once its first answer is in. */
export interface RangeSource {
  /** The object's size, from the first answer. */
  size: number;
  /** Bytes start to end (inclusive) of the version the first answer had. */
  range(start: number, end: number): Promise<ReadableStream<Uint8Array>>;
}

/** Whether `size` bytes come as ranges: only when more than two ranges would follow the first. */
export function comesAsRanges(size: number, ranges: Ranges): boolean {
  return ranges.connections > 1 && size > 3 * ranges.bytes;
}

/**
 * `body` (the first answer's) as a stream whose chunks are disposable
 * (pieces.ts); with a `source` (the caller has seen that the object
 * comesAsRanges), the rest as ranges. Destroying the stream cancels every request.
 */
export function rangedBody(body: ReadableStream<Uint8Array>, source: RangeSource | null, ranges: Ranges): Readable {
  const download = new Download(body.getReader(), source, ranges);
  return new Readable({
    highWaterMark: PIECE,
    read() {
      download.next().then(
        (chunk) => this.push(chunk),
        (e) => this.destroy(e),
      );
    },
    destroy(err, cb) {
      download.cancel(err);
      cb(err);
    },
  });
}

/** A range's bytes as they arrive. */
class Part {
  readonly chunks: Buffer[] = [];
  received = 0;
  done = false;
  error: Error | null = null;
  private wake: (() => void) | null = null;

  add(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.received += chunk.length;
    this.notify();
  }

  finish(error: unknown = null): void {
    if (error !== null) this.error = error instanceof Error ? error : new Error(String(error));
    this.done = true;
    this.notify();
  }

  /** Resolves at the next chunk, end or error. */
  changed(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

class Download {
  /** The first answer's stream, read as asked for, up to `until` (where the ranges begin). */
  private first: Reader | null;
  private at = 0;
  private readonly until: number;
  /** The ranges asked for and not read yet, oldest first, and where the next one begins. */
  private readonly parts: Part[] = [];
  private nextStart: number;
  private readonly readers = new Set<Reader>();
  private cancelled: Error | null = null;

  /** `source`: the rest comes as ranges. */
  constructor(
    first: Reader,
    private readonly source: RangeSource | null,
    private readonly ranges: Ranges,
  ) {
    this.first = first;
    this.until = source ? ranges.bytes : Number.POSITIVE_INFINITY;
    this.nextStart = this.until;
    this.request();
  }

  /** The next chunk, or null at the end. */
  async next(): Promise<Buffer | null> {
    if (this.first) return this.fromFirst(this.first);
    for (;;) {
      const part = this.parts[0];
      if (!part) return null;
      const chunk = part.chunks.shift();
      if (chunk) return chunk;
      if (part.error) throw part.error;
      if (!part.done) {
        await part.changed();
        continue;
      }
      this.parts.shift();
      this.request();
    }
  }

  cancel(err: Error | null): void {
    this.cancelled = err ?? new StoreError("download cancelled");
    for (const reader of this.readers) reader.cancel(this.cancelled).catch(() => {});
    this.readers.clear();
    this.first?.cancel(this.cancelled).catch(() => {});
    this.first = null;
  }

  private async fromFirst(first: Reader): Promise<Buffer | null> {
    const { done, value } = await first.read();
    if (done || !value) {
      this.first = null;
      if (this.source) throw new StoreError(`the download ended after ${this.at} of ${this.source.size} bytes`);
      return null;
    }
    let chunk = owned(value);
    if (chunk.length >= this.until - this.at) {
      // Where the ranges take over: the rest of this stream is not needed.
      chunk = chunk.subarray(0, this.until - this.at);
      this.first = null;
      first.cancel().catch(() => {});
      this.request();
    }
    this.at += chunk.length;
    return chunk;
  }

  /** Asks for ranges until as many as there are connections (the first stream one of them) are busy or waiting. */
  private request(): void {
    if (!this.source) return;
    const { size } = this.source;
    const most = this.ranges.connections - (this.first ? 1 : 0);
    while (this.nextStart < size && this.parts.length < most) {
      const end = Math.min(this.nextStart + this.ranges.bytes, size) - 1;
      const part = new Part();
      this.parts.push(part);
      void this.fill(part, this.nextStart, end);
      this.nextStart = end + 1;
    }
  }

  private async fill(part: Part, start: number, end: number): Promise<void> {
    const length = end - start + 1;
    try {
      const reader = (await this.source!.range(start, end)).getReader();
      if (this.cancelled) {
        reader.cancel(this.cancelled).catch(() => {});
        return;
      }
      this.readers.add(reader);
      for (;;) {
        const { done, value } = await reader.read();
        if (done || !value) break;
        if (part.received + value.byteLength > length)
          throw new StoreError(`bytes ${start}-${end} came longer than asked`);
        part.add(owned(value));
      }
      this.readers.delete(reader);
      if (part.received < length)
        throw new StoreError(`bytes ${start}-${end} ended after ${part.received} of ${length} bytes`);
      part.finish();
    } catch (e) {
      part.finish(e);
    }
  }
}
