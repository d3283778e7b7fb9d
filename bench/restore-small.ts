// bun bench/restore-small.ts: a small restore, end to end — a task whose
// 50-file output comes from a directory store (a fresh state directory each
// run, so no local hash) — where what surrounds the restore (start-up, the
// task's shell, hashing, opening the cache, finding where to stage) is most
// of the time. The task fails unless it was restored, so a run that did not
// restore stops the benchmark.
//
//   TASKRUNNER_BASELINE_BINARY=/path/to/older/taskrunner bun bench/restore-small.ts
//     also runs an older build, interleaved with this one.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, row, scratchDir, timeInterleaved } from "./lib";

const RUNS = 40;
const dir = scratchDir("restore-small");
const repo = join(dir, "repo");
const store = join(dir, "store");
const state = join(dir, "state");
const populate = join(dir, "populate"); // present only while the cache is filled
mkdirSync(join(repo, "src"), { recursive: true });
mkdirSync(store);
for (let i = 0; i < 50; i++) writeFileSync(join(repo, `src/f${i}.txt`), `file ${i}\n`);
writeFileSync(join(repo, "build.sh"), `[ -e '${populate}' ] || { echo "not restored"; exit 1; }\ncp -r src out\n`);
writeFileSync(join(repo, "task.sh"), "snapshot build.sh -o out\nsh build.sh\n");
const git = (...args: string[]) =>
  Bun.spawnSync(["git", "-c", "user.email=bench@example.com", "-c", "user.name=bench", ...args], { cwd: repo });
git("init", "-q");
git("add", "-A");
git("commit", "-qm", "bench");

const env = { ...(process.env as Record<string, string>), TASKRUNNER_REMOTE_CACHE_DIR: store };
writeFileSync(populate, "");
const fill = Bun.spawnSync([BINARY, "-n", "small", "bash", "task.sh"], {
  cwd: repo,
  env: { ...env, TASKRUNNER_SAVE_REMOTE_CACHE: "1", TASKRUNNER_STATE_DIRECTORY: join(dir, "filling") },
});
if (!fill.success) throw new Error(`filling the cache failed: ${fill.stdout}${fill.stderr}`);
rmSync(populate);

const restore = (bin: string) => ({
  argv: ["bash", "-c", `rm -rf out '${state}'; exec '${bin}' -n small bash task.sh`],
  cwd: repo,
  env: { ...env, TASKRUNNER_STATE_DIRECTORY: state },
});
const baseline = process.env.TASKRUNNER_BASELINE_BINARY;
const times = timeInterleaved(baseline ? [restore(baseline), restore(BINARY)] : [restore(BINARY)], RUNS);
console.log(`a 50-file restore from a directory store, end to end (median of ${RUNS}, interleaved)`);
if (baseline) {
  console.log(row("baseline taskrunner", times[0]));
  console.log(row("taskrunner", times[1], times[0]));
} else console.log(row("taskrunner", times[0]));
