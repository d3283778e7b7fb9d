// Faults of the store itself: unreachable, refusing, slow, broken. Each ends in
// a one-line "failed" (or null + one warning for the pointer), within the
// configured bounds, with the root untouched; after three in one build the
// cache is switched off for the rest of it, said once.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import zlib from "node:zlib";
import { loadConfig } from "../../src/config";
import { openRemoteCache } from "../../src/cache/index";
import { packArchive } from "../../src/cache/tar-writer";
import { snapshotOutputs } from "../../src/cache/archive";
import { S3Store } from "../../src/cache/s3-store";
import { FsStore } from "../../src/cache/fs-store";
import { StoreError } from "../../src/cache/store";
import {
  TEST_LIMITS,
  fakeS3,
  fsBackend,
  openCache,
  removeScratch,
  s3Backend,
  scratch,
  type Lines,
} from "../fakes/cache-backends";
import { startFakeS3 } from "../fakes/s3";
import { startFaultyServer, type Misbehaviour } from "../fakes/faulty-http";
import { describeTree, makeOutputTree } from "../fakes/trees";

const S3_ENV = {
  TASKRUNNER_AWS_ACCESS_KEY: "S3RVER",
  TASKRUNNER_AWS_SECRET_KEY: "S3RVER",
  TASKRUNNER_REMOTE_CACHE_BUCKET: "bucket",
};

function lines(): Lines {
  return { warn: [], debug: [] };
}

/** A cache on a misbehaving endpoint, with a tree to save and a root to restore into. */
async function faulty(how: Misbehaviour) {
  const server = await startFaultyServer(how);
  const dir = scratch();
  const l = lines();
  const env = { ...S3_ENV, TASKRUNNER_S3_ENDPOINT: server.endpoint };
  const { outputs } = makeOutputTree(join(dir, "src"));
  mkdirSync(join(dir, "root/out"), { recursive: true });
  writeFileSync(join(dir, "root/out/existing"), "x");
  return {
    server,
    dir,
    lines: l,
    env,
    outputs,
    cache: openCache(env, dir, l),
    before: describeTree(join(dir, "root")),
  };
}

async function timed<T>(run: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await run();
  return [r, performance.now() - t];
}

function expectOneLine(r: { kind: string; message?: string }, ...parts: string[]) {
  expect(r.kind).toBe("failed");
  for (const p of parts) expect(r.message).toContain(p);
  expect(r.message).not.toContain("\n");
}

afterAll(() => removeScratch());

describe("S3 store faults", () => {
  beforeAll(async () => s3Backend.setup!());
  afterAll(async () => s3Backend.teardown!());

  test("server stopped: every operation fails in one line, bounded, and the pointer read warns", async () => {
    const s3 = await startFakeS3();
    const bucket = await s3.newBucket();
    await s3.stop();
    const dir = scratch();
    const l = lines();
    const cache = openCache(s3.env(bucket), dir, l);
    const { outputs } = makeOutputTree(join(dir, "src"));
    const [restored, ms] = await timed(() => cache.restoreArchive("x.tar.zst", join(dir, "root")));
    expectOneLine(restored, `s3://${bucket}/taskrunner/bundles/x.tar.zst`);
    expect(ms).toBeLessThan(5000);
    expect(existsSync(join(dir, "root"))).toBe(false);
    expectOneLine(await cache.saveArchive("x.tar.zst", join(dir, "src"), outputs), "upload to", "failed");
    expect(await cache.getLatestHash("job", "main")).toBeNull();
    // The third fault: its line also says the cache is now off for this build.
    expect(l.warn).toEqual([expect.stringContaining(`could not read s3://${bucket}/taskrunner/latest/job-main.txt`)]);
    expect(l.warn[0]).toEndWith(
      `; that is 3 remote cache failures in this build, so s3://${bucket} is not used for the rest of it`,
    );
    expect(l.warn[0]).not.toContain("\n");
  });

  test("wrong credentials fail, naming the error", async () => {
    const bucket = await fakeS3().newBucket();
    const dir = scratch();
    const env = { ...fakeS3().env(bucket), TASKRUNNER_AWS_ACCESS_KEY: "WRONG", TASKRUNNER_AWS_SECRET_KEY: "WRONG" };
    const cache = openCache(env, dir, lines());
    expectOneLine(await cache.restoreArchive("x.tar.zst", join(dir, "root")), "InvalidAccessKeyId", "403");
    const { outputs } = makeOutputTree(join(dir, "src"));
    expectOneLine(await cache.saveArchive("x.tar.zst", join(dir, "src"), outputs), "InvalidAccessKeyId");
    expect(await fakeS3().listKeys(bucket)).toEqual([]);
  });

  test("a missing bucket is a failure, not a miss", async () => {
    const dir = scratch();
    const l = lines();
    const cache = openCache(fakeS3().env("no-such-bucket"), dir, l);
    expectOneLine(await cache.restoreArchive("x.tar.zst", join(dir, "root")), "NoSuchBucket");
    expect(await cache.getLatestHash("job", "main")).toBeNull();
    expect(l.warn[0]).toContain("NoSuchBucket");
    expect(await cache.uploadLog("id", "job", join(dir, "missing.log"))).toEqual({
      failed: expect.stringContaining("missing.log"),
    });
  });

  test("HTTP 500: failed after a bounded number of attempts", async () => {
    const f = await faulty({ kind: "error500" });
    try {
      expectOneLine(await f.cache.restoreArchive("x.tar.zst", join(f.dir, "root")), "InternalError");
      expect(f.server.requests).toBe(TEST_LIMITS.attempts);
      expectOneLine(
        await f.cache.saveArchive("x.tar.zst", join(f.dir, "src"), f.outputs),
        "upload to",
        "InternalError",
      );
      const log = await f.cache.uploadLog("id", "job", join(f.dir, "src/single.txt"));
      expect(log).toEqual({ failed: expect.stringContaining("InternalError") });
      expect(describeTree(join(f.dir, "root"))).toEqual(f.before);
    } finally {
      await f.server.stop();
    }
  });

  test("a server that never answers: failed within the bounds", async () => {
    const f = await faulty({ kind: "silent" });
    try {
      const [r, ms] = await timed(() => f.cache.restoreArchive("x.tar.zst", join(f.dir, "root")));
      expectOneLine(r, "x.tar.zst");
      expect(ms).toBeLessThan(TEST_LIMITS.requestMs + 1500);
      const [s, ms2] = await timed(() => f.cache.saveArchive("x.tar.zst", join(f.dir, "src"), f.outputs));
      expectOneLine(s, "upload to");
      expect(ms2).toBeLessThan(TEST_LIMITS.attempts * (TEST_LIMITS.stallMs + 1000) + 2000);
    } finally {
      await f.server.stop();
    }
  });

  test("a download that stalls half-way: failed within the stall bound, root untouched", async () => {
    // The first bytes of a real archive, then nothing more.
    const start = zlib.zstdCompressSync(Buffer.alloc(100_000, 1)).subarray(0, 8);
    const f = await faulty({ kind: "stall-body", body: start, declared: 100_000 });
    try {
      const [r, ms] = await timed(() => f.cache.restoreArchive("x.tar.zst", join(f.dir, "root")));
      expectOneLine(r, "x.tar.zst");
      expect(ms).toBeLessThan(TEST_LIMITS.stallMs + 2000);
      expect(describeTree(join(f.dir, "root"))).toEqual(f.before);
    } finally {
      await f.server.stop();
    }
  });

  test("a download cut off half-way: failed, root untouched", async () => {
    const start = zlib.zstdCompressSync(Buffer.alloc(100_000, 1));
    const f = await faulty({ kind: "drop-body", body: start.subarray(0, start.length - 3), declared: 100_000 });
    try {
      const r = await f.cache.restoreArchive("x.tar.zst", join(f.dir, "root"));
      expectOneLine(r, "x.tar.zst", "ECONNRESET");
      expect(r.kind === "failed" && r.message).not.toContain("fetch"); // no advice meant for programmers
      expect(describeTree(join(f.dir, "root"))).toEqual(f.before);
    } finally {
      await f.server.stop();
    }
  });

  test("storage class: applied to archives; a class the store refuses is a failed upload", async () => {
    const s3 = fakeS3();
    const bucket = await s3.newBucket();
    const dir = scratch();
    const { outputs } = makeOutputTree(join(dir, "src"));
    const ok = openCache({ ...s3.env(bucket), TASKRUNNER_S3_STORAGE_CLASS: "STANDARD_IA" }, dir, lines());
    expect(await ok.saveArchive("x.tar.zst", join(dir, "src"), outputs)).toMatchObject({ kind: "saved" });
    expect((await s3.getObject(bucket, "taskrunner/bundles/x.tar.zst"))?.storageClass).toBe("STANDARD_IA");
    await ok.setLatestHash("job", "main", "h"); // pointers keep the store's default class
    expect((await s3.getObject(bucket, "taskrunner/latest/job-main.txt"))?.storageClass).toBeUndefined();
    const bad = openCache({ ...s3.env(bucket), TASKRUNNER_S3_STORAGE_CLASS: "NOT_A_CLASS" }, dir, lines());
    expectOneLine(await bad.saveArchive("y.tar.zst", join(dir, "src"), outputs), "InvalidStorageClass");
  });

  test("a proxy in the environment is not used for S3, downloads included (a dead one changes nothing)", async () => {
    const s3 = fakeS3();
    const bucket = await s3.newBucket();
    const dir = scratch();
    const { outputs } = makeOutputTree(join(dir, "src"));
    const saved = { HTTP_PROXY: process.env.HTTP_PROXY, HTTPS_PROXY: process.env.HTTPS_PROXY };
    process.env.HTTP_PROXY = process.env.HTTPS_PROXY = "http://127.0.0.1:1";
    try {
      const cache = openCache(s3.env(bucket), dir, lines());
      expect(await cache.saveArchive("x.tar.zst", join(dir, "src"), outputs)).toMatchObject({ kind: "saved" });
      expect(await cache.restoreArchive("x.tar.zst", join(dir, "root"))).toMatchObject({ kind: "restored" });
      expect(readFileSync(join(dir, "root/out/lib/a.txt"), "utf8")).toBe("alpha\n");
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  test("after 3 failures in a build, no process calls the store again; said once", async () => {
    const f = await faulty({ kind: "error500" });
    try {
      const nested = openCache(f.env, f.dir, f.lines); // a nested taskrunner: same build directory
      await f.cache.restoreArchive("a.tar.zst", join(f.dir, "root"));
      await nested.restoreArchive("b.tar.zst", join(f.dir, "root"));
      expect(f.lines.warn).toEqual([]);
      await f.cache.setLatestHash("job", "main", "h"); // third fault
      expect(f.lines.warn).toEqual([expect.stringContaining("not used for the rest of it")]);
      const requests = f.server.requests;
      expect(await nested.restoreArchive("c.tar.zst", join(f.dir, "root"))).toEqual({ kind: "miss" });
      expect((await f.cache.saveArchive("c.tar.zst", join(f.dir, "src"), f.outputs)).kind).toBe("skipped");
      expect(await nested.getLatestHash("job", "main")).toBeNull();
      await nested.setLatestHash("job", "main", "h");
      expect("failed" in (await nested.uploadLog("id", "job", join(f.dir, "src/single.txt")))).toBe(true);
      expect(f.server.requests).toBe(requests);
      expect(f.lines.warn.length).toBe(1);
      // A new build starts afresh.
      const next = openRemoteCache(
        loadConfig(f.env, f.dir),
        { warn() {}, debug() {} },
        join(f.dir, "build-2"),
        TEST_LIMITS,
      )!;
      await next.restoreArchive("d.tar.zst", join(f.dir, "root"));
      expect(f.server.requests).toBeGreaterThan(requests);
    } finally {
      await f.server.stop();
    }
  });
});

describe("an output that vanishes or changes once its metadata is taken", () => {
  beforeAll(async () => s3Backend.setup!());
  afterAll(async () => s3Backend.teardown!());

  // snapshotOutputs has seen it, the writer finds it gone or different (a later
  // task wrote it while the upload ran in the background): below the RemoteCache
  // API, to choose the moment.
  const cases: [string, string, (path: string) => void][] = [
    ["vanishes", "gone.txt", (path) => rmSync(path)],
    ["is rewritten, same size", "changed after the task ended", (path) => writeFileSync(path, "other")],
    ["grows", "changed after the task ended", (path) => writeFileSync(path, "hello, and more")],
  ];
  for (const which of ["directory", "S3"] as const) {
    for (const [what, message, change] of cases) {
      test(`${which} store, a file that ${what}: the put fails with the archive's error, nothing is stored`, async () => {
        const dir = scratch();
        mkdirSync(join(dir, "store"));
        writeFileSync(join(dir, "gone.txt"), "hello");
        const entries = snapshotOutputs(dir, ["gone.txt"]);
        await Bun.sleep(5); // a rewrite gets another mtime
        change(join(dir, "gone.txt"));
        const bucket = which === "S3" ? await fakeS3().newBucket() : "";
        const config = loadConfig(which === "S3" ? fakeS3().env(bucket) : {}, dir);
        const store =
          which === "S3"
            ? new S3Store({ ...config.s3, bucket }, TEST_LIMITS, () => {})
            : new FsStore(join(dir, "store"));
        const err = await store.put("k", packArchive(dir, entries)).catch((e) => e);
        expect(err).toBeInstanceOf(Error);
        expect(err).not.toBeInstanceOf(StoreError);
        expect(String(err.message)).toContain(message);
        if (which === "S3") expect(await fakeS3().listKeys(bucket)).toEqual([]);
        else expect(readdirSync(join(dir, "store"))).toEqual([]);
      });
    }
  }
});

describe("directory store faults", () => {
  test("a missing cache directory is a failure, not a miss, and is not created", async () => {
    const dir = scratch();
    const store = join(dir, "not-mounted");
    const cache = openCache({ TASKRUNNER_REMOTE_CACHE_DIR: store }, dir, lines());
    expectOneLine(await cache.restoreArchive("x.tar.zst", join(dir, "root")), store);
    const { outputs } = makeOutputTree(join(dir, "src"));
    expectOneLine(await cache.saveArchive("x.tar.zst", join(dir, "src"), outputs), store);
    expect(existsSync(store)).toBe(false);
  });

  test("a failed write leaves neither the object nor a temporary file", async () => {
    const f = await fsBackend.fixture();
    const { outputs } = makeOutputTree(join(f.dir, "src"));
    const store = join(f.dir, "store");
    mkdirSync(join(store, "taskrunner"), { recursive: true });
    writeFileSync(join(store, "taskrunner/bundles"), "a file where a directory should be");
    expectOneLine(await f.cache.saveArchive("x.tar.zst", join(f.dir, "src"), outputs), "upload to");
    expect(readdirSync(join(store, "taskrunner"))).toEqual(["bundles"]);
    rmSync(join(store, "taskrunner/bundles"));
    if (process.getuid?.() !== 0) {
      // Unwritable directory (root writes anyway, so only checked as a user).
      mkdirSync(join(store, "taskrunner/bundles"));
      chmodSync(join(store, "taskrunner/bundles"), 0o555);
      expectOneLine(await f.cache.saveArchive("x.tar.zst", join(f.dir, "src"), outputs), "upload to");
      expect(readdirSync(join(store, "taskrunner/bundles"))).toEqual([]);
    }
    expect(
      readFileSync(join(f.buildDir, "remote-cache-failures"), "utf8").split("\n").filter(Boolean).length,
    ).toBeGreaterThan(0);
  });
});
