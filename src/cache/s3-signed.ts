// Requests to S3 without the SDK: the request's URL carries its own signature
// (AWS Signature Version 4, in the query string), and fetch sends it. Loading
// the SDK and making its first request cost a process more than a small
// restore takes (bench/README.md); a signed URL costs well under a
// millisecond. Used for reads, small writes (pointers, signatures, logs) and
// the existence checks, when the keys are in the environment (signingKeys) and no
// AWS setting moves the endpoint (awsEndpointSetting); archives are uploaded
// through the SDK (multipart), and so is everything when these cannot be used.
//
// It behaves as the SDK does for the stores' callers: the same retries of
// the same faults, and a refusal becomes an error named by S3's code, with
// S3's message and the HTTP status, as the SDK's errors are.
import { createHash, createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import type { S3Config } from "../config";
import type { Limits } from "./store";

/** Keys to sign with. */
export interface Keys {
  accessKeyId: string;
  secretAccessKey: string;
  /** Temporary credentials' token (an assumed role's). */
  sessionToken: string | null;
}

/** Where and as whom: the store's address and keys. */
export interface Target extends Pick<S3Config, "endpoint" | "region">, Keys {
  bucket: string;
}

/**
 * The keys requests can be signed with, and where they come from: the TASKRUNNER_
 * keys, else the AWS chain's when it would take them from the environment.
 * Null: the chain would look further (a profile, SSO, a role), so the SDK sends them.
 */
export function signingKeys(s3: S3Config): { keys: Keys; from: string } | null {
  const { accessKeyId, secretAccessKey, awsEnvironmentKeys } = s3;
  if (accessKeyId !== null && secretAccessKey !== null)
    return { keys: { accessKeyId, secretAccessKey, sessionToken: null }, from: "TASKRUNNER_AWS_ACCESS_KEY/SECRET_KEY" };
  if (awsEnvironmentKeys) return { keys: awsEnvironmentKeys, from: "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY" };
  return null;
}

/** S3's answer to a request it refused, shaped as the SDK's errors (errors.ts describes both). */
export class S3Refusal extends Error {
  readonly $metadata: { httpStatusCode: number };
  constructor(code: string, message: string, status: number) {
    super(message);
    this.name = code;
    this.$metadata = { httpStatusCode: status };
  }
}

/** Seconds a signed URL stays valid; each request is signed as it is sent. */
const EXPIRES = 900;

export type Method = "GET" | "HEAD" | "PUT";

/** The URL of `key` in the bucket, addressed as the SDK addresses it, and signed for `method` at `now`. */
export function signedUrl(target: Target, method: Method, key: string, now: Date): string {
  const { host, path } = address(target, key);
  const scheme = target.endpoint ? new URL(target.endpoint).protocol : "https:";
  return `${scheme}//${host}${path}?${presignedQuery(target, { method, host, path }, now, EXPIRES)}`;
}

/**
 * The query string that signs a request for `path` on `host` (AWS Signature
 * Version 4, UNSIGNED-PAYLOAD; only the host is signed: no x-amz-* header may be sent).
 */
export function presignedQuery(
  keys: Pick<Target, "region" | "accessKeyId" | "secretAccessKey" | "sessionToken">,
  { method, host, path }: { method: Method; host: string; path: string },
  now: Date,
  expires: number,
): string {
  const date = now.toISOString().replace(/[-:]|\.\d{3}/g, ""); // 20130524T000000Z
  const day = date.slice(0, 8);
  const scope = `${day}/${keys.region}/s3/aws4_request`;
  const query = [
    ["X-Amz-Algorithm", "AWS4-HMAC-SHA256"],
    ["X-Amz-Credential", `${keys.accessKeyId}/${scope}`],
    ["X-Amz-Date", date],
    ["X-Amz-Expires", String(expires)],
    ...(keys.sessionToken === null ? [] : [["X-Amz-Security-Token", keys.sessionToken]]),
    ["X-Amz-SignedHeaders", "host"],
  ]
    .map(([k, v]) => `${k}=${uriEncode(v)}`)
    .join("&");
  const request = [method, path, query, `host:${host}`, "", "host", "UNSIGNED-PAYLOAD"].join("\n");
  const toSign = ["AWS4-HMAC-SHA256", date, scope, createHash("sha256").update(request).digest("hex")].join("\n");
  let signingKey: Buffer = Buffer.from(`AWS4${keys.secretAccessKey}`);
  for (const part of [day, keys.region, "s3", "aws4_request"]) signingKey = hmac(signingKey, part);
  return `${query}&X-Amz-Signature=${createHmac("sha256", signingKey).update(toSign).digest("hex")}`;
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

/**
 * A custom endpoint path-style (as the old tool, and forcePathStyle); AWS itself
 * virtual-hosted, except for a bucket whose name cannot be a TLS host name.
 */
function address(target: Target, key: string): { host: string; path: string } {
  const keyPath = key.split("/").map(uriEncode).join("/");
  if (target.endpoint) {
    const url = new URL(target.endpoint);
    return { host: url.host, path: `${url.pathname.replace(/\/+$/, "")}/${uriEncode(target.bucket)}/${keyPath}` };
  }
  const domain = target.region.startsWith("cn-") ? "amazonaws.com.cn" : "amazonaws.com";
  if (/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(target.bucket))
    return { host: `${target.bucket}.s3.${target.region}.${domain}`, path: `/${keyPath}` };
  return { host: `s3.${target.region}.${domain}`, path: `/${uriEncode(target.bucket)}/${keyPath}` };
}

/** Regions whose S3 is at s3.<region>.amazonaws.com(.cn); others (isolated partitions) go through the SDK. */
function plainAwsRegion(region: string): boolean {
  return /^[a-z]{2}(-gov)?-[a-z]+-\d+$/.test(region);
}

/**
 * What could make the SDK address AWS otherwise than signedUrl does: an
 * unusual partition, an AWS_* variable, the shared config file's profile
 * (read for endpoint_url, use_fips_endpoint, use_dualstack_endpoint). Null: nothing.
 */
export function awsEndpointSetting(s3: S3Config): string | null {
  if (!plainAwsRegion(s3.region)) return `the region ${s3.region} is not in AWS's standard partitions`;
  if (s3.awsEndpointVariable) return `${s3.awsEndpointVariable} is set`;
  if (s3.awsConfigFile === null) return null;
  let text: string;
  try {
    text = readFileSync(s3.awsConfigFile, "utf8");
  } catch {
    return null; // no config file (the usual case on CI), or one the SDK cannot read either
  }
  return /endpoint|fips|dualstack/i.test(text) ? `${s3.awsConfigFile} may set an endpoint` : null;
}

/** SigV4's encoding: every byte but A–Z a–z 0–9 - . _ ~ as %XX of its UTF-8. */
function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Faults the SDK's standard retry mode tries again: throttling, a 5xx, a timeout. */
const RETRIED_CODES = new Set([
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottledException",
  "TooManyRequestsException",
  "ProvisionedThroughputExceededException",
  "TransactionInProgressException",
  "RequestLimitExceeded",
  "BandwidthLimitExceeded",
  "LimitExceededException",
  "RequestThrottled",
  "SlowDown",
  "PriorRequestNotComplete",
  "EC2ThrottledException",
  "TimeoutError",
  "RequestTimeout",
  "RequestTimeoutException",
]);

/** A request: its method, headers (a range, a condition, a content type) and body (sent again by each attempt). */
export interface Request {
  method: Method;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
}

/**
 * Sends `request` for `key` and answers the response once its headers are
 * in; a GET's body is the caller's. A refusal throws an S3Refusal (NoSuchKey
 * for a missing key, NotFound for a HEAD's), after the retries.
 */
export async function signedRequest(
  target: Target,
  key: string,
  request: Request,
  limits: Pick<Limits, "stallMs" | "attempts">,
  signal: AbortSignal,
): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    const url = signedUrl(target, request.method, key, new Date());
    let fault: unknown;
    // Each attempt waits for its answer at most stallMs, as the SDK's fetch handler does.
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(timeoutError(limits.stallMs)), limits.stallMs);
    const stop = () => ctl.abort(signal.reason);
    signal.addEventListener("abort", stop, { once: true });
    try {
      const res = await fetch(url, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        signal: ctl.signal,
        redirect: "manual",
        // Like every other S3 request, never through HTTP(S)_PROXY.
        proxy: false,
      } as RequestInit);
      if (res.ok) return res;
      fault = await refusal(res);
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      fault = ctl.signal.aborted ? ctl.signal.reason : e;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", stop);
    }
    if (attempt >= limits.attempts || !retried(fault)) throw fault;
    // The SDK's backoff: a random delay up to 100 ms × 2^attempt, at most 20 s.
    await Bun.sleep(Math.random() * Math.min(20_000, 100 * 2 ** attempt));
    if (signal.aborted) throw signal.reason;
  }
}

/** The SDK's fetch handler's words for an answer that did not come in time (retried, as there). */
function timeoutError(ms: number): Error {
  const e = new Error(`Request did not complete within ${ms} ms`);
  e.name = "TimeoutError";
  return e;
}

function retried(fault: unknown): boolean {
  if (!(fault instanceof S3Refusal)) return true; // the connection failed: refused, reset, closed
  const status = fault.$metadata.httpStatusCode;
  return RETRIED_CODES.has(fault.name) || status === 429 || (status >= 500 && status <= 504);
}

/** S3's error document (<Error><Code>…</Code><Message>…</Message>), or the bare status when there is none. */
async function refusal(res: Response): Promise<S3Refusal> {
  const text = await res.text().catch(() => "");
  const code = xmlText(text, "Code");
  if (code) return new S3Refusal(code, xmlText(text, "Message") ?? "", res.status);
  // The SDK's names for an answer without an error document (a proxy's page, a wrong endpoint).
  return new S3Refusal(res.status === 404 ? "NotFound" : "Unknown", "", res.status);
}

function xmlText(xml: string, tag: string): string | null {
  const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml);
  if (!m) return null;
  return m[1].replace(/&(lt|gt|quot|apos|amp);/g, (_, e: string) => XML_ENTITIES[e]);
}

const XML_ENTITIES: Record<string, string> = { lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" };
