// A restore next to a task that hashes the directory around the cache root:
// the restore's staging folder must never become one of the other task's
// inputs (no "Inputs changed while the task ran", no temp entries in its
// saved hash). The download is paced by the fake S3 server, and the hashing
// task waits until the staging folder holds a file — wherever the folder is —
// so every build hashes, twice, in the middle of the restore. Five builds in
// a row, each restoring again and hashing again; nested tasks served by the
// toplevel and, every other build, nested taskrunner processes. The output is
// ignored as `/out/`, anchored at the root as teams write it: a staging
// folder's own `out/` is not ignored.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary } from "./helpers/binary";
import { noTmpfs, withTmpfs } from "./helpers/mount";
import { endedText, runToEnd, scratch, stagingFolders, taskrunner, waitFor } from "./helpers/run";
import { sh } from "./fakes/git-repo";
import { startFakeS3, type FakeS3 } from "./fakes/s3";

beforeAll(ensureBinary, 120_000);
let s3: FakeS3;
beforeAll(async () => {
  s3 = await startFakeS3();
});
afterAll(async () => s3.stop());

const RESTORE = `snapshot src -o out; mkdir -p out/deep; head -c 4500000 /dev/urandom > out/blob; for i in $(seq 100); do echo $i > out/deep/f$i; done; echo built`;
// Waits (up to ~10 s) for something in a staging folder: in the work tree, its git directory or the state directory.
const WAIT_FOR_STAGING = `for i in $(seq 1000); do
  compgen -G '.taskrunner-restore-*/*' || compgen -G '.git/.taskrunner-restore-*/*' || compgen -G "$TASKRUNNER_STATE_DIRECTORY/.taskrunner-restore-*/*" && break
  sleep 0.01
done >/dev/null`;
const HASHER = `${WAIT_FOR_STAGING}; snapshot .; sleep 0.3; echo hashed`;
const BUILD = `taskrunner -n restore-me bash -c '${RESTORE}' &
taskrunner -n hasher bash -c '${HASHER}'
wait`;

test("a parallel restore never shows up in another task's input hash (5 builds in a row)", async () => {
  const s = scratch("restore-staging");
  try {
    sh(
      s.work,
      "git init -q . && mkdir src other && echo a > src/a && echo b > other/b && echo /out/ > .gitignore && git add . && git commit -qm init",
    );
    const bucket = await s3.newBucket();
    const env = s3.env(bucket);
    const state = join(s.dir, "state");
    // The archive to restore, and the hash the hasher must always get.
    const first = await runToEnd(s, ["-n", "restore-me", "bash", "-c", RESTORE], {
      ...env,
      TASKRUNNER_SAVE_REMOTE_CACHE: "1",
    });
    expect(first.code).toBe(0);
    const alone = await runToEnd(s, ["-n", "hasher", "bash", "-c", "snapshot .; echo hashed"], env);
    expect(alone.code).toBe(0);
    const expectedHash = readFileSync(join(state, "hash", "hasher.hash"), "utf8");
    const blob = readFileSync(join(s.work, "out", "blob"));
    // About 1.5 s per download. The archive is two zstd frames (4 MB of tar each):
    // the staging folder fills once the first one is in, and the hasher hashes
    // while the second is still on its way.
    s3.pace(bucket, { downloadBytesPerSecond: 3_000_000 });

    for (let run = 1; run <= 5; run++) {
      rmSync(join(s.work, "out"), { recursive: true });
      for (const job of ["restore-me", "hasher"]) rmSync(join(state, "hash", `${job}.hash`));
      const route: Record<string, string> = run % 2 === 0 ? { TASKRUNNER_NESTED_PROCESSES: "1" } : {};
      const r = await runToEnd(s, ["-n", "top", "bash", "-c", BUILD], { ...env, ...route });
      // Restored, not built; hashed with no warning.
      expect({ run, stdout: new TextDecoder().decode(r.stdout), stderr: r.stderr, code: r.code }).toEqual({
        run,
        stdout: "[hasher] stdout | hashed\n",
        stderr: "",
        code: 0,
      });
      expect(readFileSync(join(state, "hash", "hasher.hash"), "utf8")).toBe(expectedHash);
      expect(readFileSync(join(s.work, "out", "blob")).equals(blob)).toBe(true);
      expect(readdirSync(join(s.work, "out", "deep"))).toHaveLength(100);
      expect(stagingFolders(s.dir)).toEqual([]);
    }
  } finally {
    s.cleanup();
  }
}, 180_000);

test.skipIf(noTmpfs !== null)(
  "a declared output that is a mount point (a volume) is emptied and refilled, not merged into",
  async () => {
    const s = scratch("restore-mount");
    try {
      sh(s.work, "git init -q . && echo in > input.txt && echo /out/ > .gitignore && git add . && git commit -qm init");
      mkdirSync(join(s.dir, "remote"));
      const env = { TASKRUNNER_REMOTE_CACHE_DIR: join(s.dir, "remote") };
      const build = "snapshot input.txt -o out; mkdir -p out/pkg; echo new > out/pkg/file; echo built";
      const saved = await runToEnd(s, ["-n", "job", "bash", "-c", build], {
        ...env,
        TASKRUNNER_SAVE_REMOTE_CACHE: "1",
      });
      expect(saved.code).toBe(0);
      rmSync(join(s.work, "out"), { recursive: true });
      rmSync(join(s.dir, "state", "hash"), { recursive: true });
      // out is a tmpfs holding a stale tree: it cannot be moved aside, so it is emptied and refilled.
      const r = await withTmpfs(
        s,
        join(s.work, "out"),
        "size=1m",
        'mkdir out/stale && echo old > out/stale/file && taskrunner -n job bash -c "$BUILD" && find out | sort',
        {
          ...env,
          BUILD: build,
        },
      );
      expect(r).toEqual({ stdout: "out\nout/pkg\nout/pkg/file\n", stderr: "", code: 0 });
    } finally {
      s.cleanup();
    }
  },
);

test("a staging folder left by a SIGKILL mid-restore is removed by the next restore; one a live restore owns never is (two builds in parallel)", async () => {
  const s = scratch("restore-abandoned");
  try {
    sh(
      s.work,
      "git init -q . && mkdir src && echo a > src/a && echo /out/ > .gitignore && echo /out2/ >> .gitignore && git add . && git commit -qm init",
    );
    const bucket = await s3.newBucket();
    const env = s3.env(bucket);
    const state = join(s.dir, "state");
    const other = RESTORE.replaceAll("out", "out2");
    for (const [job, script] of [
      ["r1", RESTORE],
      ["r2", other],
    ]) {
      const saved = await runToEnd(s, ["-n", job, "bash", "-c", script], { ...env, TASKRUNNER_SAVE_REMOTE_CACHE: "1" });
      expect({ job, code: saved.code, stderr: saved.stderr }).toEqual({ job, code: 0, stderr: "" });
    }
    const fresh = () => {
      rmSync(join(s.work, "out"), { recursive: true, force: true });
      rmSync(join(s.work, "out2"), { recursive: true, force: true });
      rmSync(join(state, "hash"), { recursive: true, force: true });
    };
    const staged = () => stagingFolders(join(s.work, ".git"));
    const aMinuteAgo = (dir: string) => utimesSync(dir, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    // Slow downloads (~3 s, then ~8 s for r1's archive): the moments are caught, not timed.
    s3.pace(bucket, { downloadBytesPerSecond: 1_500_000 });

    // 1. Killed mid-restore: its staging folder stays.
    fresh();
    const killed = taskrunner(s, ["-n", "r1", "bash", "-c", RESTORE], env);
    // Once the first 4 MB of the archive are extracted (a folder just made has no tree yet).
    const filled = (d: string) => existsSync(join(d, "tree")) && readdirSync(join(d, "tree")).length > 0;
    await waitFor(() => staged().some(filled), 60_000);
    killed.kill("SIGKILL");
    await killed.exited;
    const [abandoned] = stagingFolders(join(s.work, ".git"));
    expect(abandoned).toBeDefined();
    aMinuteAgo(abandoned);

    // 2. The next restore removes it (a debug line says so); while it restores, its own folder is
    //    old enough to look abandoned, but its lock shows it is not: a second build restoring
    //    beside it leaves it alone.
    fresh();
    s3.pace(bucket, { downloadBytesPerSecond: 600_000 });
    const a = taskrunner(s, ["-n", "r1", "bash", "-c", RESTORE], { ...env, TASKRUNNER_DEBUG: "1" });
    await waitFor(() => staged().some((d) => d !== abandoned), 60_000);
    const [live] = staged();
    expect(live).not.toBe(abandoned);
    expect(existsSync(abandoned)).toBe(false);
    aMinuteAgo(live);
    s3.pace(bucket, {});
    const b = await endedText(taskrunner(s, ["-n", "r2", "bash", "-c", other], env));
    expect({ code: b.code, stdout: b.stdout, stderr: b.stderr }).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(existsSync(live)).toBe(true); // a was still restoring when b swept
    const r = await endedText(a);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(
      `[r1] debug | removed ${abandoned}: a staging folder its restore left behind (its owner is gone)\n`,
    );
    expect(readdirSync(join(s.work, "out", "deep"))).toHaveLength(100);
    expect(readdirSync(join(s.work, "out2", "deep"))).toHaveLength(100);
    expect(stagingFolders(s.dir)).toEqual([]);
  } finally {
    s.cleanup();
  }
}, 180_000);

test.skipIf(noTmpfs !== null)(
  "the file system filling up in the middle of a restore on worker threads: one warn line, old outputs in place, nothing left behind",
  async () => {
    const s = scratch("restore-full");
    try {
      sh(s.work, "git init -q . && echo in > input.txt && echo /out/ > .gitignore && git add . && git commit -qm init");
      mkdirSync(join(s.dir, "remote"));
      const env = { TASKRUNNER_REMOTE_CACHE_DIR: join(s.dir, "remote") };
      // 300 incompressible files of 16 KB (~4.8 MB): workers take over from the 64th file.
      // Run on a miss, the task says what its process (taskrunner, its parent) holds open on the small file system.
      const build = `snapshot input.txt -o out
if [ -n "$POPULATE" ]; then mkdir -p out/pkg; for i in $(seq 300); do head -c 16384 /dev/urandom > out/pkg/f$i; done; fi
echo "ran; open there: $(ls -l /proc/$PPID/fd 2>/dev/null | grep -c "$SMALL")"`;
      const saved = await runToEnd(s, ["-n", "job", "bash", "-c", build], {
        ...env,
        TASKRUNNER_SAVE_REMOTE_CACHE: "1",
        POPULATE: "1",
        SMALL: "/nowhere/",
      });
      expect(saved.code).toBe(0);
      rmSync(join(s.dir, "state", "hash"), { recursive: true });
      // A clone of the repository on a 16 MB file system with ~1.5 MB left: the staging folder
      // is in its git directory, on the same file system, and fills it up after ~90 files.
      const small = join(s.dir, "small");
      const script = `git clone -q "$PWD" "$SMALL/repo" && cd "$SMALL/repo" && mkdir out && echo old > out/old
head -c $(( $(df --output=avail -B1 . | tail -1) - 1500000 )) /dev/zero > "$SMALL/filler"
taskrunner -n job bash -c "$BUILD"; echo "exit $?"
find out .git "$TASKRUNNER_STATE_DIRECTORY" -name '.taskrunner-restore-*'; cat out/old; ls out`;
      const r = await withTmpfs(s, small, "size=16m", script, { ...env, BUILD: build, SMALL: small });
      const restore = `${join(s.dir, "remote")}/taskrunner/bundles/job-`;
      expect(r.stderr).toMatch(
        new RegExp(
          `^\\[job\\] warn \\| Remote cache not used: could not restore ${restore}[0-9a-f]{40}\\.tar\\.zst into ${small}/repo: ENOSPC: no space left on device, write\\n$`,
        ),
      );
      expect(r.stdout).toBe("[job] stdout | ran; open there: 0\nexit 0\nold\nold\n");
      expect(r.code).toBe(0);
    } finally {
      s.cleanup();
    }
  },
);
