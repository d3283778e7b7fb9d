// bun bench/restore.ts [rounds]: restoring a node_modules from the cache, end
// to end, against `zstd -dc | tar -x` of the same tree and Turborepo's own
// restore of the same outputs, in the same run, interleaved.
//
// The tree is a real one: `npm ci --ignore-scripts` of bench/fixtures/node-modules
// (~27,000 files in ~3,000 directories, ~170 MB). It and Turborepo (from the npm
// registry, into a folder of the bench's own, never a dependency of ours) are
// kept in $TMPDIR/taskrunner-bench-restore between runs: the first run needs the
// registry and a minute more.
//
// Each round restores with each of the three, in a rotating order, into a repository
// whose node_modules was moved away: taskrunner restores a task's declared output
// from a directory store (`snapshot package.json -o node_modules`, a fresh state
// directory, so no local hash), turbo restores its task's `node_modules/**` from
// its local cache (a cache hit, "FULL TURBO"), and the CLI pipes the archive the
// old tool would have made (`tar -c node_modules | zstd -3`) into `tar -x`.
// Every tree is kept until the end: deleting 24,000 files makes the next
// creations slower on this machine's ext4 (it skips recently freed inodes).
// Targets (issue 15): ≤ 0.6× the CLI, ≤ 0.8× turbo, peak RSS ≤ 100 MiB.
//
//   TASKRUNNER_BASELINE_BINARY=/path/to/older/taskrunner bun bench/restore.ts
//     also restores with an older build, interleaved with the others.
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, ROOT, median, scratchDir } from "./lib";

const TURBO_VERSION = "2.11.11";
const rounds = Number(process.argv[2] ?? 9);

function run(argv: string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}): { ms: number; rss: number; out: string } {
  const t = performance.now();
  const p = Bun.spawnSync(argv, { cwd: opts.cwd, env: opts.env ?? process.env, stdout: "pipe", stderr: "pipe" });
  const ms = performance.now() - t;
  if (!p.success) throw new Error(`${argv.join(" ")} failed (${p.exitCode}):\n${p.stdout}${p.stderr}`);
  return { ms, rss: p.resourceUsage.maxRSS, out: `${p.stdout}${p.stderr}` };
}

const keep = join(tmpdir(), "taskrunner-bench-restore");
mkdirSync(keep, { recursive: true });

/** The node_modules of the fixture's lockfile, installed once per lockfile. */
function tree(): string {
  const fixture = join(ROOT, "bench/fixtures/node-modules");
  const lock = readFileSync(join(fixture, "package-lock.json"));
  const dir = join(keep, `tree-${createHash("sha1").update(lock).digest("hex").slice(0, 12)}`);
  if (!existsSync(join(dir, "node_modules/.package-lock.json"))) {
    console.log(`installing the tree (npm ci of bench/fixtures/node-modules) into ${dir} ...`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    cpSync(join(fixture, "package.json"), join(dir, "package.json"));
    cpSync(join(fixture, "package-lock.json"), join(dir, "package-lock.json"));
    run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], { cwd: dir });
  }
  return join(dir, "node_modules");
}

/** turbo's binary, installed once, or null when it cannot be (offline). */
function turbo(): string | null {
  const dir = join(keep, `turbo-${TURBO_VERSION}`);
  const bin = join(dir, "node_modules/.bin/turbo");
  if (!existsSync(bin)) {
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "package.json"), '{"private":true}\n');
      run(["npm", "install", "--no-audit", "--no-fund", `turbo@${TURBO_VERSION}`], { cwd: dir });
    } catch (e) {
      console.log(`turbo ${TURBO_VERSION} could not be installed, so no comparison with it: ${(e as Error).message.split("\n")[0]}`);
      return null;
    }
  }
  return bin;
}

const source = tree();
const turboBin = turbo();
const hasZstd = Bun.spawnSync(["sh", "-c", "command -v zstd"]).exitCode === 0;
const work = scratchDir("restore");
try {
  const repo = join(work, "repo");
  const trash = join(work, "trash");
  mkdirSync(repo);
  mkdirSync(trash);
  const populate = join(work, "populate"); // present only while the caches are filled
  // One task in both tools: its input is package.json, its output node_modules; it
  // fails unless the caches are being filled, so a round that did not restore fails.
  writeFileSync(join(repo, "build.sh"), `[ -e '${populate}' ] || { echo "not restored"; exit 1; }\ncp -a '${source}' node_modules\n`);
  writeFileSync(join(repo, "task.sh"), "snapshot package.json -o node_modules\nsh build.sh\n");
  writeFileSync(join(repo, "package.json"), JSON.stringify({ name: "bench", private: true, packageManager: "npm@10.9.0", scripts: { build: "sh build.sh" } }));
  writeFileSync(join(repo, "package-lock.json"), JSON.stringify({ name: "bench", lockfileVersion: 3, requires: true, packages: { "": { name: "bench" } } }));
  writeFileSync(join(repo, "turbo.json"), JSON.stringify({ tasks: { build: { outputs: ["node_modules/**"], inputs: ["package.json"] } } }));
  writeFileSync(join(repo, ".gitignore"), "node_modules/\n.turbo/\n");
  const git = (...args: string[]) => run(["git", "-c", "user.email=bench@example.com", "-c", "user.name=bench", ...args], { cwd: repo });
  git("init", "-q");
  git("add", "-A");
  git("commit", "-qm", "bench");

  const store = join(work, "store");
  mkdirSync(store);
  let states = 0;
  const taskrunnerEnv = () => ({ ...process.env, TASKRUNNER_REMOTE_CACHE_DIR: store, TASKRUNNER_STATE_DIRECTORY: join(work, `state-${states++}`) });
  const turboEnv = { ...process.env, TURBO_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1", TURBO_NO_UPDATE_NOTIFIER: "1" };
  const taskrunner = (bin = BINARY) => run([bin, "-n", "restore", "bash", "task.sh"], { cwd: repo, env: taskrunnerEnv() });
  const turboRun = () => run([turboBin!, "run", "build", "--no-daemon"], { cwd: repo, env: turboEnv });
  let moved = 0;
  const clear = () => existsSync(join(repo, "node_modules")) && renameSync(join(repo, "node_modules"), join(trash, `${moved++}`));

  // Fill the caches: each tool's own, and the old tool's archive for the CLI.
  writeFileSync(populate, "");
  run([BINARY, "-n", "restore", "bash", "task.sh"], { cwd: repo, env: { ...taskrunnerEnv(), TASKRUNNER_SAVE_REMOTE_CACHE: "1" } });
  const archive = join(work, "cli.tar.zst");
  if (hasZstd) run(["sh", "-c", `tar -cf - node_modules | zstd -3 -q -o '${archive}'`], { cwd: repo });
  if (turboBin) {
    clear();
    turboRun();
  }
  rmSync(populate);
  clear();

  const contenders: [string, () => { ms: number; rss: number; out: string }][] = [
    [
      "taskrunner",
      () => {
        clear();
        return taskrunner();
      },
    ],
  ];
  const baseline = process.env.TASKRUNNER_BASELINE_BINARY;
  if (baseline) {
    contenders.push([
      "baseline taskrunner",
      () => {
        clear();
        return taskrunner(baseline);
      },
    ]);
  }
  if (hasZstd) {
    contenders.push([
      "zstd -dc | tar -x",
      () => {
        const dest = join(trash, `${moved++}`);
        mkdirSync(dest);
        return run(["sh", "-c", `zstd -dcq '${archive}' | tar -C '${dest}' -xf -`]);
      },
    ]);
  }
  if (turboBin) {
    contenders.push([
      `turbo ${TURBO_VERSION}`,
      () => {
        clear();
        const r = turboRun();
        if (!r.out.includes("FULL TURBO")) throw new Error(`turbo did not restore from its cache:\n${r.out}`);
        return r;
      },
    ]);
  }
  const times = new Map(contenders.map(([name]) => [name, [] as number[]]));
  const rss = new Map(contenders.map(([name]) => [name, 0]));
  for (let round = 0; round < rounds + 1; round++) {
    for (let i = 0; i < contenders.length; i++) {
      const [name, measure] = contenders[(round + i) % contenders.length];
      Bun.spawnSync(["sync"]); // what the last one wrote is flushed before the next one starts
      const r = measure();
      if (round === 0) continue; // warm-up
      times.get(name)!.push(r.ms);
      rss.set(name, Math.max(rss.get(name)!, r.rss));
    }
  }

  // Each round's ratio, then their median: steadier than a ratio of medians on a machine whose speed drifts.
  const ours = times.get("taskrunner")!;
  const ratio = (name: string) => median(ours.map((ms, i) => ms / times.get(name)![i]));
  console.log(`node_modules of ${source}: median of ${rounds} rounds, interleaved (peak RSS in brackets)`);
  for (const [name] of contenders) {
    const vs = name === "taskrunner" ? "" : `   taskrunner/this ${ratio(name).toFixed(2)}× (median of the rounds' ratios)`;
    console.log(`  ${name.padEnd(20)} ${median(times.get(name)!).toFixed(0).padStart(6)} ms  [${(rss.get(name)! / 2 ** 20).toFixed(0)} MiB]${vs}`);
  }
  const mib = rss.get("taskrunner")! / 2 ** 20;
  const checks: string[] = [`peak RSS ${mib.toFixed(0)} MiB ${mib <= 100 ? "ok" : "ABOVE the 100 MiB target"}`];
  if (hasZstd) {
    const r = ratio("zstd -dc | tar -x");
    checks.push(`vs the CLI ${r.toFixed(2)}× ${r <= 0.6 ? "ok" : "ABOVE the 0.6× target"}`);
  }
  if (turboBin) {
    const r = ratio(`turbo ${TURBO_VERSION}`);
    checks.push(`vs turbo ${r.toFixed(2)}× ${r <= 0.8 ? "ok" : "ABOVE the 0.8× target"}`);
  }
  console.log(`taskrunner: ${checks.join("; ")}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
