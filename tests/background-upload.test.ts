// Cache uploads off the critical path, with the compiled binary, both stores,
// real processes and signals. A toplevel runs nested task `a` (outputs to
// upload) and then `b`; `a` is served in the toplevel's process, so its upload
// runs in the background while `b` runs, and the toplevel waits for it before
// its build ends.
//
// The moments are caught, not timed: S3 parts are held by the fake server
// (partDelayMs); `b` waits for a file the test creates, or for the directory
// store's temporary archive to appear.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary } from "./helpers/binary";
import { endedText, INPUT_HASH, inputRepo, runToEnd, taskrunner, waitFor, type Scratch } from "./helpers/run";
import { sh } from "./fakes/git-repo";
import { fakeS3ForSuite } from "./fakes/s3";

beforeAll(ensureBinary, 120_000);

const fake = fakeS3ForSuite();
const ARCHIVE = `a-${INPUT_HASH}.tar.zst`;
/** Task a: SIZE random bytes in out/blob, and a small out/zz (the last member archived). */
const A = `taskrunner -n a bash -c 'snapshot input.txt -o out; mkdir -p out; head -c "$SIZE" /dev/urandom > out/blob; echo last > out/zz; echo made'`;

/** Runs `body` in a fresh repository (inputRepo), removed afterwards. */
async function inRepo(prefix: string, body: (s: Scratch) => Promise<void>): Promise<void> {
  const s = inputRepo(prefix);
  try {
    await body(s);
  } finally {
    s.cleanup();
  }
}

/** The toplevel: a, then b (a script of the test's), then the end of the build. */
function build(s: Scratch, b: string, env: Record<string, string>) {
  return taskrunner(s, ["-n", "top", "bash", "-c", `${A}\ntaskrunner -n b bash -c '${b}'`], { TASKRUNNER_SAVE_REMOTE_CACHE: "1", ...env });
}

const finish = endedText;

const hashSaved = (s: Scratch, job: string) => existsSync(join(s.dir, "state", "hash", `${job}.hash`));

/** A fresh bucket, its parts held partDelayMs each. */
async function s3Env(partDelayMs: number): Promise<{ bucket: string; env: Record<string, string> }> {
  const bucket = await fake().newBucket();
  fake().pace(bucket, { partDelayMs });
  return { bucket, env: fake().env(bucket) };
}

const fsBundles = (s: Scratch) => join(s.dir, "remote", "taskrunner", "bundles");
function fsEnv(s: Scratch): Record<string, string> {
  sh(s.dir, "mkdir remote");
  return { TASKRUNNER_REMOTE_CACHE_DIR: join(s.dir, "remote") };
}
const fsTemporary = (s: Scratch) => (existsSync(fsBundles(s)) ? readdirSync(fsBundles(s)).filter((f) => f.includes(".tmp-")) : []);

describe("a nested task's upload runs while the next task does", () => {
  test("S3: b starts while a's archive is still being sent; the toplevel waits for it; a's hash is saved at once", () =>
    inRepo("bg-overlap-s3", async (s) => {
      const { bucket, env } = await s3Env(3000);
      const p = build(s, `touch ../b-started; while [ ! -e ../go ]; do sleep 0.05; done; echo b done`, { ...env, SIZE: "24000000" });
      await waitFor(() => existsSync(join(s.dir, "b-started")), 60_000);
      // b runs before a's archive is complete (its parts are held 3 s each), while it is being sent; a's hash is saved.
      expect(await fake().listKeys(bucket)).toEqual([]);
      await waitFor(() => fake().pendingUploads(bucket).length === 1, 60_000);
      expect(await fake().listKeys(bucket)).toEqual([]);
      expect(hashSaved(s, "a")).toBe(true);
      writeFileSync(join(s.dir, "go"), "");
      const r = await finish(p);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe("[a] stdout | made\n[b] stdout | b done\n");
      // The toplevel ended only once the upload was complete.
      expect(await fake().listKeys(bucket)).toEqual([`taskrunner/bundles/${ARCHIVE}`]);
      expect(fake().pendingUploads(bucket)).toEqual([]);
    }));

  test("directory store: the archive is complete when the toplevel ends; a second clone restores it", () =>
    inRepo("bg-fs", async (s) => {
      const env = fsEnv(s);
      const r = await finish(build(s, "echo b done", { ...env, SIZE: "3000000" }));
      expect(r.code).toBe(0);
      expect(r.stderr).toBe("");
      expect(readdirSync(fsBundles(s))).toEqual([ARCHIVE]);
      sh(s.work, "rm -rf out");
      const again = await runToEnd({ ...s, env: { ...s.env, TASKRUNNER_STATE_DIRECTORY: join(s.dir, "state2") } }, ["-n", "a", "bash", "-c", `snapshot input.txt -o out; echo ran`], env);
      expect(again.code).toBe(0);
      expect(new TextDecoder().decode(again.stdout)).toBe("");
      expect(existsSync(join(s.work, "out", "blob"))).toBe(true);
    }));

  test("a nested taskrunner of its own (TASKRUNNER_NESTED_PROCESSES=1) uploads before it ends: b finds the archive", () =>
    inRepo("bg-nested-process", async (s) => {
      const env = { ...fsEnv(s), TASKRUNNER_NESTED_PROCESSES: "1", SIZE: "3000000" };
      const r = await finish(build(s, `test -e ${fsBundles(s)}/${ARCHIVE} && echo archive there`, env));
      expect(r.code).toBe(0);
      expect(r.stdout).toBe("[a] stdout | made\n[b] stdout | archive there\n");
    }));
});

describe("the toplevel's wait is bounded", () => {
  test("S3: cut short after TASKRUNNER_UPLOAD_WAIT_SECONDS: one warn line, the multipart upload aborted, no object; a fresh clone misses plainly", () =>
    inRepo("bg-cut-s3", async (s) => {
      const { bucket, env } = await s3Env(3000);
      const t = performance.now();
      const r = await finish(build(s, "echo b done", { ...env, SIZE: "24000000", TASKRUNNER_UPLOAD_WAIT_SECONDS: "1" }));
      expect(performance.now() - t).toBeLessThan(20_000);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe(
        "[top] warn | Cache uploads of a did not finish within 1 s (TASKRUNNER_UPLOAD_WAIT_SECONDS); stopped, nothing of them uploaded\n",
      );
      expect(fake().pendingUploads(bucket)).toEqual([]);
      expect(await fake().listKeys(bucket)).toEqual([]);
      // Only the local hash records a: here it is skipped (its outputs are here), elsewhere it is a plain miss.
      expect(hashSaved(s, "a")).toBe(true);
      fake().pace(bucket, {});
      sh(s.work, "rm -rf out");
      const other = { ...s, env: { ...s.env, TASKRUNNER_STATE_DIRECTORY: join(s.dir, "state2") } };
      const again = await finish(taskrunner(other, ["-n", "a", "bash", "-c", "snapshot input.txt -o out; mkdir out; echo ran"], env));
      expect({ code: again.code, stdout: again.stdout, stderr: again.stderr }).toEqual({ code: 0, stdout: "[a] stdout | ran\n", stderr: "" });
    }));

  test("directory store: cut short (a wait of 0 s): the temporary archive is removed, nothing stored", () =>
    inRepo("bg-cut-fs", async (s) => {
      const env = fsEnv(s);
      const r = await finish(build(s, "echo b done", { ...env, SIZE: "40000000", TASKRUNNER_UPLOAD_WAIT_SECONDS: "0" }));
      expect(r.code).toBe(0);
      expect(r.stderr).toContain("[top] warn | Cache uploads of a did not finish within 0 s");
      expect(r.stderr.split("\n").filter(Boolean)).toHaveLength(1);
      expect(existsSync(fsBundles(s)) ? readdirSync(fsBundles(s)) : []).toEqual([]);
    }));
});

describe("a signal while an upload runs in the background", () => {
  test("S3 (SIGTERM): the upload is stopped, the multipart upload aborted, one warn line for it; a's result and hash stand", () =>
    inRepo("bg-signal-s3", async (s) => {
      const { bucket, env } = await s3Env(1500);
      const p = build(s, `touch ../b-started; while [ ! -e ../go ]; do sleep 0.05; done`, { ...env, SIZE: "24000000" });
      await waitFor(() => existsSync(join(s.dir, "b-started")) && fake().pendingUploads(bucket).length > 0, 60_000);
      p.kill("SIGTERM");
      const r = await finish(p);
      expect(r.code).toBe(143);
      expect(r.stderr.split("\n").filter(Boolean).sort()).toEqual(
        ["[a] warn | Cache upload stopped (interrupted by SIGTERM); nothing uploaded", "[b] warn | Interrupted by SIGTERM", "[top] warn | Interrupted by SIGTERM"].sort(),
      );
      expect(fake().requests(bucket).filter((q) => q.startsWith("DELETE ") && q.includes("uploadId="))).toHaveLength(1);
      expect(fake().pendingUploads(bucket)).toEqual([]);
      expect(await fake().listKeys(bucket)).toEqual([]);
      expect(hashSaved(s, "a")).toBe(true);
      expect(hashSaved(s, "b")).toBe(false);
    }));

  test("directory store (SIGINT): the temporary archive is removed", () =>
    inRepo("bg-signal-fs", async (s) => {
      const env = fsEnv(s);
      const p = build(s, `while [ ! -e ../go ]; do sleep 0.05; done`, { ...env, SIZE: "150000000" });
      await waitFor(() => fsTemporary(s).length > 0, 60_000);
      // Frozen mid-upload: the signal is handled as soon as it runs again.
      p.kill("SIGSTOP");
      p.kill("SIGINT");
      p.kill("SIGCONT");
      const r = await finish(p);
      expect(r.code).toBe(130);
      expect(r.stderr).toContain("[a] warn | Cache upload stopped (interrupted by SIGINT); nothing uploaded\n");
      expect(readdirSync(fsBundles(s))).toEqual([]);
    }));
});

describe("an output a later task changes while it is archived in the background", () => {
  test("S3: the archive is refused, not torn: one warn line naming the file, no object, the multipart upload aborted", () =>
    inRepo("bg-torn-s3", async (s) => {
      // 60 MB ahead of out/zz: the writer waits for the held parts long before it reaches it.
      const { bucket, env } = await s3Env(1000);
      const r = await finish(build(s, "echo changed >> out/zz; echo b done", { ...env, SIZE: "60000000" }));
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/^\[a\] warn \| Remote cache not saved: could not archive the outputs in .*: .*\/out\/zz changed after the task ended \(did a later task write it\?\); nothing uploaded to s3:\/\/.*\n$/);
      expect(await fake().listKeys(bucket)).toEqual([]);
      expect(fake().pendingUploads(bucket)).toEqual([]);
    }));

  test("directory store: the archive is refused, no object and no temporary file", () =>
    inRepo("bg-torn-fs", async (s) => {
      const env = fsEnv(s);
      // b changes out/zz once a's upload has begun, 100 MB before the writer reaches it.
      const b = `until ls ${fsBundles(s)} 2>/dev/null | grep -q tmp-; do sleep 0.01; done; echo changed >> out/zz; echo b done`;
      const r = await finish(build(s, b, { ...env, SIZE: "100000000" }));
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/^\[a\] warn \| Remote cache not saved: .*\/out\/zz changed after the task ended/);
      expect(readdirSync(fsBundles(s))).toEqual([]);
    }));
});

test("without a store fault or signal, nothing new is printed (the drop-in rule)", async () => {
  const s = inputRepo("bg-quiet");
  try {
    const env = fsEnv(s);
    const r = await finish(build(s, "echo b done", { ...env, SIZE: "1000" }));
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 0, stdout: "[a] stdout | made\n[b] stdout | b done\n", stderr: "" });
  } finally {
    s.cleanup();
  }
});
