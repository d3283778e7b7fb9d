// A no-op build: a toplevel task running 20 nested tasks, each
// `snapshot <one directory of 50 files>` in a 10,000-file repository, all
// skipped. Baseline, measured in the same run: the old tool's per-task work
// done 20 times (bash -c true + the reference hashing pipeline +
// `git status --porcelain --untracked-files=no -- <dir>`).
// Target: ≤ 0.4× the baseline and ≤ 300 ms in total.
import { join } from "node:path";
import { BINARY, scratchDir, timeInterleaved, row } from "./lib";
import { REFERENCE_SCRIPT } from "../tests/fakes/git-repo";

const dir = scratchDir("noop");
const repo = join(dir, "repo");
const env = {
  ...process.env,
  TASKRUNNER_STATE_DIRECTORY: join(dir, "state"),
  GIT_AUTHOR_NAME: "b",
  GIT_AUTHOR_EMAIL: "b@b",
  GIT_COMMITTER_NAME: "b",
  GIT_COMMITTER_EMAIL: "b@b",
} as Record<string, string>;
const sh = (script: string) => {
  const p = Bun.spawnSync(["bash", "-ec", script], { cwd: dir, env, stdout: "ignore", stderr: "inherit" });
  if (!p.success) throw new Error(`setup failed: ${script}`);
};

// 200 directories × 50 files = 10,000 files.
sh(
  `mkdir repo && cd repo && git init -q . && for d in $(seq 1 200); do mkdir d$d; for f in $(seq 1 50); do echo "$d $f" > d$d/f$f; done; done && git add . && git commit -qm init`,
);

const tasks = Array.from(
  { length: 20 },
  (_, i) => `taskrunner -n t${i + 1} bash -c 'snapshot d${i + 1}; echo built'`,
).join("\n");
// The old tool's hashing pipeline (the oracle of the hash tests), with its final hashing.
const reference = `${REFERENCE_SCRIPT} | sha1sum - | awk '{print $1}'`;
const oldWork = Array.from(
  { length: 20 },
  (_, i) =>
    `bash -c true; bash -c '${reference.replaceAll("'", "'\\''")}' hash d${i + 1} >/dev/null; git status --porcelain --untracked-files=no -- d${i + 1} >/dev/null`,
).join("\n");

// Warm: the first build runs every task and saves its hash.
Bun.spawnSync([BINARY, "-n", "build", "bash", "-c", tasks], {
  cwd: repo,
  env: { ...env, PATH: `${join(BINARY, "..")}:${env.PATH}` },
});

// TASKRUNNER_BASELINE_BINARY=/path/to/older/taskrunner: that build too, interleaved, row for row.
const older = process.env.TASKRUNNER_BASELINE_BINARY;

function measure(label: string) {
  // Each build is a new toplevel: every nested task hashes its inputs and is skipped.
  const builds = (bin: string, prefix: string) => {
    const build = [bin, "-n", "build", "bash", "-c", tasks];
    const binPath = `${join(bin, "..")}:${env.PATH}`;
    return [
      {
        label: `${prefix}taskrunner: toplevel + 20 skipped nested tasks`,
        argv: build,
        cwd: repo,
        env: { ...env, PATH: binPath },
      },
      // The same build with a taskrunner process per nested task (the route before src/toplevel/nested-server.ts).
      {
        label: `${prefix}  the same, TASKRUNNER_NESTED_PROCESSES=1`,
        argv: build,
        cwd: repo,
        env: { ...env, PATH: binPath, TASKRUNNER_NESTED_PROCESSES: "1" },
      },
    ];
  };
  const cases = [
    { label: "old per-task work × 20 (baseline)", argv: ["bash", "-c", oldWork], cwd: repo, env },
    ...(older ? builds(older, "older build: ") : []),
    ...builds(BINARY, ""),
  ];
  const times = timeInterleaved(cases, 15);
  console.log(`\n## ${label} (median of 15 interleaved runs)`);
  cases.forEach((c, i) => console.log(row(c.label, times[i], i === 0 ? undefined : times[0])));
  const ours = times[times.length - 2];
  console.log(`ratio ${(ours / times[0]).toFixed(2)}× (target ≤ 0.40×), total ${ours.toFixed(0)} ms (target ≤ 300 ms)`);
  if (older) {
    console.log(row("this build against the older one", ours, times[1]));
    console.log(row("  the same, TASKRUNNER_NESTED_PROCESSES=1", times[times.length - 1], times[2]));
  }
}

measure("fresh index");
// A stale index: every file touched, contents unchanged.
sh("sleep 1.1; cd repo && find . -path ./.git -prune -o -type f -exec touch {} +");
measure("stale index (all files touched, unchanged)");
