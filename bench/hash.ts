// Input hashing of one task: `snapshot <a directory of 50 files>` in a
// 10,000-file repository. Baseline, measured in the same run: the old tool's
// per-task git work (its hashing pipeline run by bash + `git status --porcelain
// --untracked-files=no -- <dir>`). Ours: hashInputs + hasUncommittedChanges,
// both warm (repeated in this process) and cold (the first call in a fresh
// process, as a nested taskrunner makes it), with a fresh and a stale index.
// Run: bun bench/hash.ts
import { join } from "node:path";
import { hashInputs, hasUncommittedChanges } from "../src/hash";
import { haskellStrip, sha1Hex } from "../src/hash/text";
import { gitEnv, REFERENCE_SCRIPT, referenceListing, sh } from "../tests/fakes/git-repo";
import { median, ROOT, scratchDir } from "./lib";

const RUNS = 30;
const dir = scratchDir("hash");
const repo = join(dir, "repo");
const SPEC = "d7";

console.log("building a 10,000-file repository…");
sh(
  dir,
  `mkdir repo && cd repo && git init -q . && for d in $(seq 1 200); do mkdir d$d; for f in $(seq 1 50); do echo "$d $f" > d$d/f$f; done; done
git add . && git -c gc.auto=0 commit -qm init && git gc -q`,
);
// Packed, as a clone is; and no background \`gc --auto\` competing with the measurements.
// Files written in the second of the index write are "racily clean" and re-read by
// every route; a checkout is only in that state for a second.
const settle = () =>
  sh(
    repo,
    "find . -path ./.git -prune -o -type f -exec touch -d '2001-02-03 04:05:06' {} + && git update-index -q --refresh",
  );
settle();

const oldWork = `${REFERENCE_SCRIPT.replace(/\n[^\n]*$/, "")}\ngit ls-tree -r --full-name "$tree" "$@" | sha1sum >/dev/null\ngit status --porcelain --untracked-files=no -- "$@" >/dev/null`;
let tick = 0;
// A stale index: the directory's files touched (contents unchanged) before each run —
// with a new time each run, because the old `git status` refreshes the index.
const makeStale = () => sh(repo, `touch -d '2002-01-01 00:00:${String(tick++ % 60).padStart(2, "0")}' ${SPEC}/*`);

function timeOld(stale: boolean): number {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    if (stale) makeStale();
    const t = performance.now();
    const p = Bun.spawnSync(["bash", "-c", oldWork, "hash", SPEC], {
      cwd: repo,
      env: gitEnv,
      stdout: "ignore",
      stderr: "ignore",
    });
    times.push(performance.now() - t);
    if (!p.success) throw new Error("the old pipeline failed");
  }
  return median(times);
}

async function timeWarm(stale: boolean): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS + 3; i++) {
    if (stale) makeStale();
    const t = performance.now();
    const r = await hashInputs(repo, [SPEC], [], {
      env: process.env,
      onFallback: (why) => console.log(`  fell back: ${why}`),
    });
    await hasUncommittedChanges(repo, [SPEC], { env: process.env });
    if (i >= 3) times.push(performance.now() - t);
    if (!r.ok) throw new Error(r.error);
  }
  return median(times);
}

// The first call in a fresh process, as a nested taskrunner makes it: a probe
// compiled like the real binary (bytecode included) times its two calls.
const probeSource = join(dir, "probe.ts");
const probe = join(dir, "probe");
await Bun.write(
  probeSource,
  `import { hashInputs, hasUncommittedChanges } from ${JSON.stringify(join(ROOT, "src/hash"))};
async function main() {
  const t = performance.now();
  const r = await hashInputs(process.cwd(), [${JSON.stringify(SPEC)}], []);
  await hasUncommittedChanges(process.cwd(), [${JSON.stringify(SPEC)}]);
  console.log(r.ok ? performance.now() - t : "failed");
}
main();
`,
);
const build = Bun.spawnSync([process.execPath, "build", "--compile", "--bytecode", probeSource, "--outfile", probe], {
  stdout: "ignore",
  stderr: "inherit",
});
if (!build.success) throw new Error("could not compile the probe");

function timeCold(stale: boolean): number {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    if (stale) makeStale();
    const p = Bun.spawnSync([probe], { cwd: repo, env: gitEnv, stdout: "pipe", stderr: "inherit" });
    const ms = Number(p.stdout.toString().trim());
    if (!Number.isFinite(ms)) throw new Error(`cold run failed: ${p.stdout}`);
    times.push(ms);
  }
  return median(times);
}

/** The figures mean nothing unless both compute the same hash. */
async function checkSameHash() {
  const old = sha1Hex(haskellStrip(referenceListing(repo, [SPEC]) ?? "failed"));
  const ours = await hashInputs(repo, [SPEC], [], { env: process.env, route: "fast" });
  if (!ours.ok || ours.hash !== old) throw new Error(`hashes differ: old ${old}, ours ${JSON.stringify(ours)}`);
}

const rows: [string, number, number, number][] = [];
for (const stale of [false, true]) {
  if (!stale) settle();
  if (stale) makeStale();
  await checkSameHash();
  const old = timeOld(stale);
  if (!stale) settle();
  const warm = await timeWarm(stale);
  const cold = timeCold(stale);
  rows.push([stale ? "stale index (files touched)" : "fresh index", old, warm, cold]);
}

const f = (ms: number) => `${ms.toFixed(2)} ms`.padStart(10);
console.log(`\nmedians of ${RUNS} runs; \`${SPEC}\` = 50 files of 10,000\n`);
console.log(`| index | old pipeline + status | ours, warm | ours, cold (1st call) | ratio warm / cold |`);
console.log(`|---|---:|---:|---:|---:|`);
for (const [label, old, warm, cold] of rows) {
  console.log(
    `| ${label} | ${f(old)} | ${f(warm)} | ${f(cold)} | ${(warm / old).toFixed(3)}× / ${(cold / old).toFixed(3)}× |`,
  );
}
sh(dir, "rm -rf repo probe probe.ts");
