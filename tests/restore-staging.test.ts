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
import { mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary } from "./helpers/binary";
import { noTmpfs, withTmpfs } from "./helpers/mount";
import { runToEnd, scratch, stagingFolders } from "./helpers/run";
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
    sh(s.work, "git init -q . && mkdir src other && echo a > src/a && echo b > other/b && echo /out/ > .gitignore && git add . && git commit -qm init");
    const bucket = await s3.newBucket();
    const env = s3.env(bucket);
    const state = join(s.dir, "state");
    // The archive to restore, and the hash the hasher must always get.
    const first = await runToEnd(s, ["-n", "restore-me", "bash", "-c", RESTORE], { ...env, TASKRUNNER_SAVE_REMOTE_CACHE: "1" });
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


test.skipIf(noTmpfs !== null)("a declared output that is a mount point (a volume) is emptied and refilled, not merged into", async () => {
  const s = scratch("restore-mount");
  try {
    sh(s.work, "git init -q . && echo in > input.txt && echo /out/ > .gitignore && git add . && git commit -qm init");
    mkdirSync(join(s.dir, "remote"));
    const env = { TASKRUNNER_REMOTE_CACHE_DIR: join(s.dir, "remote") };
    const build = "snapshot input.txt -o out; mkdir -p out/pkg; echo new > out/pkg/file; echo built";
    const saved = await runToEnd(s, ["-n", "job", "bash", "-c", build], { ...env, TASKRUNNER_SAVE_REMOTE_CACHE: "1" });
    expect(saved.code).toBe(0);
    rmSync(join(s.work, "out"), { recursive: true });
    rmSync(join(s.dir, "state", "hash"), { recursive: true });
    // out is a tmpfs holding a stale tree: it cannot be moved aside, so it is emptied and refilled.
    const r = await withTmpfs(s, join(s.work, "out"), "size=1m", 'mkdir out/stale && echo old > out/stale/file && taskrunner -n job bash -c "$BUILD" && find out | sort', {
      ...env,
      BUILD: build,
    });
    expect(r).toEqual({ stdout: "out\nout/pkg\nout/pkg/file\n", stderr: "", code: 0 });
  } finally {
    s.cleanup();
  }
});
