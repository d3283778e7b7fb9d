// Requests to S3 signed in their URL, without the SDK (cache/s3-signed.ts): the
// signature as AWS documents it, the address as the SDK would compute it, and,
// against a real S3 server (s3rver, whose URL signatures the fake checks with
// the SDK's signer), every read of a restore and every small write going this
// way — or through the SDK when they cannot.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config";
import { S3Store } from "../../src/cache/s3-store";
import { awsEndpointSetting, presignedQuery, signingKeys, signedUrl } from "../../src/cache/s3-signed";
import { TEST_LIMITS, fakeS3, openCache, removeScratch, s3Backend, scratch } from "../fakes/cache-backends";
import { SIGNATURE_DOES_NOT_MATCH } from "../fakes/s3";
import { describeTree, makeOutputTree, restoredOutputTree } from "../fakes/trees";

beforeAll(async () => s3Backend.setup!());
afterAll(async () => {
  await s3Backend.teardown!();
  removeScratch();
});

const KEYS = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  sessionToken: null,
};
const NOW = new Date("2013-05-24T00:00:00Z");

describe("the signature", () => {
  test("is AWS's own example of a presigned GET, to the character", () => {
    // "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)", Amazon S3 API Reference.
    const query = presignedQuery(
      { region: "us-east-1", ...KEYS },
      { method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt" },
      NOW,
      86400,
    );
    expect(query).toBe(
      "X-Amz-Algorithm=AWS4-HMAC-SHA256" +
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
    );
  });
});

describe("the address", () => {
  const at = (endpoint: string | null, bucket: string, key: string, region = "eu-central-1") =>
    signedUrl({ endpoint, region, bucket, ...KEYS }, "GET", key, NOW).split("?")[0];

  test("a custom endpoint: path-style, under the endpoint's own path", () => {
    expect(at("http://127.0.0.1:9000", "b", "taskrunner/bundles/x.tar.zst")).toBe(
      "http://127.0.0.1:9000/b/taskrunner/bundles/x.tar.zst",
    );
    expect(at("https://store.example.com/s3/", "b", "k")).toBe("https://store.example.com/s3/b/k");
  });

  test("AWS: the bucket's own host name, or path-style for a name that cannot be one under TLS", () => {
    expect(at(null, "my-bucket", "a/b.txt")).toBe("https://my-bucket.s3.eu-central-1.amazonaws.com/a/b.txt");
    expect(at(null, "my.bucket", "k")).toBe("https://s3.eu-central-1.amazonaws.com/my.bucket/k");
    expect(at(null, "my-bucket", "k", "cn-north-1")).toBe("https://my-bucket.s3.cn-north-1.amazonaws.com.cn/k");
  });

  test("a key is encoded byte by byte, its slashes kept", () => {
    expect(at("http://h", "b", "latest/job-feature/ä b+c!'()*~%.txt")).toBe(
      "http://h/b/latest/job-feature/%C3%A4%20b%2Bc%21%27%28%29%2A~%25.txt",
    );
  });
});

describe("when requests go without the SDK", () => {
  const s3 = (env: Record<string, string>) =>
    loadConfig({ TASKRUNNER_REMOTE_CACHE_BUCKET: "b", TASKRUNNER_AWS_REGION: "eu-west-1", ...env }, "/").s3;

  test("with the keys the SDK would take: TASKRUNNER_'s, else the environment's unless a profile is named", () => {
    const aws = { AWS_ACCESS_KEY_ID: "AK", AWS_SECRET_ACCESS_KEY: "SK" };
    const ours = { TASKRUNNER_AWS_ACCESS_KEY: "TK", TASKRUNNER_AWS_SECRET_KEY: "TS" };
    expect(signingKeys(s3({ ...aws, ...ours }))).toEqual({
      keys: { accessKeyId: "TK", secretAccessKey: "TS", sessionToken: null },
      from: "TASKRUNNER_AWS_ACCESS_KEY/SECRET_KEY",
    });
    expect(signingKeys(s3({ ...aws, AWS_SESSION_TOKEN: "T" }))).toEqual({
      keys: { accessKeyId: "AK", secretAccessKey: "SK", sessionToken: "T" },
      from: "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
    });
    // The SDK's chain skips the environment's keys when AWS_PROFILE names a profile.
    expect(signingKeys(s3({ ...aws, AWS_PROFILE: "ci" }))).toBeNull();
    expect(signingKeys(s3({ AWS_ACCESS_KEY_ID: "AK" }))).toBeNull();
  });

  test("a session token is signed in the URL", () => {
    const url = signedUrl(
      { endpoint: "http://h", region: "eu-west-1", bucket: "b", ...KEYS, sessionToken: "a/b+c=" },
      "GET",
      "k",
      NOW,
    );
    expect(url).toContain("&X-Amz-Security-Token=a%2Fb%2Bc%3D&X-Amz-SignedHeaders=host&X-Amz-Signature=");
  });

  test("on AWS: unless an AWS setting could move the endpoint", () => {
    const dir = scratch();
    const none = join(dir, "no-such-config");
    expect(awsEndpointSetting(s3({ AWS_CONFIG_FILE: none }))).toBeNull();
    expect(awsEndpointSetting(s3({ AWS_CONFIG_FILE: none, AWS_ENDPOINT_URL_S3: "http://x" }))).toBe(
      "AWS_ENDPOINT_URL_S3 is set",
    );
    expect(awsEndpointSetting(s3({ AWS_CONFIG_FILE: none, AWS_USE_FIPS_ENDPOINT: "true" }))).toBe(
      "AWS_USE_FIPS_ENDPOINT is set",
    );
    expect(awsEndpointSetting(s3({ AWS_CONFIG_FILE: none, TASKRUNNER_AWS_REGION: "us-iso-east-1" }))).toBe(
      "the region us-iso-east-1 is not in AWS's standard partitions",
    );
    const plain = join(dir, "plain");
    writeFileSync(plain, "[default]\nregion = eu-west-1\n");
    expect(awsEndpointSetting(s3({ AWS_CONFIG_FILE: plain }))).toBeNull();
    const moved = join(dir, "moved");
    writeFileSync(moved, "[default]\nregion = eu-west-1\nendpoint_url = http://minio:9000\n");
    expect(awsEndpointSetting(s3({ AWS_CONFIG_FILE: moved }))).toBe(`${moved} may set an endpoint`);
    // The shared config file is looked for where the SDK looks: $HOME/.aws/config.
    expect(s3({ HOME: "/home/ci" }).awsConfigFile).toBe("/home/ci/.aws/config");
  });
});

describe("reads from a real S3 server", () => {
  test("a restore and its pointer go without the SDK, over signed URLs the server accepts", async () => {
    const server = fakeS3();
    const bucket = await server.newBucket();
    const dir = scratch();
    const lines = { warn: [] as string[], debug: [] as string[] };
    const { outputs } = makeOutputTree(join(dir, "src"));
    const saving = openCache(server.env(bucket), dir, { warn: [], debug: [] });
    expect(await saving.saveArchive("x.tar.zst", join(dir, "src"), outputs)).toMatchObject({ kind: "saved" });
    await saving.setLatestHash("job", "feature/ä b", "h1");

    const cache = openCache(server.env(bucket), dir, lines);
    const root = join(dir, "dest");
    expect(await cache.restoreArchive("x.tar.zst", root)).toMatchObject({ kind: "restored" });
    expect(describeTree(root)).toEqual(restoredOutputTree(join(dir, "src")));
    expect(await cache.getLatestHash("job", "feature/ä b")).toBe("h1");
    expect(await cache.getLatestHash("job", "other")).toBeNull();
    expect(lines.warn).toEqual([]);
    expect(lines.debug).toContain(
      "S3 requests: URLs signed here with TASKRUNNER_AWS_ACCESS_KEY/SECRET_KEY, without the SDK (archives are uploaded through it)",
    );
    // The SDK says which client it made when it is loaded: it never was.
    expect(lines.debug.filter((l) => l.startsWith("S3 client:"))).toEqual([]);
  });

  test("temporary keys from the environment (an assumed role's): the token is signed, and checked", async () => {
    const server = fakeS3();
    const bucket = await server.newBucket();
    const dir = scratch();
    const { outputs } = makeOutputTree(join(dir, "src"));
    const saving = openCache(server.env(bucket), dir, { warn: [], debug: [] });
    expect(await saving.saveArchive("x.tar.zst", join(dir, "src"), outputs)).toMatchObject({ kind: "saved" });
    const { TASKRUNNER_AWS_ACCESS_KEY: id, TASKRUNNER_AWS_SECRET_KEY: secret, ...rest } = server.env(bucket);
    const env = { ...rest, AWS_ACCESS_KEY_ID: id, AWS_SECRET_ACCESS_KEY: secret, AWS_SESSION_TOKEN: "token/of+a=role" };
    const lines = { warn: [] as string[], debug: [] as string[] };
    const root = join(dir, "dest");
    expect(await openCache(env, dir, lines).restoreArchive("x.tar.zst", root)).toMatchObject({ kind: "restored" });
    expect(describeTree(root)).toEqual(restoredOutputTree(join(dir, "src")));
    expect(lines.debug).toContain(
      "S3 requests: URLs signed here with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, without the SDK (archives are uploaded through it)",
    );
  });

  test("keys of any characters are found", async () => {
    const server = fakeS3();
    const bucket = await server.newBucket();
    const store = new S3Store({ ...loadConfig(server.env(bucket), "/").s3, bucket }, TEST_LIMITS, () => {});
    for (const key of ["a b/c+d", "ä/ö ü", "x!'()*~.txt", "100%/sure", "new\nline"]) {
      await server.putObject(bucket, key, `text of ${key}`);
      expect(await store.getText(key)).toBe(`text of ${key}`);
    }
    expect(await store.getText("a b/missing")).toBeNull();
  });

  test("the server checks a URL's signature: one made with another secret is refused", async () => {
    const server = fakeS3();
    const bucket = await server.newBucket();
    const dir = scratch();
    const lines = { warn: [] as string[], debug: [] as string[] };
    const cache = openCache({ ...server.env(bucket), TASKRUNNER_AWS_SECRET_KEY: "WRONG" }, dir, lines);
    await cache.restoreArchive("x.tar.zst", join(dir, "root"));
    // Asked again through the SDK, whose signatures s3rver does not check: there the archive is just missing.
    expect(lines.debug).toContainEqual(
      expect.stringMatching(/^S3: SignatureDoesNotMatch: .* \(HTTP 403\) for a signed URL; going through the SDK/),
    );
    expect([...lines.debug, ...lines.warn].filter((l) => /WRONG|X-Amz/.test(l))).toEqual([]);
  });

  test("a store that cannot be reached: said by host and port, never by the signed URL", async () => {
    const dir = scratch();
    const lines = { warn: [] as string[], debug: [] as string[] };
    const env = { ...fakeS3().env("bucket"), TASKRUNNER_S3_ENDPOINT: "http://127.0.0.1:9" };
    const r = await openCache(env, dir, lines).restoreArchive("x.tar.zst", join(dir, "root"));
    expect(r).toEqual({
      kind: "failed",
      message: "could not download s3://bucket/taskrunner/bundles/x.tar.zst: connect ECONNREFUSED 127.0.0.1:9",
    });
    expect([...lines.debug, ...lines.warn].filter((l) => /X-Amz|S3RVER/.test(l))).toEqual([]);
  });

  const refusals = [
    ["takes signed headers only", SIGNATURE_DOES_NOT_MATCH],
    ["finds the URL expired (a clock far off)", { code: "AccessDenied", message: "Request has expired" }],
  ] as const;
  test.each(refusals)("a store that %s is read through the SDK, from then on", async (_, refusal) => {
    const server = fakeS3();
    const bucket = await server.newBucket();
    const dir = scratch();
    const { outputs } = makeOutputTree(join(dir, "src"));
    const lines = { warn: [] as string[], debug: [] as string[] };
    const cache = openCache(server.env(bucket), dir, lines);
    expect(await cache.saveArchive("x.tar.zst", join(dir, "src"), outputs)).toMatchObject({ kind: "saved" });
    server.pace(bucket, { refuseSignedUrls: refusal });
    const before = server.requests(bucket).length;
    const root = join(dir, "dest");
    expect(await cache.restoreArchive("x.tar.zst", root)).toMatchObject({ kind: "restored" });
    expect(describeTree(root)).toEqual(restoredOutputTree(join(dir, "src")));
    expect(await cache.restoreArchive("x.tar.zst", join(dir, "again"))).toMatchObject({ kind: "restored" });
    const gets = server
      .requests(bucket)
      .slice(before)
      .filter((r) => r.startsWith("GET "));
    // The signed one refused, then only the SDK's.
    expect(gets).toEqual([
      `GET /${bucket}/taskrunner/bundles/x.tar.zst`,
      `GET /${bucket}/taskrunner/bundles/x.tar.zst?x-id=GetObject`,
      `GET /${bucket}/taskrunner/bundles/x.tar.zst?x-id=GetObject`,
    ]);
    expect(lines.warn).toEqual([]);
    expect(lines.debug).toContain(
      `S3: ${refusal.code}: ${refusal.message} (HTTP 403) for a signed URL; going through the SDK instead`,
    );
  });
});

describe("writes to a real S3 server", () => {
  const LOGS = { TASKRUNNER_LOGS_PREFIX: "logs/", TASKRUNNER_LOGS_VIEW_URL: "https://logs.example.com/view/" };
  /** A fresh bucket, and its requests since (the SDK's marked by its ?x-id=<operation>). */
  const bucketOf = async (server: ReturnType<typeof fakeS3>) => {
    const bucket = await server.newBucket();
    const before = server.requests(bucket).length;
    return { bucket, env: { ...server.env(bucket), ...LOGS }, requests: () => server.requests(bucket).slice(before) };
  };

  test("a pointer, a log and the check for an archive go signed; only an archive's upload loads the SDK", async () => {
    const server = fakeS3();
    const { bucket, env, requests } = await bucketOf(server);
    const dir = scratch();
    const lines = { warn: [] as string[], debug: [] as string[] };
    const cache = openCache(env, dir, lines);
    const log = join(dir, "job.log");
    writeFileSync(log, "10:00:00 stdout | héllo\n");
    await cache.setLatestHash("job", "main", "h1");
    expect(await cache.uploadLog("id", "job", log)).toEqual({ url: "https://logs.example.com/view/id/job.log.txt" });
    expect(requests()).toEqual([`PUT /${bucket}/taskrunner/latest/job-main.txt`, `PUT /${bucket}/logs/id/job.log.txt`]);
    expect((await server.getObject(bucket, "logs/id/job.log.txt"))?.body.toString()).toBe("10:00:00 stdout | héllo\n");
    expect((await server.getObject(bucket, "logs/id/job.log.txt"))?.contentType).toBe("text/plain; charset=utf-8");
    expect(await cache.getLatestHash("job", "main")).toBe("h1");
    expect(lines.debug.filter((l) => l.startsWith("S3 client:"))).toEqual([]);

    const { outputs } = makeOutputTree(join(dir, "src"));
    expect(await cache.saveArchive("x.tar.zst", join(dir, "src"), outputs)).toMatchObject({ kind: "saved" });
    expect(requests()).toContain(`PUT /${bucket}/taskrunner/bundles/x.tar.zst?x-id=PutObject`);
    expect(lines.debug.filter((l) => l.startsWith("S3 client:"))).toHaveLength(1);
    expect(lines.warn).toEqual([]);
  });

  test("a log over 1 MB, or one to store in a storage class, goes through the SDK", async () => {
    const server = fakeS3();
    const { bucket, env, requests } = await bucketOf(server);
    const dir = scratch();
    const big = join(dir, "big.log");
    writeFileSync(big, "x".repeat((1 << 20) + 1));
    const small = join(dir, "small.log");
    writeFileSync(small, "small\n");
    const plain = openCache(env, dir, { warn: [], debug: [] });
    expect(await plain.uploadLog("id", "big", big)).toMatchObject({ url: expect.any(String) });
    const classed = openCache({ ...env, TASKRUNNER_S3_STORAGE_CLASS: "STANDARD_IA" }, dir, {
      warn: [],
      debug: [],
    });
    expect(await classed.uploadLog("id", "small", small)).toMatchObject({ url: expect.any(String) });
    expect(requests()).toEqual([
      `PUT /${bucket}/logs/id/big.log.txt?x-id=PutObject`,
      `PUT /${bucket}/logs/id/small.log.txt?x-id=PutObject`,
    ]);
    expect((await server.getObject(bucket, "logs/id/big.log.txt"))?.body.length).toBe((1 << 20) + 1);
    expect((await server.getObject(bucket, "logs/id/small.log.txt"))?.storageClass).toBe("STANDARD_IA");
  });
});
