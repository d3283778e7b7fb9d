// SIGTERM or SIGINT while a task restores or uploads its outputs, on both
// stores, with the compiled binary and real signals. Whatever the moment, an
// interrupted task says one warn line, exits 128+N, records nothing (no hash,
// no result) and leaves nothing behind: no staging folder, no temporary
// archive in the directory store, no multipart upload open on S3.
//
// Each test catches the transfer in the middle, not by timing: S3 traffic is
// paced by the fake server; a directory-store download reads a FIFO the test
// feeds by hand; a directory-store upload is frozen with SIGSTOP once its
// temporary file exists, then signalled and resumed.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { ensureBinary } from "./helpers/binary";
import {
  endedText,
  INPUT_HASH,
  inputRepo,
  runToEnd,
  stagingFolders,
  taskrunner,
  waitFor,
  type Scratch,
} from "./helpers/run";
import { fakeS3ForSuite } from "./fakes/s3";

beforeAll(ensureBinary, 120_000);

const fake = fakeS3ForSuite();
const ARCHIVE = `big-${INPUT_HASH}.tar.zst`;
const BUILD = `snapshot input.txt -o out; mkdir -p out; head -c "$SIZE" /dev/urandom > out/blob; echo made`;
const RESTORE_ONLY = `snapshot input.txt -o out; echo "ran instead of restoring"`;

interface Store {
  name: string;
  env(s: Scratch): Promise<Record<string, string>>;
}

const directoryStore: Store = {
  name: "directory store",
  async env(s) {
    mkdirSync(join(s.dir, "remote"));
    return { TASKRUNNER_REMOTE_CACHE_DIR: join(s.dir, "remote") };
  },
};

let bucket = "";
const s3Store: Store = {
  name: "S3",
  async env() {
    bucket = await fake().newBucket();
    return fake().env(bucket);
  },
};

const setUp = inputRepo;

/** The archive of a build whose outputs are SIZE bytes, in the store; then the outputs and the state directory are gone. */
async function archivedThenForgotten(s: Scratch, env: Record<string, string>, size: number): Promise<void> {
  const saved = await runToEnd(s, ["-n", "big", "bash", "-c", BUILD], {
    ...env,
    TASKRUNNER_SAVE_REMOTE_CACHE: "1",
    SIZE: String(size),
  });
  expect(saved.code).toBe(0);
  rmSync(join(s.work, "out"), { recursive: true });
  rmSync(join(s.dir, "state"), { recursive: true });
}

/** What an interrupted task must leave: one warn line, 128+N, no hash, no result, no staging folder. */
function expectNothingRecorded(s: Scratch, r: { code: number; stderr: string }, signal: "SIGTERM" | "SIGINT") {
  expect(r.stderr).toBe(`[big] warn | Interrupted by ${signal}\n`);
  expect(r.code).toBe(signal === "SIGTERM" ? 143 : 130);
  const state = join(s.dir, "state");
  expect(existsSync(join(state, "hash", "big.hash"))).toBe(false);
  for (const build of readdirSync(join(state, "builds")))
    expect(existsSync(join(state, "builds", build, "results", "big"))).toBe(false);
  expect(stagingFolders(s.dir)).toEqual([]);
}

/** ...and for a restore: nothing restored, nothing run. */
function expectRestoreUndone(
  s: Scratch,
  r: { stdout: string; code: number; stderr: string },
  signal: "SIGTERM" | "SIGINT",
) {
  expect(r.stdout).toBe("");
  expectNothingRecorded(s, r, signal);
  expect(existsSync(join(s.work, "out"))).toBe(false);
}

const finish = endedText;

describe("a signal during an upload", () => {
  test("directory store: the temporary archive is removed and no hash is saved (SIGTERM)", async () => {
    const s = setUp("interrupt-upload-fs");
    try {
      const env = { ...(await directoryStore.env(s)), TASKRUNNER_SAVE_REMOTE_CACHE: "1", SIZE: "120000000" };
      const bundles = join(s.dir, "remote", "taskrunner", "bundles");
      const temporary = () => (existsSync(bundles) ? readdirSync(bundles).filter((f) => f.includes(".tmp-")) : []);
      const p = taskrunner(s, ["-n", "big", "bash", "-c", BUILD], env);
      await waitFor(() => temporary().length > 0, 60_000);
      // Frozen mid-upload: the signal is handled as soon as it runs again.
      p.kill("SIGSTOP");
      expect(temporary()).toHaveLength(1);
      p.kill("SIGTERM");
      p.kill("SIGCONT");
      const r = await finish(p);
      expect(r.stdout).toBe("[big] stdout | made\n");
      expectNothingRecorded(s, r, "SIGTERM");
      expect(readdirSync(bundles)).toEqual([]);
    } finally {
      s.cleanup();
    }
  });

  test("S3: the multipart upload is aborted, no object appears, no hash is saved (SIGINT)", async () => {
    const s = setUp("interrupt-upload-s3");
    try {
      const env = { ...(await s3Store.env(s)), TASKRUNNER_SAVE_REMOTE_CACHE: "1", SIZE: "24000000" };
      fake().pace(bucket, { partDelayMs: 1500 });
      const p = taskrunner(s, ["-n", "big", "bash", "-c", BUILD], env);
      await waitFor(
        () =>
          fake().pendingUploads(bucket).length > 0 &&
          fake()
            .requests(bucket)
            .some((r) => r.startsWith("PUT ") && r.includes("partNumber=")),
        60_000,
      );
      p.kill("SIGINT");
      const r = await finish(p);
      expect(r.stdout).toBe("[big] stdout | made\n");
      expectNothingRecorded(s, r, "SIGINT");
      expect(
        fake()
          .requests(bucket)
          .filter((r) => r.startsWith("DELETE ") && r.includes("uploadId=")),
      ).toHaveLength(1);
      expect(fake().pendingUploads(bucket)).toEqual([]);
      expect(await fake().listKeys(bucket)).toEqual([]);
      // Nothing recorded: the next run runs the task (and uploads) again.
      fake().pace(bucket, {});
      const again = await runToEnd(s, ["-n", "big", "bash", "-c", BUILD], { ...env, SIZE: "1000" });
      expect(new TextDecoder().decode(again.stdout)).toBe("[big] stdout | made\n");
      expect(await fake().listKeys(bucket)).toEqual([`taskrunner/bundles/${ARCHIVE}`]);
    } finally {
      s.cleanup();
    }
  });
});

describe("a signal during a restore", () => {
  test("directory store: the staging folder is removed, nothing is restored or recorded (SIGTERM)", async () => {
    const s = setUp("interrupt-restore-fs");
    try {
      const env = await directoryStore.env(s);
      await archivedThenForgotten(s, env, 4_000_000);
      const archivePath = join(s.dir, "remote", "taskrunner", "bundles", ARCHIVE);
      const archive = readFileSync(archivePath);
      // The archive becomes a FIFO that the test feeds: half of it, then the signal.
      rmSync(archivePath);
      expect(Bun.spawnSync(["mkfifo", archivePath]).success).toBe(true);

      const p = taskrunner(s, ["-n", "big", "bash", "-c", RESTORE_ONLY], env);
      const fifo = await open(archivePath, "w");
      const fed = fifo.write(archive.subarray(0, archive.length >> 1)).catch(() => {});
      await waitFor(() => stagingFolders(s.dir).length > 0, 60_000);
      p.kill("SIGTERM");
      const r = await finish(p);
      await fed;
      await fifo.close().catch(() => {});
      expectRestoreUndone(s, r, "SIGTERM");
    } finally {
      s.cleanup();
    }
  });

  test("S3: the download stops, the staging folder is removed, nothing is recorded (SIGINT)", async () => {
    const s = setUp("interrupt-restore-s3");
    try {
      const env = await s3Store.env(s);
      await archivedThenForgotten(s, env, 3_000_000);
      // About 20 s to download: the signal comes long before the end, and the
      // task must not wait for it (10 s is a bound for a slow machine, not a measurement).
      fake().pace(bucket, { downloadBytesPerSecond: 150_000 });

      const p = taskrunner(s, ["-n", "big", "bash", "-c", RESTORE_ONLY], env);
      await waitFor(() => stagingFolders(s.dir).length > 0, 60_000);
      const started = Date.now();
      p.kill("SIGINT");
      const r = await finish(p);
      expect(Date.now() - started).toBeLessThan(10_000);
      expectRestoreUndone(s, r, "SIGINT");
    } finally {
      s.cleanup();
    }
  });
});

test("a signal during a post-unpack command stops it; nothing is recorded", async () => {
  const s = setUp("interrupt-post-unpack");
  try {
    const script = `snapshot input.txt -o out --cmd 'echo $$ > post-unpack-pid; exec sleep 30'; mkdir -p out; echo made`;
    const p = taskrunner(s, ["-n", "big", "bash", "-c", script]);
    const pidFile = join(s.work, "post-unpack-pid");
    await waitFor(() => existsSync(pidFile) && statSync(pidFile).size > 0, 60_000);
    p.kill("SIGTERM");
    const r = await finish(p);
    expect(r.stdout).toBe("[big] stdout | made\n");
    expectNothingRecorded(s, r, "SIGTERM");
    const pid = Number(readFileSync(pidFile, "utf8"));
    await waitFor(() => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
  } finally {
    s.cleanup();
  }
});
