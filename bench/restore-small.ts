// bun bench/restore-small.ts: a small restore, end to end — a task whose
// 50-file output comes from a directory store, and from S3 (s3rver in a
// process of its own), a fresh state directory each run, so no local hash —
// where what surrounds the restore (start-up, the task's shell, hashing,
// opening the cache, finding where to stage, S3's client) is most of the
// time. The task fails unless it was restored, so a run that did not restore
// stops the benchmark.
//
//   TASKRUNNER_BASELINE_BINARY=/path/to/older/taskrunner bun bench/restore-small.ts
//     also runs an older build, interleaved with this one.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, row, scratchDir, startS3Server, timeInterleaved } from "./lib";

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

const s3 = await startS3Server();
const stores: [string, Record<string, string>][] = [
  ["a directory store", { TASKRUNNER_REMOTE_CACHE_DIR: store }],
  ["S3", s3.env],
];
const builds: [string, string][] = [["taskrunner", BINARY]];
const baseline = process.env.TASKRUNNER_BASELINE_BINARY;
if (baseline) builds.unshift(["baseline taskrunner", baseline]);
try {
  const runs = [];
  for (const [what, storeEnv] of stores) {
    const env = { ...(process.env as Record<string, string>), ...storeEnv };
    writeFileSync(populate, "");
    const fill = Bun.spawnSync([BINARY, "-n", "small", "bash", "task.sh"], {
      cwd: repo,
      env: { ...env, TASKRUNNER_SAVE_REMOTE_CACHE: "1", TASKRUNNER_STATE_DIRECTORY: join(dir, `filling-${what}`) },
    });
    if (!fill.success) throw new Error(`filling the cache failed: ${fill.stdout}${fill.stderr}`);
    rmSync(populate);
    rmSync(join(repo, "out"), { recursive: true }); // or the next fill's cp -r would copy into it
    for (const [label, bin] of builds)
      runs.push({
        label: `${label} from ${what}`,
        argv: ["bash", "-c", `rm -rf out '${state}'; exec '${bin}' -n small bash task.sh`],
        cwd: repo,
        env: { ...env, TASKRUNNER_STATE_DIRECTORY: state },
      });
  }
  // All interleaved: the machine's drift slows each alike, so the ratio S3 ÷ directory holds too.
  const times = timeInterleaved(runs, RUNS);
  console.log(`a 50-file restore, end to end (median of ${RUNS}, interleaved)`);
  runs.forEach((r, i) => console.log(row(r.label, times[i], baseline && i % 2 ? times[i - 1] : undefined)));
  const dirMs = times[builds.length - 1];
  const s3Ms = times[times.length - 1];
  console.log(`taskrunner: S3 ÷ directory store ${(s3Ms / dirMs).toFixed(2)}× (+${(s3Ms - dirMs).toFixed(1)} ms)`);
} finally {
  await s3.stop();
}
