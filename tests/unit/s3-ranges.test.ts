// A big archive downloaded over several connections (TASKRUNNER_S3_DOWNLOAD_CONNECTIONS),
// from a real S3 server (s3rver): consecutive byte ranges, each of the version the first
// answer had, put back together in order. Ranges of 64 KB here (TEST_LIMITS.rangeBytes).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fakeS3, openCache, removeScratch, s3Backend, scratch, TEST_LIMITS } from "../fakes/cache-backends";
import { describeTree, prepareRoot } from "../fakes/trees";

const RANGE = TEST_LIMITS.rangeBytes;
const KEY = "taskrunner/bundles/big.tar.zst";

beforeAll(async () => s3Backend.setup!());
afterAll(async () => {
  await s3Backend.teardown!();
  removeScratch();
});

const keys = generateKeyPairSync("ed25519");
const SIGNED = {
  TASKRUNNER_CACHE_SIGNING_KEY: keys.privateKey.export({ type: "pkcs8", format: "pem" }) as string,
  TASKRUNNER_CACHE_TRUSTED_KEYS: keys.publicKey.export({ type: "spki", format: "pem" }) as string,
};
const IDENTITY = { kind: "archive", job: "big", version: null, hash: "h" } as const;

/** A bucket holding the archive of `files` random files of `size` bytes (random: the archive is as big). */
async function bucketWithArchive(connections: number, files: number, size = 100_000, extraEnv = {}) {
  const s3 = fakeS3();
  const bucket = await s3.newBucket();
  const dir = scratch();
  const lines = { warn: [] as string[], debug: [] as string[] };
  const env = { ...s3.env(bucket), TASKRUNNER_S3_DOWNLOAD_CONNECTIONS: String(connections), ...extraEnv };
  const cache = openCache(env, dir, lines);
  const src = join(dir, "src");
  mkdirSync(join(src, "out"), { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(join(src, `out/f${i}`), randomBytes(size));
  const prepared = await cache.prepareSave("big.tar.zst", src, ["out"], { identity: IDENTITY });
  expect(prepared.kind === "ready" && (await prepared.upload()).kind).toBe("saved");
  const archive = (await s3.getObject(bucket, KEY))!.body;
  const before = s3.requests(bucket).length;
  // The downloads since: "GET /bucket/key", with " (bytes=a-b)" for a range.
  const get = `GET /${bucket}/${KEY}`;
  const gets = () =>
    s3
      .requests(bucket)
      .slice(before)
      .map((r) => r.replace("?x-id=GetObject", ""))
      .filter((r) => r === get || r.startsWith(`${get} (`));
  return { s3, bucket, dir, lines, cache, src, archive, gets };
}

/** The ranged GETs that follow the first answer's stream (its first RANGE bytes), in order. */
function rangesAfterFirst(bucket: string, size: number): string[] {
  const out: string[] = [];
  for (let start = RANGE; start < size; start += RANGE)
    out.push(`GET /${bucket}/${KEY} (bytes=${start}-${Math.min(start + RANGE, size) - 1})`);
  return out;
}

describe("a download over several connections", () => {
  test("a big archive comes as consecutive ranges after the first 64 KB, and is restored whole", async () => {
    const b = await bucketWithArchive(3, 8); // ~800 KB: thirteen ranges
    const root = join(b.dir, "root");
    expect(await b.cache.restoreArchive("big.tar.zst", root)).toMatchObject({ kind: "restored" });
    expect(describeTree(join(root, "out"))).toEqual(describeTree(join(b.src, "out")));
    const gets = b.gets();
    expect(gets[0]).toBe(`GET /${b.bucket}/${KEY}`);
    expect(gets.slice(1).sort()).toEqual(rangesAfterFirst(b.bucket, b.archive.length).sort());
    expect(b.lines.debug).toContain(`s3://${b.bucket}/${KEY}: as ranges of ${RANGE} bytes over 3 connections`);
  });

  test("one connection (the default), or an archive of three ranges or less: one plain GET", async () => {
    const one = await bucketWithArchive(1, 8);
    expect(await one.cache.restoreArchive("big.tar.zst", join(one.dir, "root"))).toMatchObject({ kind: "restored" });
    expect(one.gets()).toEqual([`GET /${one.bucket}/${KEY}`]);
    const small = await bucketWithArchive(4, 1, 3 * RANGE - 2000); // compressed, still at most 3 × 64 KB
    expect(small.archive.length).toBeLessThanOrEqual(3 * RANGE);
    expect(await small.cache.restoreArchive("big.tar.zst", join(small.dir, "root"))).toMatchObject({
      kind: "restored",
    });
    expect(small.gets()).toEqual([`GET /${small.bucket}/${KEY}`]);
    expect(describeTree(join(small.dir, "root/out"))).toEqual(describeTree(join(small.src, "out")));
  });

  test("a range the store fails (HTTP 500): failed in one line, and the root is untouched", async () => {
    const b = await bucketWithArchive(3, 8);
    b.s3.pace(b.bucket, {
      async beforeGet(_path, range) {
        if (range) throw new Error("the store fails ranges");
      },
    });
    const { root, before } = prepareRoot(b.dir);
    const r = await b.cache.restoreArchive("big.tar.zst", root);
    expect(r).toEqual({
      kind: "failed",
      message:
        `download of s3://${b.bucket}/${KEY} failed: ` +
        "InternalError: We encountered an internal error. Please try again. (HTTP 500)",
    });
    expect(describeTree(root)).toEqual(before);
  });

  test("a range that does not come: failed within the stall bound, and the root is untouched", async () => {
    const b = await bucketWithArchive(3, 8);
    b.s3.pace(b.bucket, {
      async beforeGet(_path, range) {
        if (range) await Bun.sleep(TEST_LIMITS.requestMs + 1000);
      },
    });
    const { root, before } = prepareRoot(b.dir);
    const started = performance.now();
    const r = await b.cache.restoreArchive("big.tar.zst", root);
    expect(performance.now() - started).toBeLessThan(TEST_LIMITS.stallMs + 2000);
    expect(r).toEqual({
      kind: "failed",
      message: `download of s3://${b.bucket}/${KEY} failed: no data for 1 s, transfer abandoned`,
    });
    expect(describeTree(root)).toEqual(before);
  });

  test("a signed archive: its bytes are checked across the ranges, in order", async () => {
    const b = await bucketWithArchive(3, 8, 100_000, SIGNED);
    const root = join(b.dir, "root");
    const restored = await b.cache.restoreArchive("big.tar.zst", root, { identity: IDENTITY });
    expect(restored).toMatchObject({ kind: "restored" });
    expect(describeTree(join(root, "out"))).toEqual(describeTree(join(b.src, "out")));
    expect(b.gets().length).toBe(1 + rangesAfterFirst(b.bucket, b.archive.length).length);
    // The same archive with one byte changed in its last range, stored in its place: refused.
    const changed = Buffer.from(b.archive);
    changed[changed.length - 10] ^= 1;
    await b.s3.putObject(b.bucket, KEY, changed);
    const other = prepareRoot(join(b.dir, "other"));
    const r = await b.cache.restoreArchive("big.tar.zst", other.root, { identity: IDENTITY });
    expect(r.kind).toBe("failed");
    const message = r.kind === "failed" ? r.message : "";
    expect(message).toStartWith(`s3://${b.bucket}/${KEY} does not match its signature by key `);
    expect(message).toEndWith(": its bytes changed since it was signed (its SHA-256 differs)");
    expect(describeTree(other.root)).toEqual(other.before);
  });

  test("an archive replaced during the download fails in one line, and the root is untouched", async () => {
    const b = await bucketWithArchive(2, 8);
    // The same size and the same first 64 KB, one byte changed near the end: another version.
    const other = Buffer.from(b.archive);
    other[other.length - 10] ^= 1;
    let replaced = false;
    b.s3.pace(b.bucket, {
      async beforeGet(_path, range) {
        if (range && !replaced) {
          replaced = true;
          await b.s3.putObject(b.bucket, KEY, other);
        }
      },
    });
    const { root, before } = prepareRoot(b.dir);
    const r = await b.cache.restoreArchive("big.tar.zst", root);
    expect(r.kind).toBe("failed");
    const message = r.kind === "failed" ? r.message : "";
    expect(message).toContain(`s3://${b.bucket}/${KEY} was replaced while it was downloaded`);
    expect(message).not.toContain("\n");
    expect(describeTree(root)).toEqual(before);
  });
});
