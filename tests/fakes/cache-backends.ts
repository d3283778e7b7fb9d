// The two store backends as test fixtures: a fresh, configured remote cache
// per test, plus raw access to the objects behind it. Shared by the cache
// contract and fault tests.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config";
import { openRemoteCache, type RemoteCache } from "../../src/cache/index";
import { startFakeS3, type FakeS3 } from "./s3";

/** Short bounds so that fault cases finish in a second or two; every restore on worker threads, however small. */
export const TEST_LIMITS = {
  connectMs: 1000,
  stallMs: 1000,
  requestMs: 2000,
  attempts: 2,
  parallelFrom: 0,
  // A download over several connections (TASKRUNNER_S3_DOWNLOAD_CONNECTIONS) in ranges of 64 KB.
  rangeBytes: 64 << 10,
};

export interface Lines {
  warn: string[];
  debug: string[];
}

/** One fresh store per test: a configured cache plus raw access to its objects. */
export interface Fixture {
  cache: RemoteCache;
  lines: Lines;
  /** A scratch directory for trees, roots and the build directory. */
  dir: string;
  buildDir: string;
  readRaw(key: string): Promise<{ body: Buffer; contentType?: string } | null>;
  writeRaw(key: string, body: Buffer | string): Promise<void>;
  /** Another cache on the same store and build directory, as a nested taskrunner would open. */
  reopen(): RemoteCache;
}

export interface Backend {
  name: string;
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
  fixture(extraEnv?: Record<string, string>): Promise<Fixture>;
}

const ENV = { TASKRUNNER_LOGS_PREFIX: "logs/", TASKRUNNER_LOGS_VIEW_URL: "https://logs.example.com/view/" };

const scratchDirs: string[] = [];

export function scratch(): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "cache-test-")));
  scratchDirs.push(dir);
  return dir;
}

/** Removes every scratch directory made so far (call from afterAll). */
export function removeScratch(): void {
  for (const dir of scratchDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function openCache(env: Record<string, string>, dir: string, lines: Lines): RemoteCache {
  const log = { warn: (m: string) => lines.warn.push(m), debug: (m: string) => lines.debug.push(m) };
  return openRemoteCache(loadConfig(env, dir), log, join(dir, "build"), TEST_LIMITS)!;
}

/** A fixture on the store env configures, with the backend's raw access to it. */
function fixtureOf(env: Record<string, string>, dir: string, raw: Pick<Fixture, "readRaw" | "writeRaw">): Fixture {
  const lines: Lines = { warn: [], debug: [] };
  return {
    cache: openCache(env, dir, lines),
    lines,
    dir,
    buildDir: join(dir, "build"),
    ...raw,
    reopen: () => openCache(env, dir, lines),
  };
}

export const fsBackend: Backend = {
  name: "directory store",
  async fixture(extraEnv = {}) {
    const dir = scratch();
    const store = join(dir, "store");
    mkdirSync(store);
    return fixtureOf({ ...ENV, TASKRUNNER_REMOTE_CACHE_DIR: store, ...extraEnv }, dir, {
      async readRaw(key) {
        const p = join(store, key);
        return existsSync(p) ? { body: readFileSync(p) } : null;
      },
      async writeRaw(key, body) {
        mkdirSync(join(store, key, ".."), { recursive: true });
        writeFileSync(join(store, key), body);
      },
    });
  },
};

let s3: FakeS3;
/** The running fake S3 of s3Backend (between its setup and teardown). */
export function fakeS3(): FakeS3 {
  return s3;
}
export const s3Backend: Backend = {
  name: "S3 store (s3rver)",
  async setup() {
    s3 = await startFakeS3();
  },
  async teardown() {
    await s3.stop();
  },
  async fixture(extraEnv = {}) {
    const bucket = await s3.newBucket();
    return fixtureOf({ ...ENV, ...s3.env(bucket), ...extraEnv }, scratch(), {
      readRaw: (key) => s3.getObject(bucket, key),
      writeRaw: (key, body) => s3.putObject(bucket, key, body),
    });
  },
};
