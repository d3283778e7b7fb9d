// What the remote entry (src/remote.ts: cache store, GitHub statuses) costs a
// task that uses it, and what reporting commit statuses costs, against a fake
// GitHub API in a process of its own (spawnSync blocks this one).
//
//   bun bench/remote.ts
//   TASKRUNNER_BASELINE_BINARY=/path/to/older/taskrunner bun bench/remote.ts
//     also runs an older build, interleaved with this one, row for row.
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { BINARY, ROOT, timeInterleaved, scratchDir, row } from "./lib";

const RUNS = 30;
const state = scratchDir("remote");
const store = join(state, "store");
mkdirSync(store);
const work = join(state, "work");
mkdirSync(work);
Bun.spawnSync(["git", "init", "-q"], { cwd: work });
Bun.spawnSync(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "--allow-empty", "-m", "x"], {
  cwd: work,
});

// The fake GitHub API of the tests, in a child process that prints the environment to reach it.
const server = Bun.spawn(
  [
    process.execPath,
    "-e",
    `import { generateTestKeys, githubEnv, startFakeGithub } from ${JSON.stringify(join(ROOT, "tests/fakes/github.ts"))};
     const keys = generateTestKeys();
     console.log(JSON.stringify(githubEnv(startFakeGithub({ publicKey: keys.publicKey }), keys)));
     setInterval(() => {}, 1 << 30);`,
  ],
  { stdout: "pipe", stderr: "inherit" },
);
const reader = server.stdout.getReader();
let first = "";
while (!first.includes("\n")) {
  const { value, done } = await reader.read();
  if (done) throw new Error("the fake GitHub API did not start");
  first += new TextDecoder().decode(value);
}
const github = JSON.parse(first) as Record<string, string>;

const binaries: [string, string][] = [["", BINARY]];
if (process.env.TASKRUNNER_BASELINE_BINARY) binaries.unshift(["baseline: ", process.env.TASKRUNNER_BASELINE_BINARY]);

const base = {
  ...process.env,
  TASKRUNNER_STATE_DIRECTORY: join(state, "state"),
  TASKRUNNER_DISABLE_TIMESTAMPS: "1",
} as Record<string, string>;
const withStore = { ...base, TASKRUNNER_REMOTE_CACHE_DIR: store, TASKRUNNER_UPLOAD_LOGS: "1" };
const withGithub = { ...base, ...github };
const cases: { label: string; argv: string[]; env: Record<string, string> }[] = [];
for (const [prefix, bin] of binaries) {
  cases.push(
    { label: `${prefix}taskrunner --version`, argv: [bin, "--version"], env: base },
    { label: `${prefix}taskrunner -n x true`, argv: [bin, "-n", "x", "true"], env: base },
    {
      label: `${prefix}  + log upload to a directory store (loads the remote entry)`,
      argv: [bin, "-n", "x", "true"],
      env: withStore,
    },
    { label: `${prefix}snapshot -n (no status)`, argv: [bin, "-n", "x", "bash", "-c", "snapshot -n"], env: base },
    {
      label: `${prefix}snapshot -n --commit-status (2 statuses, token cached)`,
      argv: [bin, "-n", "x", "bash", "-c", "snapshot -n --commit-status"],
      env: withGithub,
    },
  );
}
try {
  const times = timeInterleaved(
    cases.map((c) => ({ argv: c.argv, env: c.env, cwd: work })),
    RUNS,
  );
  console.log(`## remote entry and commit statuses (median of ${RUNS} interleaved runs)`);
  const per = cases.length / binaries.length;
  binaries.forEach((_, b) => {
    const t = times.slice(b * per, (b + 1) * per);
    const c = cases.slice(b * per, (b + 1) * per);
    console.log(row(c[0].label, t[0]));
    console.log(row(c[1].label, t[1]));
    console.log(row(c[2].label, t[2], t[1]));
    console.log(row(c[3].label, t[3]));
    console.log(row(c[4].label, t[4], t[3]));
  });
  if (binaries.length === 2) {
    console.log("\n## this build against the baseline binary");
    for (let i = 0; i < per; i++) console.log(row(cases[per + i].label, times[per + i], times[i]));
  }
} finally {
  server.kill();
}
