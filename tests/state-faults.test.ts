// The state directory failing under a build: full, read-only, or removed
// while a task runs. Each is one clear line naming the file and the cause —
// never "internal error" — and a task that ran keeps its own exit code.
//
// A full or read-only file system is a small tmpfs (helpers/mount.ts: no root
// needed). Where the kernel does not allow that, those tests are skipped,
// saying why.
import { beforeAll, expect, test } from "bun:test";
import { ensureBinary } from "./helpers/binary";
import { noTmpfs, withTmpfs } from "./helpers/mount";
import { runToEnd, scratch } from "./helpers/run";
import { sh } from "./fakes/git-repo";

beforeAll(ensureBinary, 120_000);

const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/** Runs `taskrunner -n job bash -c TASK` with its state directory on a fresh tmpfs (with these mount options). */
async function onSmallStateDirectory(mountOptions: string, task: string) {
  const s = scratch("state-faults");
  sh(s.work, "git init -q . && echo foo > input.txt && git add . && git commit -qm init");
  const state = s.env.TASKRUNNER_STATE_DIRECTORY;
  try {
    const r = await withTmpfs(s, state, mountOptions, 'exec taskrunner -n job bash -c "$TASK"', { TASK: task });
    return { ...r, stderr: r.stderr.replaceAll(state, "$STATE") };
  } finally {
    s.cleanup();
  }
}

if (noTmpfs) console.warn(`skipping the full and read-only state directory tests: ${noTmpfs}`);

test.skipIf(noTmpfs !== null)(
  "a state directory that fills up during a task: one warn line naming the file and the cause; the task's exit code stands",
  async () => {
    const script = `snapshot input.txt; echo before; cat /dev/zero > "$TASKRUNNER_STATE_DIRECTORY/filler" 2>/dev/null; echo after`;
    const r = await onSmallStateDirectory("size=256k", script);
    expect(r.stdout).toBe("[job] stdout | before\n[job] stdout | after\n");
    expect(r.stderr).toMatch(/^\[job\] warn \| cannot write \$STATE\/\S+: No space left on device; [^\n]+\n$/);
    expect(r.code).toBe(0);
  },
);

test.skipIf(noTmpfs !== null)("a read-only state directory: one error line, and the task does not run", async () => {
  const r = await onSmallStateDirectory("size=64k,ro", "echo ran");
  expect(r.stdout).toBe("");
  expect(r.stderr).toMatch(/^\[job\] error \| cannot create \$STATE\/builds: Read-only file system\n$/);
  expect(r.code).toBe(1);
});

test("a state directory removed while a task runs: one warn line naming the file and the cause; the task's exit code stands", async () => {
  const s = scratch("state-removed");
  try {
    const r = await runToEnd(s, [
      "-n",
      "job",
      "bash",
      "-c",
      'rm -rf "$TASKRUNNER_STATE_DIRECTORY"; echo removed; exit 3',
    ]);
    expect(decode(r.stdout)).toBe("[job] stdout | removed\n");
    const state = s.env.TASKRUNNER_STATE_DIRECTORY;
    expect(r.stderr.replaceAll(state, "$STATE")).toMatch(
      /^\[job\] warn \| cannot write \$STATE\/builds\/[^/]+\/results\/job: No such file or directory; the task's result is not recorded\n$/,
    );
    expect(r.code).toBe(3);
  } finally {
    s.cleanup();
  }
});

test("a nested task whose state directory was removed says so too, and its caller goes on", async () => {
  const s = scratch("state-removed-nested");
  try {
    sh(s.work, "git init -q . && echo foo > input.txt && git add . && git commit -qm init");
    const script = `taskrunner -n inner bash -c 'snapshot input.txt; rm -rf "$TASKRUNNER_STATE_DIRECTORY"; echo removed'; echo "inner: $?"`;
    const r = await runToEnd(s, ["-n", "top", "bash", "-c", script]);
    expect(decode(r.stdout)).toBe("[inner] stdout | removed\n[top] stdout | inner: 0\n");
    const lines = r.stderr.replaceAll(s.env.TASKRUNNER_STATE_DIRECTORY, "$STATE").split("\n").filter(Boolean);
    expect(lines).toEqual([
      "[inner] warn | cannot write $STATE/hash/inner.hash: No such file or directory; its hash is not saved, so the next run runs it again",
      expect.stringMatching(
        /^\[top\] warn \| cannot write \$STATE\/builds\/[^/]+\/results\/top: No such file or directory; the task's result is not recorded$/,
      ),
    ]);
    expect(r.code).toBe(0);
  } finally {
    s.cleanup();
  }
});
