// No-op builds at scale: a generated 100,000-file repository (2,000 folders ×
// 50 small files), one toplevel build whose nested tasks are all skipped, in
// three shapes:
//   - 100 tasks × 50 files          (`snapshot pkgNNNN`)
//   - 10 tasks × 5,000 files         (`snapshot pkgN00 … pkgN99`: 100 folders each)
//   - 10 tasks × a wildcard          (`snapshot 'pkg0N*'`: 5,000 files each)
// Baseline, interleaved in the same run: the old tool's per-task work (bash -c
// true + its hashing pipeline + `git status --porcelain --untracked-files=no`).
// Target: every shape ≤ 0.3× the baseline. Then, in this process: one
// 5,000-file input hashed warm, as the toplevel hashes for its nested tasks
// (target ≤ 12 ms), with the floor it cannot go below — an lstat(2) per file.
//
//   bun bench/noop-scale.ts (or npm run bench -- noop-scale)
//   TASKRUNNER_BASELINE_BINARY=/path/to/older/taskrunner bun bench/noop-scale.ts
//     also runs each build with an older binary, interleaved with the others.
import { join } from "node:path";
import { hashInputs } from "../src/hash";
import { native } from "../src/hash/native";
import { haskellStrip, sha1Hex } from "../src/hash/text";
import { gitEnv, REFERENCE_SCRIPT, referenceListing, sh } from "../tests/fakes/git-repo";
import { BINARY, median, row, scratchDir, timeInterleaved } from "./lib";

const dir = scratchDir("scale");
const repo = join(dir, "repo");
const env: Record<string, string> = { ...gitEnv, TASKRUNNER_STATE_DIRECTORY: join(dir, "state") };
const folder = (i: number) => `pkg${String(i).padStart(4, "0")}`;

console.log("building a 100,000-file repository…");
sh(
  dir,
  `mkdir repo && cd repo && git init -q . && for d in $(seq -w 0 1999); do mkdir pkg$d; for f in $(seq 1 50); do echo "$d $f" > pkg$d/f$f.txt; done; done
git add . && git -c gc.auto=0 commit -qm init`,
);
// Files written in the second of the index write are "racily clean" and re-read by
// every route; a checkout is only in that state for a second.
sh(
  repo,
  "find . -path ./.git -prune -o -type f -exec touch -d '2001-02-03 04:05:06' {} + && git update-index -q --refresh",
);

interface Shape {
  label: string;
  /** Each task's pathspecs. */
  tasks: string[][];
  runs: number;
}
const shapes: Shape[] = [
  { label: "100 tasks × 50 files", tasks: Array.from({ length: 100 }, (_, t) => [folder(t * 20)]), runs: 7 },
  {
    label: "10 tasks × 5,000 files (100 folders each)",
    tasks: Array.from({ length: 10 }, (_, t) => Array.from({ length: 100 }, (_, f) => folder(t * 100 + f))),
    runs: 15,
  },
  {
    label: "10 tasks × 5,000 files (snapshot 'pkg0N*')",
    tasks: Array.from({ length: 10 }, (_, t) => [`pkg0${t}*`]),
    runs: 15,
  },
];

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
const reference = `${REFERENCE_SCRIPT} | sha1sum - | awk '{print $1}'`;
const path = `${join(BINARY, "..")}:${env.PATH}`;
const older = process.env.TASKRUNNER_BASELINE_BINARY;
const results: { label: string; baseline: number; ours: number; before?: number }[] = [];

for (const [n, shape] of shapes.entries()) {
  const build = shape.tasks
    .map(
      (specs, t) => `taskrunner -n s${n}t${t} bash -c ${quote(`snapshot ${specs.map(quote).join(" ")}; echo built`)}`,
    )
    .join("\n");
  const oldWork = shape.tasks
    .map((specs) => {
      const args = specs.map(quote).join(" ");
      return `bash -c true; bash -c ${quote(reference)} hash ${args} >/dev/null; git status --porcelain --untracked-files=no -- ${args} >/dev/null`;
    })
    .join("\n");
  // The first build runs every task and saves its hash; the measured ones skip them all.
  const first = Bun.spawnSync([BINARY, "-n", `shape${n}`, "bash", "-c", build], {
    cwd: repo,
    env: { ...env, PATH: path },
    stdout: "pipe",
    stderr: "pipe",
  });
  if (!first.success || (first.stdout.toString().match(/built/g)?.length ?? 0) !== shape.tasks.length)
    throw new Error(`the first build of ${shape.label} failed`);
  // An older binary runs its nested tasks through its own directory on PATH; its hashes are the same.
  const beforeRun = older
    ? [
        {
          argv: [older, "-n", `shape${n}`, "bash", "-c", build],
          cwd: repo,
          env: { ...env, PATH: `${join(older, "..")}:${env.PATH}` },
        },
      ]
    : [];
  const [baseline, ours, before] = timeInterleaved(
    [
      { argv: ["bash", "-c", oldWork], cwd: repo, env },
      { argv: [BINARY, "-n", `shape${n}`, "bash", "-c", build], cwd: repo, env: { ...env, PATH: path } },
      ...beforeRun,
    ],
    shape.runs,
  );
  const again = Bun.spawnSync([BINARY, "-n", `shape${n}`, "bash", "-c", build], {
    cwd: repo,
    env: { ...env, PATH: path },
    stdout: "pipe",
  });
  if (again.stdout.toString().includes("built"))
    throw new Error(`${shape.label}: a measured build ran a task instead of skipping it`);
  console.log(`\n## ${shape.label} (median of ${shape.runs} interleaved runs)`);
  console.log(row("old per-task work (baseline)", baseline));
  console.log(row("taskrunner: toplevel + skipped nested tasks", ours, baseline));
  if (before !== undefined) console.log(row("  the same with TASKRUNNER_BASELINE_BINARY", before, baseline));
  console.log(
    `${(ours / shape.tasks.length).toFixed(1)} ms a task; ratio ${(ours / baseline).toFixed(2)}× (target ≤ 0.30×)`,
  );
  results.push({ label: shape.label, baseline, ours, before });
}

// One 5,000-file input, warm, in this process (as the toplevel answers a nested
// task). The floor: an lstat(2) of each file, which no route can skip.
const RUNS = 40;
const warm = async (specs: string[]) => {
  const expected = sha1Hex(haskellStrip(referenceListing(repo, specs) ?? "failed"));
  const times: number[] = [];
  for (let i = 0; i < RUNS + 5; i++) {
    const t = performance.now();
    const r = await hashInputs(repo, specs, [], { env: process.env, route: "fast" });
    if (i >= 5) times.push(performance.now() - t);
    if (!r.ok || r.hash !== expected) throw new Error(`hash differs from the old pipeline's: ${JSON.stringify(r)}`);
  }
  return median(times);
};
const files = shapes[1].tasks[0].flatMap((f) =>
  Array.from({ length: 50 }, (_, i) => Buffer.from(`${f}/f${i + 1}.txt`)),
);
const root = Buffer.from(`${repo}/`);
const floor = () => {
  const n = native()!;
  const t = performance.now();
  for (const f of files) n.lstatAt(root, f, 0, f.length);
  return performance.now() - t;
};
const floors: number[] = [];
for (let i = 0; i < RUNS; i++) floors.push(floor());
console.log(`\n## one 5,000-file input hashed warm in-process (median of ${RUNS}; target ≤ 12 ms)`);
console.log(row("100 folders of 50 files", await warm(shapes[1].tasks[0])));
console.log(row("'pkg00*'", await warm(["pkg00*"])));
console.log(row("floor: lstat of the 5,000 files alone", median(floors)));

console.log(
  `\n| case | old pipeline | ours | ratio |${older ? " older binary | ratio |" : ""}\n|---|---:|---:|---:|${older ? "---:|---:|" : ""}`,
);
for (const r of results) {
  const before = r.before === undefined ? "" : ` ${r.before.toFixed(0)} ms | ${(r.before / r.baseline).toFixed(2)}× |`;
  console.log(
    `| ${r.label} | ${r.baseline.toFixed(0)} ms | ${r.ours.toFixed(0)} ms | ${(r.ours / r.baseline).toFixed(2)}× |${before}`,
  );
}
sh("/", `rm -rf ${quote(dir)}`);
