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
import { existsSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary } from "./helpers/binary";
import { endedText, INPUT_HASH, inputRepo, runToEnd, taskrunner, waitFor, type Scratch } from "./helpers/run";
import { sh } from "./fakes/git-repo";
import { fakeS3ForSuite } from "./fakes/s3";
import { noTmpfs, withTmpfs } from "./helpers/mount";

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
  return taskrunner(s, ["-n", "top", "bash", "-c", `${A}\ntaskrunner -n b bash -c '${b}'`], {
    TASKRUNNER_SAVE_REMOTE_CACHE: "1",
    ...env,
  });
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
const fsTemporary = (s: Scratch) =>
  existsSync(fsBundles(s)) ? readdirSync(fsBundles(s)).filter((f) => f.includes(".tmp-")) : [];

describe("a nested task's upload runs while the next task does", () => {
  test("S3: b starts while a's archive is still being sent; the toplevel waits for it; a's hash is saved at once", () =>
    inRepo("bg-overlap-s3", async (s) => {
      const { bucket, env } = await s3Env(3000);
      const p = build(s, `touch ../b-started; while [ ! -e ../go ]; do sleep 0.05; done; echo b done`, {
        ...env,
        SIZE: "24000000",
      });
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
      const again = await runToEnd(
        { ...s, env: { ...s.env, TASKRUNNER_STATE_DIRECTORY: join(s.dir, "state2") } },
        ["-n", "a", "bash", "-c", `snapshot input.txt -o out; echo ran`],
        env,
      );
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
      const r = await finish(
        build(s, "echo b done", { ...env, SIZE: "24000000", TASKRUNNER_UPLOAD_WAIT_SECONDS: "1" }),
      );
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
      const again = await finish(
        taskrunner(other, ["-n", "a", "bash", "-c", "snapshot input.txt -o out; mkdir out; echo ran"], env),
      );
      expect({ code: again.code, stdout: again.stdout, stderr: again.stderr }).toEqual({
        code: 0,
        stdout: "[a] stdout | ran\n",
        stderr: "",
      });
    }));

  test("directory store: cut short (a wait of 0 s): the temporary archive is removed, nothing stored", () =>
    inRepo("bg-cut-fs", async (s) => {
      const env = fsEnv(s);
      const r = await finish(
        build(s, "echo b done", { ...env, SIZE: "40000000", TASKRUNNER_UPLOAD_WAIT_SECONDS: "0" }),
      );
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
        [
          "[a] warn | Cache upload stopped (interrupted by SIGTERM); nothing uploaded",
          "[b] warn | Interrupted by SIGTERM",
          "[top] warn | Interrupted by SIGTERM",
        ].sort(),
      );
      expect(
        fake()
          .requests(bucket)
          .filter((q) => q.startsWith("DELETE ") && q.includes("uploadId=")),
      ).toHaveLength(1);
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
      expect(r.stderr).toMatch(
        /^\[a\] warn \| Remote cache not saved: could not archive the outputs in .*: .*\/out\/zz changed after the task ended \(did a later task write it\?\); nothing uploaded to s3:\/\/.*\n$/,
      );
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

describe("faults of the store or of the toplevel during a background upload", () => {
  test("directory store, kill -9 of the toplevel mid-upload: its temporary file is never taken for an archive, and a later save removes it once stale", () =>
    inRepo("bg-kill-fs", async (s) => {
      const env = fsEnv(s);
      const p = build(s, `while [ ! -e ../go ]; do sleep 0.05; done`, { ...env, SIZE: "150000000" });
      await waitFor(() => fsTemporary(s).length > 0, 60_000);
      p.kill("SIGKILL");
      await p.exited;
      writeFileSync(join(s.dir, "go"), ""); // the orphaned b ends
      const [left] = fsTemporary(s);
      expect(left).toMatch(new RegExp(`^${ARCHIVE.replaceAll(".", "\\.")}\\.tmp-\\d+-[0-9a-f]{8}$`));
      // Another machine: a plain miss, the task runs (the temporary file is not an archive).
      sh(s.work, "rm -rf out");
      const other = { ...s, env: { ...s.env, TASKRUNNER_STATE_DIRECTORY: join(s.dir, "state2") } };
      const quiet = await finish(
        taskrunner(other, ["-n", "a", "bash", "-c", "snapshot input.txt -o out; mkdir out; echo ran"], env),
      );
      expect({ code: quiet.code, stdout: quiet.stdout, stderr: quiet.stderr }).toEqual({
        code: 0,
        stdout: "[a] stdout | ran\n",
        stderr: "",
      });
      // A save to the same directory, while the leftover is recent (it may be a live upload of another build): kept.
      const save = (job: string) =>
        finish(
          taskrunner(
            other,
            ["-n", job, "bash", "-c", "snapshot input.txt -o out; mkdir -p out; echo $RANDOM > out/f"],
            { ...env, TASKRUNNER_SAVE_REMOTE_CACHE: "1", TASKRUNNER_DEBUG: "1" },
          ),
        );
      expect((await save("c")).code).toBe(0);
      expect(fsTemporary(s)).toEqual([left]);
      // Untouched for two hours: its writer is gone; the next save removes it and says so at debug level.
      const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
      utimesSync(join(fsBundles(s), left), twoHoursAgo, twoHoursAgo);
      const r = await save("d");
      expect(r.code).toBe(0);
      expect(fsTemporary(s)).toEqual([]);
      expect(r.stderr).toContain(
        `[d] debug | Removed ${join(fsBundles(s), left)}: a temporary file no upload has written to for over 1 hour`,
      );
      expect(readdirSync(fsBundles(s)).sort()).toEqual([
        expect.stringMatching(/^c-.*\.tar\.zst$/),
        expect.stringMatching(/^d-.*\.tar\.zst$/),
      ]);
    }));

  test("S3, kill -9 of the toplevel mid-upload: no object, a later build misses plainly and uploads", () =>
    inRepo("bg-kill-s3", async (s) => {
      const { bucket, env } = await s3Env(1500);
      const p = build(s, `while [ ! -e ../go ]; do sleep 0.05; done`, { ...env, SIZE: "24000000" });
      await waitFor(() => fake().pendingUploads(bucket).length > 0, 60_000);
      p.kill("SIGKILL");
      await p.exited;
      writeFileSync(join(s.dir, "go"), "");
      // The incomplete multipart upload stays until the bucket's lifecycle rule aborts it
      // (docs/guides/remote-cache.md); it is no object.
      expect(fake().pendingUploads(bucket)).toHaveLength(1);
      expect(await fake().listKeys(bucket)).toEqual([]);
      fake().pace(bucket, {});
      sh(s.work, "rm -rf out");
      const other = { ...s, env: { ...s.env, TASKRUNNER_STATE_DIRECTORY: join(s.dir, "state2") } };
      const again = await finish(
        taskrunner(other, ["-n", "a", "bash", "-c", "snapshot input.txt -o out; mkdir out; echo ran"], {
          ...env,
          TASKRUNNER_SAVE_REMOTE_CACHE: "1",
        }),
      );
      expect({ code: again.code, stdout: again.stdout, stderr: again.stderr }).toEqual({
        code: 0,
        stdout: "[a] stdout | ran\n",
        stderr: "",
      });
      expect(await fake().listKeys(bucket)).toEqual([`taskrunner/bundles/${ARCHIVE}`]);
    }));

  test("S3 answering 500 to every upload: one warn line under the task's name, the build's output and exit code unchanged", () =>
    inRepo("bg-s3-500", async (s) => {
      const bucket = await fake().newBucket();
      fake().pace(bucket, { failUploads: true });
      const r = await finish(build(s, "echo b done", { ...fake().env(bucket), SIZE: "12000000" }));
      expect(r.code).toBe(0);
      expect(r.stdout).toBe("[a] stdout | made\n[b] stdout | b done\n");
      expect(r.stderr).toMatch(
        /^\[a\] warn \| Remote cache not saved: upload to s3:\/\/.*\/taskrunner\/bundles\/a-.*\.tar\.zst failed: .*\n$/,
      );
      expect(fake().pendingUploads(bucket)).toEqual([]);
      expect(await fake().listKeys(bucket)).toEqual([]);
    }));

  for (const [what, options, size] of [
    ["full", "size=1m", "3000000"],
    ["read-only", "ro", "1000"],
  ] as const) {
    test.skipIf(noTmpfs !== null)(
      `a directory store that is ${what}: one warn line under the task's name, no temporary file, exit code unchanged${noTmpfs ? ` (skipped: ${noTmpfs})` : ""}`,
      async () => {
        const s = inputRepo(`bg-fs-${what}`);
        try {
          const store = join(s.dir, "store");
          const script = `taskrunner -n top bash -c "$TOP"; echo "exit $?"; ls -A ${store}/taskrunner/bundles 2>/dev/null || true`;
          const r = await withTmpfs(s, store, options, script, {
            TASKRUNNER_SAVE_REMOTE_CACHE: "1",
            TASKRUNNER_REMOTE_CACHE_DIR: store,
            SIZE: size,
            TOP: `${A}\ntaskrunner -n b bash -c 'echo b done'`,
          });
          expect(r.stdout).toBe("[a] stdout | made\n[b] stdout | b done\nexit 0\n");
          // The store's fault, not the outputs': counted as a store fault, worded as one.
          const cause = what === "full" ? "no space left on device" : "read-only file system";
          expect(r.stderr).toMatch(
            new RegExp(
              `^\\[a\\] warn \\| Remote cache not saved: upload to ${store}/taskrunner/bundles/${ARCHIVE} failed: .*${cause}.*\n$`,
              "i",
            ),
          );
        } finally {
          s.cleanup();
        }
      },
    );
  }

  test("the toplevel's own task fails while an upload runs: the build waits for it, then ends with the task's exit code", () =>
    inRepo("bg-top-fails", async (s) => {
      const { bucket, env } = await s3Env(1000);
      const p = taskrunner(s, ["-n", "top", "bash", "-c", `${A}\necho failing; exit 3`], {
        TASKRUNNER_SAVE_REMOTE_CACHE: "1",
        ...env,
        SIZE: "12000000",
      });
      const r = await finish(p);
      expect(r.code).toBe(3);
      expect(r.stdout).toBe("[a] stdout | made\n[top] stdout | failing\n");
      expect(r.stderr).toBe("");
      expect(await fake().listKeys(bucket)).toEqual([`taskrunner/bundles/${ARCHIVE}`]);
    }));

  test("the toplevel's own task fails and the wait is cut short: one warn line, the task's exit code kept", () =>
    inRepo("bg-top-fails-cut", async (s) => {
      const { bucket, env } = await s3Env(3000);
      const p = taskrunner(s, ["-n", "top", "bash", "-c", `${A}\nexit 3`], {
        TASKRUNNER_SAVE_REMOTE_CACHE: "1",
        ...env,
        SIZE: "24000000",
        TASKRUNNER_UPLOAD_WAIT_SECONDS: "1",
      });
      const r = await finish(p);
      expect(r.code).toBe(3);
      expect(r.stderr).toBe(
        "[top] warn | Cache uploads of a did not finish within 1 s (TASKRUNNER_UPLOAD_WAIT_SECONDS); stopped, nothing of them uploaded\n",
      );
      expect(fake().pendingUploads(bucket)).toEqual([]);
    }));

  test("a nested task called again in the same build while its upload runs: it is not run again, and its archive is sent once", () =>
    inRepo("bg-again", async (s) => {
      const { bucket, env } = await s3Env(1000);
      const r = await finish(
        taskrunner(s, ["-n", "top", "bash", "-c", `${A}\n${A}\necho "again: $?"`], {
          TASKRUNNER_SAVE_REMOTE_CACHE: "1",
          ...env,
          SIZE: "12000000",
        }),
      );
      expect(r.code).toBe(0);
      expect(r.stdout).toBe("[a] stdout | made\n[top] stdout | again: 0\n");
      expect(r.stderr).toBe("");
      expect(await fake().listKeys(bucket)).toEqual([`taskrunner/bundles/${ARCHIVE}`]);
      expect(
        fake()
          .requests(bucket)
          .filter((q) => q.startsWith("POST ") && q.includes("?uploads")),
      ).toHaveLength(1);
    }));
});

test("without a store fault or signal, nothing new is printed (the drop-in rule)", async () => {
  const s = inputRepo("bg-quiet");
  try {
    const env = fsEnv(s);
    const r = await finish(build(s, "echo b done", { ...env, SIZE: "1000" }));
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
      code: 0,
      stdout: "[a] stdout | made\n[b] stdout | b done\n",
      stderr: "",
    });
  } finally {
    s.cleanup();
  }
});
