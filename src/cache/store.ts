// The one small interface every remote-cache backend implements (S3, a
// directory), plus the pieces they share: the error type that marks a fault of
// the store itself, and the stall watchdog for streamed transfers.
//
// Inside src/cache, store operations reject (or their streams error) with a
// StoreError; index.ts is the only place that catches, and turns every fault
// into a value (a miss or a one-line "failed" message). Streams make that the
// natural shape: a download can fail long after get() has returned.
import { Transform, type Readable, type TransformCallback } from "node:stream";

export interface PutOptions {
  contentType?: string;
}

export interface ObjectStore {
  /** For messages: "s3://bucket" or "/path/to/dir". */
  readonly description: string;
  /** Where a key lives, for messages: "s3://bucket/key", "/dir/key". */
  where(key: string): string;
  /** The object's bytes as a stream, or null when there is no such object (a plain miss). `signal` aborts the request. */
  get(key: string, signal?: AbortSignal): Promise<Readable | null>;
  /** Stores the whole stream under key. The object appears only once body ended without error. */
  put(key: string, body: Readable, opts?: PutOptions): Promise<void>;
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
  /** Files restored on the main thread before worker threads take over (write-pool.ts); tests set 0 to use them always. */
  parallelFrom?: number;
}

export const DEFAULT_LIMITS: Limits = { connectMs: 5_000, stallMs: 30_000, requestMs: 30_000, attempts: 3 };

/** A fault of the store (network, credentials, bucket, server), as opposed to a bad archive. */
export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreError";
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
 * A pass-through that fails the stream when no data flowed for `ms`. Sockets
 * have idle timeouts of their own, but a server can dribble or a runtime can
 * drop a timer; this bounds the transfer whatever happens underneath. Upstream
 * errors are re-labelled as StoreError so the caller can tell a broken
 * download from a broken archive.
 */
export function watchStall(source: Readable, ms: number): Readable {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const guard = new Transform({
    // Large chunks: the zstd stage behind this is much faster with big inputs.
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      arm();
      cb(null, chunk);
    },
    flush(cb) {
      disarm();
      cb();
    },
    destroy(err, cb) {
      disarm();
      cb(err);
    },
  });
  const arm = () => {
    disarm();
    timer = setTimeout(() => {
      // A full buffer means the consumer (extraction) is the slow side, not the store.
      if (guard.readableLength >= guard.readableHighWaterMark) return arm();
      const err = new StoreError(`no data for ${seconds(ms)}, transfer abandoned`);
      source.destroy(err);
      guard.destroy(err);
    }, ms);
  };
  const disarm = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  source.on("error", (e) => guard.destroy(e instanceof StoreError ? e : new StoreError(describeError(e), { cause: e })));
  // The consumer attaches its listeners a few awaits later (restore makes its
  // temporary directory first); an error before that must not go unhandled.
  // It stays on the stream (guard.errored), where pipeline() picks it up.
  guard.on("error", () => {});
  arm();
  source.pipe(guard);
  return guard;
}

export function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/** One line for any thrown value: name/code and message, no stack. */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  // Ours already say what happened in words.
  if (e.name === "StoreError" || e.name === "ArchiveError") return e.message;
  const any = e as Error & { code?: unknown; $metadata?: { httpStatusCode?: number }; Code?: string };
  const status = any.$metadata?.httpStatusCode;
  const code = typeof any.code === "string" ? any.code : any.Code ?? (e.name !== "Error" ? e.name : "");
  // The SDK's handler names itself and its settings; the reader needs neither.
  let msg = (e.message || "").replace("@smithy/node-http-handler - ", "").replace(/ \((configured by client requestHandler|service default socket timeout)\)\.?$/, "");
  // The SDK answers "UnknownError" with an empty message when a body is not XML (a proxy's 5xx page).
  if (!msg || msg === "UnknownError") msg = status ? `HTTP ${status}` : e.name;
  const parts = [code && !msg.includes(code) ? `${code}:` : "", msg, status && !msg.includes(String(status)) ? `(HTTP ${status})` : ""];
  return parts.filter(Boolean).join(" ").replace(/\s+/g, " ").trim();
}
