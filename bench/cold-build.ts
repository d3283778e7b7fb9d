// bun bench/cold-build.ts [rounds]: a cold CI build (every task runs and
// uploads its cache) against the same commands in plain bash, interleaved.
// Target (issue 15): ≤ 1.03× plain bash.
//
// The build, four tasks in a row as a CI script would have them: `install`
// copies a 2,000-file, 24 MB tree (outputs deps/), `build` concatenates and
// compresses it (outputs dist/), `lint` and `test` read it all (--cache-success,
// no outputs); ~4 s in all here, most of it single-threaded, as CI steps are.
// Every task's inputs are a committed 1,000-file src/ (hashed before the run,
// and again after it to catch a task that changed its own inputs) and a --raw
// string new to each run, so nothing is skipped or restored.
//
// Wall time on this shared 2-core VM moves by ±5 % from run to run, more than
// the overhead sought, so each run's CPU time is measured too: user+sys of the
// whole process tree (wait4's rusage of the toplevel, which includes every
// process it and its tasks waited for). Taskrunner's own cost is split by
// adding one feature per variant, each the one before plus:
//   runner only       the same tasks without `snapshot`: the runner, its logs and output
//   + hashing         `snapshot src --raw …` saving nothing: the hashes before and after
//   + archive         saving to a directory store: tar, zstd, the write to disk
//   + upload (S3)     saving to S3 instead: the SDK's requests (the archive as above)
// s3rver runs in a process of its own (bench/s3-server.ts); its CPU time is
// shown apart and not counted: on a CI runner S3 is not on the machine.
//
//   TASKRUNNER_BASELINE_BINARY=/path/to/older/taskrunner bun bench/cold-build.ts
//     also runs an older build's directory-store and S3 variants, interleaved.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, median, scratchDir, startS3Server, type S3Server } from "./lib";

const rounds = Number(process.argv[2] ?? 7);

const STEPS = [
  { name: "install", snapshot: "-o deps", run: 'rm -rf deps && cp -a "$FIXTURE" deps' },
  {
    name: "build",
    snapshot: "-o dist",
    run: "mkdir -p dist && find deps -type f | sort | xargs cat | gzip -9 > dist/bundle.gz && sha256sum dist/bundle.gz > dist/SUMS",
  },
  { name: "lint", snapshot: "--cache-success", run: "find deps -type f | sort | xargs sha1sum > /dev/null" },
  {
    name: "test",
    snapshot: "--cache-success",
    run: "for i in 1 2 3; do find deps -type f | sort -r | xargs cat | gzip -9 > /dev/null; done",
  },
];

/** `folders` × 20 files of text-like bytes (~12 KB each). */
function fixture(dir: string, folders: number): void {
  const words =
    "const function return import export default module require value index length string number object".split(" ");
  for (let d = 0; d < folders; d++) {
    mkdirSync(join(dir, `pkg${d}/lib`), { recursive: true });
    for (let f = 0; f < 20; f++) {
      const parts: string[] = [];
      for (let n = 0, size = 0; size < 12_000; n++) {
        const w = `${words[(n * 7 + f * 13 + d) % words.length]}${n % 11 === 0 ? (n * f + d) % 9973 : ""}${n % 13 === 0 ? ";\n" : " "}`;
        parts.push(w);
        size += w.length;
      }
      writeFileSync(join(dir, `pkg${d}/lib/f${f}.js`), parts.join(""));
    }
  }
}

interface Sample {
  wall: number;
  /** user+sys of the process tree, ms. */
  cpu: number;
  /** s3rver's, ms (0 when not used). */
  s3cpu: number;
  /** Per nested task, from its record (tasks/<job>.json): its hash phase, and what follows its run (the re-hash, the outputs' metadata). */
  hashMs: number[];
  afterRunMs: number[];
  /** The time between nested tasks (one's end to the next one's start), summed: what a background upload may hold back. */
  gapMs: number[];
}

/** The nested tasks' records of the build in `stateDir`. */
function records(stateDir: string): Pick<Sample, "hashMs" | "afterRunMs" | "gapMs"> {
  const hashMs: number[] = [];
  const afterRunMs: number[] = [];
  const spans: { start: number; end: number }[] = [];
  const builds = join(stateDir, "builds");
  for (const build of existsSync(builds) ? readdirSync(builds) : []) {
    for (const file of readdirSync(join(builds, build, "tasks"))) {
      const task = JSON.parse(readFileSync(join(builds, build, "tasks", file), "utf8")) as {
        parent: string | null;
        start: number;
        end: number;
        phases: { name: string; start: number; end: number }[];
      };
      if (task.parent === null) continue;
      const phase = (name: string) => task.phases.find((p) => p.name === name);
      const hash = phase("hash");
      const ran = phase("run");
      if (hash) hashMs.push(hash.end - hash.start);
      if (ran) afterRunMs.push(task.end - ran.end);
      spans.push(task);
    }
  }
  spans.sort((a, b) => a.start - b.start);
  const gapMs = [spans.slice(1).reduce((sum, t, i) => sum + t.start - spans[i].end, 0)];
  return { hashMs, afterRunMs, gapMs };
}

async function run(
  argv: string[],
  cwd: string,
  env: Record<string, string | undefined>,
  s3: S3Server | null,
): Promise<Sample> {
  const s3before = s3?.cpu() ?? 0;
  const t = performance.now();
  const p = Bun.spawn(argv, { cwd, env, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  const wall = performance.now() - t;
  if (code !== 0 || err.includes("warn |") || err.includes("error |"))
    throw new Error(`${argv.join(" ")} failed (${code}):\n${out}${err}`);
  const cpu = p.resourceUsage()!.cpuTime;
  return {
    wall,
    cpu: Number(cpu.user + cpu.system) / 1000,
    s3cpu: s3 ? s3.cpu() - s3before : 0,
    ...records(env.TASKRUNNER_STATE_DIRECTORY!),
  };
}

const work = scratchDir("cold-build");
const s3 = await startS3Server();
try {
  const repo = join(work, "repo");
  fixture(join(work, "fixture"), 100);
  fixture(join(repo, "src"), 50);
  const steps = (snapshot: (s: (typeof STEPS)[number]) => string) =>
    `set -e\n${STEPS.map((s) => `taskrunner -n ${s.name} bash -c 'set -e; ${snapshot(s)}${s.run}'`).join("\n")}\n`;
  writeFileSync(join(repo, "plain.sh"), `set -e\n${STEPS.map((s) => s.run).join("\n")}\n`);
  writeFileSync(
    join(repo, "bare.sh"),
    steps(() => ""),
  );
  writeFileSync(
    join(repo, "ci.sh"),
    steps((s) => `snapshot src --raw "$BENCH_RUN" ${s.snapshot}; `),
  );
  writeFileSync(join(repo, ".gitignore"), "deps/\ndist/\n");
  // Committed, and with mtimes older than the index: a checkout as CI has it, not "racily clean".
  const git = Bun.spawnSync(
    [
      "bash",
      "-c",
      "git init -q && git add . && git -c user.name=b -c user.email=b@b commit -qm init && find src -type f -exec touch -d '2001-02-03 04:05:06' {} + && git update-index -q --refresh",
    ],
    { cwd: repo },
  );
  if (!git.success) throw new Error(`git: ${git.stderr}`);
  mkdirSync(join(work, "store"));

  let runs = 0;
  const env = (extra: Record<string, string>) => ({
    ...process.env,
    FIXTURE: join(work, "fixture"),
    BENCH_RUN: `run-${runs++}`,
    TASKRUNNER_STATE_DIRECTORY: join(work, `state-${runs}`),
    ...extra,
  });
  const contenders: [string, () => Promise<Sample>][] = [
    ["plain bash", () => run(["bash", "plain.sh"], repo, env({}), null)],
  ];
  const binaries: [string, string][] = [["taskrunner", BINARY]];
  if (process.env.TASKRUNNER_BASELINE_BINARY) binaries.push(["baseline", process.env.TASKRUNNER_BASELINE_BINARY]);
  for (const [label, bin] of binaries) {
    // The nested `taskrunner` calls find this binary first on PATH.
    const binDir = join(work, `bin-${label}`);
    mkdirSync(binDir, { recursive: true });
    Bun.spawnSync(["ln", "-sf", bin, join(binDir, "taskrunner")]);
    const build =
      (script: string, extra: Record<string, string>, server: S3Server | null = null) =>
      () =>
        run([bin, "-n", "ci", "bash", script], repo, env({ PATH: `${binDir}:${process.env.PATH}`, ...extra }), server);
    const save = { TASKRUNNER_SAVE_REMOTE_CACHE: "1" };
    if (label === "taskrunner") {
      contenders.push([`${label}, runner only`, build("bare.sh", {})]);
      contenders.push([`${label}, + hashing`, build("ci.sh", {})]);
    }
    contenders.push([
      `${label}, + archive (dir store)`,
      build("ci.sh", { ...save, TASKRUNNER_REMOTE_CACHE_DIR: join(work, "store") }),
    ]);
    contenders.push([`${label}, + upload (S3)`, build("ci.sh", { ...save, ...s3.env }, s3)]);
  }

  const samples = new Map(contenders.map(([name]) => [name, [] as Sample[]]));
  for (let round = 0; round < rounds + 1; round++) {
    for (let i = 0; i < contenders.length; i++) {
      const [name, measure] = contenders[(round + i) % contenders.length];
      rmSync(join(repo, "deps"), { recursive: true, force: true });
      rmSync(join(repo, "dist"), { recursive: true, force: true });
      const sample = await measure();
      if (round > 0) samples.get(name)!.push(sample); // round 0 warms up
    }
  }
  const plain = samples.get("plain bash")!;
  const ms = (x: number) => `${x.toFixed(0).padStart(6)} ms`;
  console.log(
    `cold build of ${STEPS.length} tasks (1,000-file src/ hashed; 2,000-file, 24 MB deps/ and its bundle saved): medians of ${rounds} rounds, interleaved`,
  );
  console.log(
    `${"".padEnd(36)} ${"wall".padStart(9)} ${"× bash".padStart(7)} ${"CPU".padStart(9)} ${"× bash".padStart(7)} ${"CPU over".padStart(9)} ${"step".padStart(9)}`,
  );
  let previous: Sample[] | null = null;
  for (const [name] of contenders) {
    const s = samples.get(name)!;
    // Each round's ratio (or difference) to plain bash, then their median: steadier than ratios of medians on a drifting machine.
    const per = (f: (x: Sample, i: number) => number) => median(s.map(f));
    const wallRatio = per((x, i) => x.wall / plain[i].wall);
    const cpuRatio = per((x, i) => x.cpu / plain[i].cpu);
    const over = per((x, i) => x.cpu - plain[i].cpu);
    // What this variant adds to the one before it (the features list above), in CPU; for
    // an older build, what ours saves against it (negative: ours costs less).
    const base = name.startsWith("baseline") ? samples.get(name.replace("baseline", "taskrunner"))! : previous;
    const step =
      base && name !== "plain bash"
        ? per((x, i) => (name.startsWith("baseline") ? base[i].cpu - x.cpu : x.cpu - base[i].cpu))
        : null;
    const verdict = (r: number) => (r <= 1.03 ? " ok" : "   ");
    console.log(
      name === "plain bash"
        ? `  ${name.padEnd(34)} ${ms(median(s.map((x) => x.wall)))}         ${ms(median(s.map((x) => x.cpu)))}`
        : `  ${name.padEnd(34)} ${ms(median(s.map((x) => x.wall)))} ${wallRatio.toFixed(3)}×${verdict(wallRatio)} ${ms(median(s.map((x) => x.cpu)))} ${cpuRatio.toFixed(3)}×${verdict(cpuRatio)} ${ms(over)} ${step === null ? "" : ms(step)}` +
            (s[0].s3cpu ? `   (s3rver: ${ms(median(s.map((x) => x.s3cpu))).trim()} CPU, not counted)` : ""),
    );
    previous = s;
  }
  console.log(
    "(× bash: the median of each round's ratio; ok: within the 1.03× target. CPU over: ms of CPU over plain bash; step: over the row above, or for baseline rows ours minus the baseline's.)",
  );
  console.log(
    "per nested task, wall ms from the task records (median over tasks and rounds): hash before the run / run's end to the task's end (re-hash, outputs' metadata) / per build: the time between its nested tasks",
  );
  for (const [name] of contenders) {
    const s = samples.get(name)!;
    if (name === "plain bash") continue;
    const figure = (f: (x: Sample) => number[]) =>
      (s.some((x) => f(x).length > 0) ? median(s.flatMap(f)).toFixed(1) : "-").padStart(6);
    console.log(
      `  ${name.padEnd(34)} ${figure((x) => x.hashMs)} / ${figure((x) => x.afterRunMs)} / ${figure((x) => x.gapMs)} ms`,
    );
  }
} finally {
  await s3.stop();
  rmSync(work, { recursive: true, force: true });
}
