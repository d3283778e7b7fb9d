// The one small interface every remote-cache backend implements (S3, a
// directory), plus the pieces they share: the error type that marks a fault of
// the store itself, and the stall watchdog for streamed transfers.
//
// Inside src/cache, store operations reject (or their streams error) with a
// StoreError; index.ts is the only place that catches, and turns every fault
// into a value (a miss or a one-line "failed" message). Streams make that the
// natural shape: a download can fail long after get() has returned.
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { describeError } from "../sys/errors";

export interface PutOptions {
  contentType?: string;
  /** Stops the upload, the request in flight included: nothing is stored, nothing left behind. */
  signal?: AbortSignal;
  /**
   * Store only if the key holds nothing (S3 `If-None-Match: *`, a hard link in
   * a directory): otherwise reject with ObjectExists and leave what is there.
   * Two builds racing for one key cannot then tear it.
   */
  ifAbsent?: boolean;
  /** The body's size, when known: a small body may go as one request (S3: without loading the SDK). */
  size?: number;
}

export interface ObjectStore {
  /** For messages: "s3://bucket" or "/path/to/dir". */
  readonly description: string;
  /** Reading an object costs no transfer (a directory): an upload may check an archive's bytes before keeping it. */
  readonly local?: boolean;
  /** Where a key lives, for messages: "s3://bucket/key", "/dir/key". */
  where(key: string): string;
  /**
   * The object's bytes as a stream, or null when there is no such object (a plain miss). `signal` aborts the request.
   */
  get(key: string, signal?: AbortSignal): Promise<Readable | null>;
  /** Stores the whole stream under key. The object appears only once body ended without error. */
  put(key: string, body: Readable, opts?: PutOptions): Promise<void>;
  /** The object's size in bytes and when it was written, or null when there is no such object. */
  stat(key: string): Promise<{ size: number; modified: Date } | null>;
  getText(key: string): Promise<string | null>;
  putText(key: string, text: string, opts?: PutOptions): Promise<void>;
}

/** Bounds on one store's transfers. Defaults suit CI; tests shrink them. */
export interface Limits {
  /** Opening a connection. */
  connectMs: number;
  /** No byte moved in either direction for this long: the transfer is abandoned. */
  stallMs: number;
  /** A small request (pointer, log) as a whole. */
  requestMs: number;
  /** Attempts per request, including the first (the SDK retries with backoff). */
  attempts: number;
  /**
   * Files restored on the main thread before worker threads take over (write-pool.ts); tests set 0 to use them always.
   */
  parallelFrom?: number;
  /** Bytes per range of a download over several connections (ranged-body.ts); tests shrink it. */
  rangeBytes?: number;
}

export const DEFAULT_LIMITS: Limits = { connectMs: 5_000, stallMs: 30_000, requestMs: 30_000, attempts: 3 };

/** A fault of the store (network, credentials, bucket, server), as opposed to a bad archive. */
export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreError";
  }
}

/** A put with ifAbsent found the key taken (by another build, just now): nothing was stored. */
export class ObjectExists extends Error {
  constructor(key: string) {
    super(`${key} exists`);
    this.name = "ObjectExists";
  }
}

/** A bad archive or a bad output tree, as opposed to a fault of the store. */
export class ArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ArchiveError";
  }
}

/**
 * The one stall watchdog of a transfer: onStall runs when kick() was not
 * called for `ms` (each byte or part that moves calls it). Sockets have idle
 * timeouts of their own, but a server can dribble or a runtime can drop a
 * timer; this bounds a transfer whatever happens underneath. onStall may
 * return "wait" to be asked again after another `ms` (the other side is slow).
 */
export class StallWatchdog {
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    readonly ms: number,
    // biome-ignore lint/suspicious/noConfusingVoidType: a callback that returns nothing means "stop"
    private readonly onStall: () => "wait" | void,
  ) {}

  kick(): void {
    this.stop();
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.onStall() === "wait") this.kick();
    }, this.ms);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * A pass-through that fails the stream when no data flowed for `ms`. Upstream
 * errors are re-labelled as StoreError so the caller can tell a broken
 * download from a broken archive.
 */
export function watchStall(
  source: Readable,
  ms: number,
  received?: { bytes: number },
  /** Sees every byte on its way (a signature's digest, cache/signature.ts). */
  onChunk?: (chunk: Buffer) => void,
): Readable {
  const watchdog = new StallWatchdog(ms, () => {
    // A full buffer means the consumer (extraction) is the slow side, not the store.
    if (guard.readableLength >= guard.readableHighWaterMark) return "wait";
    const err = new StoreError(`no data for ${seconds(ms)}, transfer abandoned`);
    source.destroy(err);
    guard.destroy(err);
  });
  const guard = new Transform({
    // Large chunks: the zstd stage behind this is much faster with big inputs.
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      watchdog.kick();
      if (received) received.bytes += chunk.length;
      onChunk?.(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      watchdog.stop();
      cb();
    },
    destroy(err, cb) {
      watchdog.stop();
      cb(err);
    },
  });
  source.on("error", (e) =>
    guard.destroy(e instanceof StoreError ? e : new StoreError(describeError(e), { cause: e })),
  );
  // The consumer attaches its listeners a few awaits later (restore makes its
  // temporary directory first); an error before that must not go unhandled.
  // It stays on the stream (guard.errored), where pipeline() picks it up.
  guard.on("error", () => {});
  watchdog.kick();
  source.pipe(guard);
  return guard;
}

export function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
