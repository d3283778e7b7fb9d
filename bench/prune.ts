// bun bench/prune.ts [rounds]: what retention costs.
//
// 1. A restore marks its archive as used (cache/last-used.ts: an fstat and a
//    futimes on the open descriptor). Measured two ways: the two calls alone,
//    in this process, against the open and close they follow; and a whole
//    restore of a small archive from a directory store by the compiled binary
//    against TASKRUNNER_BASELINE_BINARY (a build without the mark), interleaved.
// 2. `taskrunner --prune-cache` over a store of 10,000 archives: the scan with
//    nothing to remove, and removing half of them (--max-size), each round on a
//    fresh copy.
import { cpSync, mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { markUsed } from "../src/cache/last-used";
import { BINARY, median, row, scratchDir, timeInterleaved } from "./lib";

const rounds = Number(process.argv[2] ?? 15);
const dir = scratchDir("prune");
const baseline = process.env.TASKRUNNER_BASELINE_BINARY;

async function markAlone(): Promise<void> {
  const file = join(dir, "archive.tar.zst");
  writeFileSync(file, Buffer.alloc(4096));
  const plain: number[] = [];
  const marked: number[] = [];
  for (let i = 0; i < 2000; i++) {
    for (const [times, mark] of [
      [plain, false],
      [marked, true],
    ] as const) {
      const t = performance.now();
      const h = await open(file, "r");
      if (mark) await markUsed(h, file, () => {});
      await h.close();
      times.push((performance.now() - t) * 1000);
    }
  }
  const [p, m] = [median(plain), median(marked)];
  console.log(
    `open + close: ${p.toFixed(1)} µs; open + mark + close: ${m.toFixed(1)} µs (the mark: +${(m - p).toFixed(1)} µs)`,
  );
}

function restoreEndToEnd(): void {
  const work = join(dir, "work");
  mkdirSync(work);
  const env = {
    ...process.env,
    TASKRUNNER_REMOTE_CACHE_DIR: join(dir, "store"),
    TASKRUNNER_STATE_DIRECTORY: join(dir, "state"),
  } as Record<string, string>;
  mkdirSync(env.TASKRUNNER_REMOTE_CACHE_DIR);
  const git = (args: string) =>
    Bun.spawnSync(["bash", "-c", `git ${args}`], {
      cwd: work,
      env: {
        ...env,
        GIT_AUTHOR_NAME: "b",
        GIT_AUTHOR_EMAIL: "b@b",
        GIT_COMMITTER_NAME: "b",
        GIT_COMMITTER_EMAIL: "b@b",
      },
    });
  git("init -q . && echo a > in.txt && echo out/ > .gitignore && git add . && git commit -qm x");
  const task = ["-n", "job", "bash", "-c", "snapshot in.txt -o out; mkdir -p out; echo built > out/file"];
  Bun.spawnSync([BINARY, ...task], { cwd: work, env: { ...env, TASKRUNNER_SAVE_REMOTE_CACHE: "1" } });
  // Each run restores: no local hash, no outputs.
  const restore = (binary: string) => ({
    argv: ["bash", "-c", `rm -rf out "$TASKRUNNER_STATE_DIRECTORY" && exec "$0" "$@"`, binary, ...task],
    cwd: work,
    env,
  });
  const commands = [restore(BINARY), ...(baseline ? [restore(baseline)] : [])];
  const [ours, base] = timeInterleaved(commands, rounds * 4);
  console.log(row("restore of a 1-file archive (directory store)", ours, base));
  if (!baseline) console.log("  (set TASKRUNNER_BASELINE_BINARY to compare with a build without the mark)");
}

function pruneStore(): void {
  const template = join(dir, "template");
  const bundles = join(template, "taskrunner", "bundles");
  mkdirSync(bundles, { recursive: true });
  const now = Date.now();
  for (let i = 0; i < 10_000; i++) {
    const path = join(bundles, `job${i % 50}-${i.toString(16).padStart(40, "0")}.tar.zst`);
    writeFileSync(path, Buffer.alloc(1024));
    const t = new Date(now - i * 60_000);
    utimesSync(path, t, t);
  }
  const scan: number[] = [];
  const half: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const copy = join(dir, `copy-${round}`);
    cpSync(template, copy, { recursive: true, preserveTimestamps: true });
    const env = { ...process.env, TASKRUNNER_REMOTE_CACHE_DIR: copy };
    for (const [times, args] of [
      [scan, ["--max-age", "1000"]],
      [half, ["--max-size", String(5000 * 1024)]],
    ] as const) {
      const t = performance.now();
      const p = Bun.spawnSync([BINARY, "--prune-cache", ...args], { env, stdout: "ignore", stderr: "pipe" });
      times.push(performance.now() - t);
      if (!p.success) throw new Error(`prune failed: ${p.stderr}`);
    }
    rmSync(copy, { recursive: true, force: true });
  }
  console.log(row("--prune-cache over 10,000 archives, nothing to remove", median(scan)));
  console.log(row("--prune-cache over 10,000 archives, removing 5,000", median(half)));
}

await markAlone();
restoreEndToEnd();
pruneStore();
