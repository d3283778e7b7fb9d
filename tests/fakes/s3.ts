// A real S3 server for tests: s3rver on 127.0.0.1, a random free port, its
// own temporary directory. Tests talk HTTP to it through the same SDK the
// product uses; nothing is mocked. Reused by the golden tests:
//
//   const s3 = await startFakeS3();
//   const bucket = await s3.newBucket();
//   run taskrunner with { ...s3.env(bucket) }
//   await s3.stop();
//
// In front of s3rver's routes sits one middleware of ours: it logs each
// request, answers AbortMultipartUpload as S3 does (s3rver refuses it, and
// would keep every abandoned upload), honours `If-None-Match: *` on PutObject
// and CompleteMultipartUpload as S3 does since 2024 (s3rver 3.7 reads the
// header on GET only, and would overwrite), and `If-Match` on GetObject (s3rver
// ignores it), and can pace a bucket's traffic so that a test can catch a
// transfer in the middle. s3rver does not check Signature Version 4 signatures:
// the middleware checks those in a URL (requests signed without the SDK) with the
// SDK's own signer.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Transform } from "node:stream";
import { createHash, createHmac } from "node:crypto";
import S3rver from "s3rver";
import { SignatureV4 } from "@smithy/signature-v4";
import { afterAll, beforeAll } from "bun:test";
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";

/** s3rver's one built-in account. */
export const FAKE_S3_KEY = "S3RVER";
export const FAKE_S3_REGION = "eu-central-1";

/** How slowly a bucket answers. */
export interface Pace {
  /** Each UploadPart request waits this long before it is stored. */
  partDelayMs?: number;
  /** Object downloads are sent at this rate. */
  downloadBytesPerSecond?: number;
  /** Every upload request (PutObject, UploadPart, CompleteMultipartUpload) is answered 500 InternalError. */
  failUploads?: boolean;
  /** Runs before a GetObject of the bucket is served ("/bucket/key", the Range header if any). */
  beforeGet?: (path: string, range: string | undefined) => Promise<void>;
  /**
   * A request signed in its URL (X-Amz-Signature) is refused with this S3
   * error (HTTP 403), as by a store that takes signed headers only, or whose clock is far off.
   */
  refuseSignedUrls?: { code: string; message: string };
}

export interface FakeS3 {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  readonly port: number;
  /** A fresh, empty bucket with a unique name. */
  newBucket(): Promise<string>;
  /** The TASKRUNNER_* variables that point taskrunner at `bucket` on this server. */
  env(bucket: string): Record<string, string>;
  getObject(
    bucket: string,
    key: string,
  ): Promise<{ body: Buffer; contentType: string | undefined; storageClass: string | undefined } | null>;
  putObject(bucket: string, key: string, body: Buffer | string): Promise<void>;
  listKeys(bucket: string): Promise<string[]>;
  /** Keys of the bucket's multipart uploads begun and neither completed nor aborted. */
  pendingUploads(bucket: string): string[];
  /** Requests to the bucket so far, as "METHOD /bucket/key?query", and " (bytes=a-b)" for a ranged one. */
  requests(bucket: string): string[];
  pace(bucket: string, pace: Pace): void;
  /** Stops the server and deletes its files. Safe to call twice. */
  stop(): Promise<void>;
}

let bucketCounter = 0;

/** One fake S3 server for a test file, started before its tests and stopped after them: call at the top level. */
export function fakeS3ForSuite(): () => FakeS3 {
  let s3: FakeS3 | null = null;
  beforeAll(async () => {
    s3 = await startFakeS3();
  });
  afterAll(async () => s3?.stop());
  return () => s3!;
}

export async function startFakeS3(): Promise<FakeS3> {
  const directory = mkdtempSync(join(tmpdir(), "fake-s3-"));
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory, resetOnClose: true });
  const log: string[] = [];
  const paces = new Map<string, Pace>();
  /** The last conditional write of each "bucket/key", for the next one to wait on. */
  const conditional = new Map<string, Promise<void>>();
  const uploadsDir = (bucket: string): string =>
    (server as unknown as StoreOf).store.getResourcePath(bucket, undefined, "uploads");
  (server as unknown as { middleware: Middleware[] }).middleware.unshift(async (ctx, next) => {
    const [, bucket = ""] = ctx.path.split("/");
    const range = ctx.headers.range ? ` (${ctx.headers.range})` : "";
    // A URL's signature (X-Amz-*, a read signed without the SDK) is left out, as the SDK's headers are.
    const query = ctx.querystring
      .split("&")
      .filter((p) => p && !/^x-amz-/i.test(p))
      .join("&");
    log.push(`${ctx.method} ${ctx.path}${query ? `?${query}` : ""}${range}`);
    const pace = paces.get(bucket) ?? {};
    const uploadId = ctx.query.uploadId;
    if (ctx.method === "DELETE" && typeof uploadId === "string") {
      const dir = join(uploadsDir(bucket), uploadId);
      if (!/^[0-9a-f]+$/.test(uploadId) || !existsSync(dir)) {
        s3Error(ctx, 404, "NoSuchUpload", "The specified upload does not exist.");
        return;
      }
      rmSync(dir, { recursive: true, force: true });
      ctx.status = 204;
      return;
    }
    const signature = ctx.query["X-Amz-Signature"];
    if (typeof signature === "string") {
      const refusal =
        pace.refuseSignedUrls ?? ((await signatureHolds(ctx, signature)) ? null : SIGNATURE_DOES_NOT_MATCH);
      if (refusal) {
        s3Error(ctx, 403, refusal.code, refusal.message);
        return;
      }
    }
    if (ctx.method === "PUT" && ctx.query.partNumber && pace.partDelayMs) await Bun.sleep(pace.partDelayMs);
    const uploading = ctx.method === "PUT" || (ctx.method === "POST" && typeof uploadId === "string");
    if (pace.failUploads && uploading && ctx.path !== `/${bucket}`) {
      s3Error(ctx, 500, "InternalError", "We encountered an internal error. Please try again.");
      return;
    }
    const completing =
      (ctx.method === "PUT" && !ctx.query.partNumber) || (ctx.method === "POST" && typeof uploadId === "string");
    if (completing && ctx.headers["if-none-match"] === "*") {
      // Check and store as one step per key, as S3 does: a second conditional write waits, then finds the key taken.
      const key = decodeURIComponent(ctx.path.slice(bucket.length + 2));
      const earlier = conditional.get(`${bucket}/${key}`) ?? Promise.resolve();
      let done = () => {};
      const gate = new Promise<void>((resolve) => (done = resolve));
      conditional.set(
        `${bucket}/${key}`,
        earlier.then(() => gate),
      );
      await earlier;
      try {
        if (await (server as unknown as StoreOf).store.existsObject(bucket, key)) {
          preconditionFailed(ctx, "If-None-Match");
          return;
        }
        await next();
        return;
      } finally {
        done();
      }
    }
    if (ctx.method === "GET" && pace.beforeGet) await pace.beforeGet(ctx.path, ctx.headers.range);
    await next();
    const ifMatch = ctx.headers["if-match"];
    if (ctx.method === "GET" && ifMatch && ctx.status < 300 && ctx.response.get("ETag") !== ifMatch) {
      // As S3 does (s3rver ignores If-Match): the object is no longer the version asked for.
      (ctx.body as NodeJS.ReadableStream & { destroy?: () => void })?.destroy?.();
      preconditionFailed(ctx, "If-Match");
      return;
    }
    const rate = pace.downloadBytesPerSecond;
    if (ctx.method === "GET" && rate && ctx.body && typeof (ctx.body as NodeJS.ReadableStream).pipe === "function") {
      const length = ctx.length;
      ctx.body = (ctx.body as NodeJS.ReadableStream).pipe(paced(rate));
      if (length !== undefined) ctx.length = length;
    }
  });
  const address = (await server.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = new S3Client({
    endpoint,
    region: FAKE_S3_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: FAKE_S3_KEY, secretAccessKey: FAKE_S3_KEY },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 1,
  });
  let stopped = false;
  return {
    endpoint,
    port: address.port,
    async newBucket() {
      const name = `test-${process.pid}-${++bucketCounter}-${Math.random().toString(36).slice(2, 8)}`;
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
    env(bucket) {
      return {
        TASKRUNNER_S3_ENDPOINT: endpoint,
        TASKRUNNER_AWS_REGION: FAKE_S3_REGION,
        TASKRUNNER_AWS_ACCESS_KEY: FAKE_S3_KEY,
        TASKRUNNER_AWS_SECRET_KEY: FAKE_S3_KEY,
        TASKRUNNER_REMOTE_CACHE_BUCKET: bucket,
      };
    },
    async getObject(bucket, key) {
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return {
          body: Buffer.from(await res.Body!.transformToByteArray()),
          contentType: res.ContentType,
          storageClass: res.StorageClass,
        };
      } catch (e) {
        if ((e as Error).name === "NoSuchKey") return null;
        throw e;
      }
    },
    async putObject(bucket, key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    async listKeys(bucket) {
      const res = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      return (res.Contents ?? []).map((o) => o.Key!).sort();
    },
    pendingUploads(bucket) {
      const dir = uploadsDir(bucket);
      if (!existsSync(dir)) return [];
      // Read while uploads begin and end: one whose key is not written yet is pending; one gone since the listing is not.
      return readdirSync(dir).flatMap((id) => {
        try {
          return [readFileSync(join(dir, id, "key"), "utf8")];
        } catch {
          return existsSync(join(dir, id)) ? [`(upload ${id}, key not written yet)`] : [];
        }
      });
    },
    requests(bucket) {
      return log.filter((line) => line.split(" ")[1].startsWith(`/${bucket}/`) || line.split(" ")[1] === `/${bucket}`);
    },
    pace(bucket, pace) {
      paces.set(bucket, pace);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      client.destroy();
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;
interface KoaContext {
  method: string;
  headers: Record<string, string | undefined>;
  path: string;
  /** The Host header: name and port. */
  host: string;
  hostname: string;
  querystring: string;
  query: Record<string, string | string[] | undefined>;
  status: number;
  type: string;
  body: unknown;
  length: number | undefined;
  /** A response header's value ("" when unset). */
  response: { get(field: string): string };
}
interface StoreOf {
  store: {
    getResourcePath(bucket: string, key: string | undefined, resource: string): string;
    existsObject(bucket: string, key: string): Promise<boolean>;
  };
}

/** S3's answer to a request whose condition (the header named) does not hold. */
function preconditionFailed(ctx: KoaContext, condition: "If-Match" | "If-None-Match"): void {
  s3Error(ctx, 412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", {
    Condition: condition,
  });
}

/** An error answer as S3 words it: an XML body naming the code. */
function s3Error(ctx: KoaContext, status: number, code: string, message: string, more: Record<string, string> = {}) {
  const extra = Object.entries(more)
    .map(([k, v]) => `<${k}>${v}</${k}>`)
    .join("");
  ctx.status = status;
  ctx.type = "application/xml";
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message>${extra}</Error>`;
}

/** Passes bytes on at about `rate` bytes per second. */
function paced(rate: number): Transform {
  const start = Date.now();
  let sent = 0;
  return new Transform({
    async transform(chunk: Buffer, _enc, done) {
      sent += chunk.length;
      const due = start + (sent / rate) * 1000;
      if (due > Date.now()) await Bun.sleep(due - Date.now());
      done(null, chunk);
    },
  });
}

export const SIGNATURE_DOES_NOT_MATCH = {
  code: "SignatureDoesNotMatch",
  message: "The request signature we calculated does not match the signature you provided.",
};

/** Whether a URL's signature is the one the SDK's signer makes for the request as received (path and host as sent). */
async function signatureHolds(ctx: KoaContext, provided: string): Promise<boolean> {
  const query = Object.fromEntries(Object.entries(ctx.query).filter(([k]) => k !== "X-Amz-Signature"));
  const [accessKeyId, , region] = String(query["X-Amz-Credential"]).split("/");
  const date = String(query["X-Amz-Date"]).replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, "$1-$2-$3T$4:$5:$6Z");
  const signer = new SignatureV4({
    service: "s3",
    region,
    credentials: { accessKeyId, secretAccessKey: FAKE_S3_KEY, sessionToken: query["X-Amz-Security-Token"] as string },
    sha256: Sha256,
    uriEscapePath: false, // S3 signs a path as it is sent
    applyChecksum: false,
  });
  const unsigned = new Set(["x-amz-content-sha256"]);
  const signed = await signer.presign(
    {
      method: ctx.method,
      protocol: "http:",
      hostname: ctx.hostname,
      path: ctx.path,
      query: {},
      headers: { host: ctx.host, "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
    },
    {
      signingDate: new Date(date),
      expiresIn: Number(query["X-Amz-Expires"]),
      unsignableHeaders: unsigned,
      unhoistableHeaders: unsigned,
    },
  );
  return signed.query?.["X-Amz-Signature"] === provided;
}

/** SHA-256 and HMAC-SHA256 as the SDK's signer asks for them. */
class Sha256 {
  private readonly hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash("sha256") : createHmac("sha256", bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}

function bytes(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === "string") return data;
  return ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
}
