// The S3 store (TASKRUNNER_REMOTE_CACHE_BUCKET), on AWS or any S3-compatible
// endpoint. The SDK is imported on the first request that needs it, never at
// start-up: most runs of taskrunner skip or run a task without touching the
// cache, and the SDK costs tens of milliseconds to load. With keys in the
// environment, everything but an archive's upload (reads, pointers, logs)
// goes without it, over URLs signed here (s3-signed.ts).
import type { Readable } from "node:stream";
import { Transform } from "node:stream";
import type { S3Client } from "@aws-sdk/client-s3";
import type { S3Config } from "../config";
import { ObjectExists, StallWatchdog, StoreError, seconds } from "./store";
import { RANGE_BYTES, comesAsRanges, rangedBody, type RangeSource } from "./ranged-body";
import type { Limits, ObjectStore, PutOptions } from "./store";
import { describeError } from "../sys/errors";
import { S3Refusal, awsEndpointSetting, signingKeys, signedRequest, type Target } from "./s3-signed";

type Sdk = typeof import("@aws-sdk/client-s3");
interface Connection {
  sdk: Sdk;
  client: S3Client;
  /** Archive downloads: the same store through fetch (node:http took a third of a big restore's main thread). */
  download: S3Client;
}
type Debug = (msg: string) => void;

/** An object's answer: its body (fetch's stream) and the headers that the reads use. */
interface Answer {
  body: ReadableStream<Uint8Array>;
  size?: number;
  etag?: string;
  acceptRanges?: string;
  contentRange?: string;
}

/** Refusals of a signed URL's signature, address or time, rather than of the request. */
const NOT_OURS = new Set([
  "SignatureDoesNotMatch",
  "AuthorizationQueryParametersError",
  "AuthorizationHeaderMalformed",
  "PermanentRedirect",
  "TemporaryRedirect",
  "IllegalLocationConstraintException",
  // The SDK corrects its clock by the store's and signs again.
  "RequestTimeTooSkewed",
]);

function notOurs(e: unknown): boolean {
  if (!(e instanceof S3Refusal)) return false;
  // A URL signed by a clock far off the store's: S3 says it has expired, or is not valid yet.
  return NOT_OURS.has(e.name) || (e.name === "AccessDenied" && /expired|not yet valid/i.test(e.message));
}

/** Bodies up to this size (a log, usually) are sent in one request: within the request deadline at 35 KB/s. */
const SMALL_PUT = 1 << 20;

/** The whole of a small body, in memory; its own failure (a file that vanished) is thrown as it is. */
async function readWhole(body: Readable, signal?: AbortSignal): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) {
    if (signal?.aborted) {
      body.destroy();
      throw signal.reason;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export class S3Store implements ObjectStore {
  readonly description: string;
  private connection: Promise<Connection> | null = null;
  /** Requests without the SDK (s3-signed.ts); undefined until decided, null: through the SDK. */
  private target: Target | null | undefined;

  constructor(
    private readonly s3: S3Config & { bucket: string },
    private readonly limits: Limits,
    private readonly debug: Debug,
  ) {
    this.description = `s3://${s3.bucket}`;
  }

  where(key: string): string {
    return `s3://${this.s3.bucket}/${key}`;
  }

  async get(key: string, interrupt?: AbortSignal): Promise<Readable | null> {
    try {
      const res = await this.bounded((signal) => this.object(key, {}, signal), interrupt);
      const { size, etag } = res;
      const ranges = { connections: this.s3.downloadConnections, bytes: this.limits.rangeBytes ?? RANGE_BYTES };
      let source: RangeSource | null = null;
      if (size !== undefined && etag !== undefined && res.acceptRanges === "bytes" && comesAsRanges(size, ranges)) {
        source = { size, range: (start, end) => this.range(key, etag, size, start, end, interrupt) };
        this.debug(`${this.where(key)}: as ranges of ${ranges.bytes} bytes over ${ranges.connections} connections`);
      }
      return rangedBody(res.body, source, ranges);
    } catch (e) {
      if (isNoSuchKey(e)) return null;
      throw this.fault(e);
    }
  }

  /** Bytes start to end of the object `key` while its ETag is `etag` (ranged-body.ts). */
  private async range(
    key: string,
    etag: string,
    size: number,
    start: number,
    end: number,
    interrupt?: AbortSignal,
  ): Promise<ReadableStream<Uint8Array>> {
    const asked = `bytes ${start}-${end}/${size}`;
    try {
      const res = await this.bounded(
        (signal) => this.object(key, { range: `bytes=${start}-${end}`, ifMatch: etag }, signal),
        interrupt,
      );
      if (res.contentRange !== asked) {
        res.body.cancel().catch(() => {});
        throw new StoreError(`asked for ${asked}, the store answered ${res.contentRange ?? "without a range"}`);
      }
      return res.body;
    } catch (e) {
      if ((e as Error)?.name === "PreconditionFailed")
        throw new StoreError(`${this.where(key)} was replaced while it was downloaded`);
      throw this.fault(e);
    }
  }

  /**
   * A GET of `key`, answered once its headers are in: a URL signed here when
   * that can be done (s3-signed.ts), else through the SDK and fetch.
   */
  private object(key: string, only: { range?: string; ifMatch?: string }, signal: AbortSignal): Promise<Answer> {
    return this.eitherWay(
      async (target) => {
        const headers: Record<string, string> = {};
        if (only.range) headers.range = only.range;
        if (only.ifMatch) headers["if-match"] = only.ifMatch;
        const res = await signedRequest(target, key, { method: "GET", headers }, this.limits, signal);
        const header = (name: string) => res.headers.get(name) ?? undefined;
        const length = header("content-length");
        return {
          body: res.body ?? new Response("").body!,
          size: length === undefined ? undefined : Number(length),
          etag: header("etag"),
          acceptRanges: header("accept-ranges"),
          contentRange: header("content-range"),
        };
      },
      async () => {
        const { sdk, download } = await this.connect();
        const res = await download.send(
          new sdk.GetObjectCommand({ Bucket: this.s3.bucket, Key: key, Range: only.range, IfMatch: only.ifMatch }),
          { abortSignal: signal },
        );
        return {
          // Through the fetch handler, the body is fetch's ReadableStream.
          body: res.Body as ReadableStream<Uint8Array>,
          size: res.ContentLength,
          etag: res.ETag,
          acceptRanges: res.AcceptRanges,
          contentRange: res.ContentRange,
        };
      },
    );
  }

  /**
   * `signed` over a URL signed here when that can be done, else `viaSdk`. A
   * store that will not take our signature, address or clock (a mistake of
   * ours, or a store unlike S3) is asked again, and from then on, through the SDK.
   */
  private async eitherWay<T>(signed: (target: Target) => Promise<T>, viaSdk: () => Promise<T>): Promise<T> {
    const target = this.signing();
    if (target) {
      try {
        return await signed(target);
      } catch (e) {
        if (!notOurs(e)) throw e;
        this.debug(`S3: ${describeError(e)} for a signed URL; going through the SDK instead`);
        this.target = null;
      }
    }
    return viaSdk();
  }

  /** Where requests go without the SDK: keys taken as the SDK would take them, and an address no AWS setting moves. */
  private signing(): Target | null {
    if (this.target !== undefined) return this.target;
    const { endpoint, region, bucket } = this.s3;
    const keys = signingKeys(this.s3);
    const not = keys ? (endpoint ? null : awsEndpointSetting(this.s3)) : "the credentials come from the AWS chain";
    this.debug(
      not
        ? `S3 requests through the SDK: ${not}`
        : `S3 requests: URLs signed here with ${keys!.from}, without the SDK (archives are uploaded through it)`,
    );
    this.target = not ? null : { endpoint, region, bucket, ...keys!.keys };
    return this.target;
  }

  async put(key: string, body: Readable, opts: PutOptions = {}): Promise<void> {
    // A small body (a log) goes in one request, signed here: the SDK need not be loaded for it.
    // Not with a storage class: that is an x-amz- header, which a URL's signature does not cover.
    if (opts.size !== undefined && opts.size <= SMALL_PUT && !this.s3.storageClass && this.signing())
      return this.putSmall(key, await readWhole(body, opts.signal), opts);
    const { client } = await this.connect();
    const { Upload } = await import("@aws-sdk/lib-storage");
    // Anything moving (body read, part sent) counts as progress; silence for
    // stallMs aborts the upload. Socket timeouts cover a stuck request, this
    // covers the rest (a server that accepts bytes at a trickle, a lost timer).
    let stalled = false;
    const watchdog = new StallWatchdog(this.limits.stallMs, () => {
      stalled = true;
      upload.abort().catch((e) => this.debug(`aborting the stalled upload of ${key}: ${describeError(e)}`));
    });
    const counted = body.pipe(
      new Transform({
        highWaterMark: 1 << 20,
        transform(chunk, _enc, cb) {
          watchdog.kick();
          cb(null, chunk);
        },
      }),
    );
    body.on("error", (e) => counted.destroy(e));
    // Upload starts reading a few awaits later; an early error (an output that
    // vanished) must wait on the stream for it rather than go unhandled.
    counted.on("error", () => {});
    // lib-storage buffers queueSize × partSize (4 × 5 MB) and streams the rest:
    // small archives go up as one PutObject, big ones as a multipart upload,
    // whose parts are aborted (not left billed) when anything fails.
    const upload = new Upload({
      client,
      params: {
        Bucket: this.s3.bucket,
        Key: key,
        Body: counted,
        ContentType: opts.contentType,
        // Sent with the PutObject, or with CompleteMultipartUpload (lib-storage passes params on).
        ...(opts.ifAbsent ? { IfNoneMatch: "*" } : {}),
        // Only streamed objects (archives, logs) get the class: infrequent-access
        // classes bill tiny pointer files as 128 KB each.
        ...(this.s3.storageClass ? { StorageClass: this.s3.storageClass as never } : {}),
      },
      queueSize: 4,
      partSize: 5 * 1024 * 1024,
      leavePartsOnError: false,
    });
    upload.on("httpUploadProgress", () => watchdog.kick());
    watchdog.kick();
    // Failing the body is how an upload gives up cleanly: lib-storage aborts a
    // multipart upload once its parts in flight have settled. Without one (a
    // single PutObject, a log), there is nothing to clean up, and abort() stops
    // the wait for a request in flight at once.
    const { signal } = opts;
    const stop = () => {
      body.destroy(signal?.reason);
      if (upload.uploadId === undefined)
        upload.abort().catch((e) => this.debug(`aborting the upload of ${key}: ${describeError(e)}`));
    };
    if (signal?.aborted) stop();
    signal?.addEventListener("abort", stop, { once: true });
    try {
      await upload.done();
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      if (stalled) throw new StoreError(`upload stalled: nothing sent for ${seconds(this.limits.stallMs)}, aborted`);
      // A failing body (an unreadable output) is the archive's fault, not the store's.
      if (!isSdkError(e) && body.errored) throw body.errored;
      if (opts.ifAbsent && isTaken(e)) throw new ObjectExists(key);
      throw this.fault(e);
    } finally {
      signal?.removeEventListener("abort", stop);
      watchdog.stop();
      // A failed upload leaves the archive writer suspended with a file open:
      // destroying the stream ends it (and closes the file).
      if (!body.readableEnded) body.destroy();
    }
  }

  async stat(key: string): Promise<{ size: number; modified: Date } | null> {
    try {
      return await this.bounded((signal) =>
        this.eitherWay(
          async (target) => {
            const res = await signedRequest(target, key, { method: "HEAD" }, this.limits, signal);
            const modified = res.headers.get("last-modified");
            return { size: Number(res.headers.get("content-length") ?? 0), modified: new Date(modified ?? 0) };
          },
          async () => {
            const { sdk, client } = await this.connect();
            const head = new sdk.HeadObjectCommand({ Bucket: this.s3.bucket, Key: key });
            const res = await client.send(head, { abortSignal: signal });
            return { size: res.ContentLength ?? 0, modified: res.LastModified ?? new Date(0) };
          },
        ),
      );
    } catch (e) {
      // HEAD has no body, so no error code: a missing object is a bare 404 (NotFound).
      if (isNoSuchKey(e) || (e as Error)?.name === "NotFound") return null;
      throw this.fault(e);
    }
  }

  async getText(key: string): Promise<string | null> {
    try {
      return await this.bounded(async (signal) => new Response((await this.object(key, {}, signal)).body).text());
    } catch (e) {
      if (isNoSuchKey(e)) return null;
      throw this.fault(e);
    }
  }

  putText(key: string, text: string, opts: PutOptions = {}): Promise<void> {
    return this.putSmall(key, text, opts);
  }

  /** One PutObject of `body`, within the request deadline. */
  private async putSmall(key: string, body: string | Uint8Array, opts: PutOptions): Promise<void> {
    const contentType = opts.contentType ?? "text/plain; charset=utf-8";
    try {
      await this.bounded(
        (signal) =>
          this.eitherWay(
            async (target) => {
              const headers: Record<string, string> = { "content-type": contentType };
              if (opts.ifAbsent) headers["if-none-match"] = "*";
              const res = await signedRequest(target, key, { method: "PUT", headers, body }, this.limits, signal);
              await res.arrayBuffer(); // S3's answer to a PUT is empty; read, the connection is free again
            },
            async () => {
              const { sdk, client } = await this.connect();
              await client.send(
                new sdk.PutObjectCommand({
                  Bucket: this.s3.bucket,
                  Key: key,
                  Body: body,
                  ContentType: contentType,
                  ...(opts.ifAbsent ? { IfNoneMatch: "*" } : {}),
                }),
                { abortSignal: signal },
              );
            },
          ),
        opts.signal,
      );
    } catch (e) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (opts.ifAbsent && isTaken(e)) throw new ObjectExists(key);
      throw this.fault(e);
    }
  }

  private connect(): Promise<Connection> {
    this.connection ??= Promise.all([import("@aws-sdk/client-s3"), import("@smithy/fetch-http-handler")]).then(
      ([sdk, { FetchHttpHandler }]) => {
        const { endpoint, region, accessKeyId, secretAccessKey } = this.s3;
        const staticKeys = accessKeyId !== null && secretAccessKey !== null;
        this.debug(
          `S3 client: ${endpoint ?? "AWS"} region ${region}, bucket ${this.s3.bucket}, ` +
            `credentials from ${staticKeys ? "TASKRUNNER_AWS_ACCESS_KEY/SECRET_KEY" : "the default AWS chain"}`,
        );
        const options = {
          region,
          // A custom endpoint (MinIO, R2, s3rver, …) is addressed path-style, as the old tool does.
          ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
          ...(staticKeys ? { credentials: { accessKeyId, secretAccessKey } } : {}),
          // Newer SDKs add CRC checksums to every request and validate them on
          // responses; many S3-compatible stores reject or lack them.
          requestChecksumCalculation: "WHEN_REQUIRED",
          responseChecksumValidation: "WHEN_REQUIRED",
          maxAttempts: this.limits.attempts,
          retryMode: "standard",
        } as const;
        const client = new sdk.S3Client({
          ...options,
          requestHandler: {
            connectionTimeout: this.limits.connectMs,
            // Idle socket: a transfer with no byte moving for this long fails (and is retried).
            socketTimeout: this.limits.stallMs,
          },
        });
        // fetch has no socket timeouts: an attempt waits for its answer at most
        // stallMs (then it is retried), all attempts together requestMs
        // (`bounded`), the body is watched for stalls (store.ts). The
        // credentials are the first client's, resolved once for both.
        const download = new sdk.S3Client({
          ...options,
          credentials: client.config.credentials,
          requestHandler: new FetchHttpHandler({
            requestTimeout: this.limits.stallMs,
            // Bun's fetch would go through HTTP(S)_PROXY; every other S3 request
            // (node:http) goes straight to the store, and so do downloads.
            customFetch: ((request: Request) => fetch(request, { proxy: false })) as typeof fetch,
          }),
        });
        return { sdk, client, download };
      },
    );
    return this.connection;
  }

  /**
   * Runs one request under a deadline: until the response headers for a
   * streamed get (its body is bounded by the stall watchdog instead), or the
   * whole exchange for small objects, whose body `run` reads itself.
   */
  private async bounded<T>(run: (signal: AbortSignal) => Promise<T>, interrupt?: AbortSignal): Promise<T> {
    const ctl = new AbortController();
    const timer = setTimeout(
      () => ctl.abort(new StoreError(`no answer within ${seconds(this.limits.requestMs)}`)),
      this.limits.requestMs,
    );
    const stop = () => ctl.abort(interrupt?.reason);
    if (interrupt?.aborted) stop();
    interrupt?.addEventListener("abort", stop, { once: true });
    try {
      return await run(ctl.signal);
    } catch (e) {
      if (ctl.signal.aborted) throw ctl.signal.reason;
      throw e;
    } finally {
      clearTimeout(timer);
      interrupt?.removeEventListener("abort", stop);
    }
  }

  private fault(e: unknown): StoreError {
    if (e instanceof StoreError) return e;
    let msg = describeError(e);
    const name = (e as Error)?.name;
    if (name === "AccessDenied") msg += " (without s3:ListBucket, S3 also answers AccessDenied for a missing object)";
    if (name === "CredentialsProviderError")
      msg += " (set TASKRUNNER_AWS_ACCESS_KEY and TASKRUNNER_AWS_SECRET_KEY, or configure the AWS credential chain)";
    return new StoreError(msg, { cause: e });
  }
}

/** Only NoSuchKey is a miss: NoSuchBucket, a bare 404 from a wrong endpoint, or 403 are faults. */
function isNoSuchKey(e: unknown): boolean {
  return (e as Error)?.name === "NoSuchKey";
}

/** A conditional write refused: 412 (the key exists) or 409 (another conditional write to it is in flight). */
function isTaken(e: unknown): boolean {
  const name = (e as Error)?.name;
  return name === "PreconditionFailed" || name === "ConditionalRequestConflict";
}

function isSdkError(e: unknown): boolean {
  return typeof e === "object" && e !== null && "$metadata" in e;
}
