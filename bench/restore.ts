// bun bench/restore.ts [rounds]: restoring a node_modules from the cache, end
// to end, against GNU tar, Turborepo's own restore of the same outputs, and
// taskrunner restoring the same archive from S3, in the same run, interleaved.
//
//   BENCH_FIXTURE=node-modules (default) — `npm ci` of bench/fixtures/node-modules:
//     ~27,000 files in ~3,000 directories, ~170 MB.
//   BENCH_FIXTURE=monorepo — `npm ci` of bench/fixtures/monorepo, a monorepo's
//     worth of real packages (next, @mui, @apollo, angular, aws-sdk, babel, jest,
//     eslint, webpack, vite, ...): ~45,000 files in ~4,700 directories, ~690 MB.
//   BENCH_TMPFS=1 — everything (archives, repository, restored trees) on a tmpfs
//     mounted for the bench, so that the disk is out of the picture and what is
//     left is CPU: needs root (mount); without it the bench says so and runs on
//     the temporary directory's file system.
//
// The tree and Turborepo (from the npm registry, into a folder of the bench's
// own, never a dependency of ours) are kept in $TMPDIR/taskrunner-bench-restore
// between runs: the first run needs the registry and a few minutes more.
//
// Each round restores with each contender, in a rotating order, into a
// repository whose node_modules was moved away:
//   taskrunner       a task's declared output from a directory store (`snapshot
//                    package.json -o node_modules`, a fresh state directory, so no
//                    local hash)
//   taskrunner S3    the same archive from S3 (s3rver in a process of its own,
//                    bench/s3-server.ts; its CPU is not counted, but said: it shares the cores;
//                    BENCH_S3_NICE=1 runs it at nice 19, so that it takes the idle time of the
//                    cores rather than the restore's: closer to a CI machine, whose S3 is elsewhere)
//   taskrunner S3, static server   the directory store's archive from an "S3" that spends next to
//                    no CPU (bench/s3-static.ts, sendfile): taskrunner's own S3 client, measured
//   turbo            its task's `node_modules/**` from its local cache ("FULL TURBO")
//   zstd -dc | tar -x   the archive the old tool would have made
//   tar -x (floor)   GNU tar of the same tree, uncompressed, from the page cache:
//                    file creation alone
// Wall time, CPU time (user+sys of the process tree) and peak RSS (its largest
// process), from GNU time (/usr/bin/time; without it, no RSS).
// The restored trees are deleted at the end of each round (on disk, deleting
// makes the next creations slower on this machine's ext4, which skips recently
// freed inodes — it slows every contender of the next round alike).
// Targets (issue 25): ≤ 0.8× turbo's wall and CPU time, peak RSS ≤ 100 MiB,
// S3 ≤ 1.1× the directory store; on tmpfs ≤ 1.5× tar -x.
//
//   TASKRUNNER_BASELINE_BINARY=/path/to/older/taskrunner bun bench/restore.ts
//     also restores with an older build (from the directory store and from S3),
//     interleaved with the others.
//   BENCH_S3_MBPS=50 sends each S3 download (each connection) at most at 50 MB/s, as an S3
//     across a network would; BENCH_S3_CONNECTIONS=4 also restores from S3 over four connections
//     (TASKRUNNER_S3_DOWNLOAD_CONNECTIONS), as "taskrunner S3 ×4".
//   BENCH_ONLY="taskrunner S3,tar" measures taskrunner and the contenders whose
//     names start with one of these (while profiling, say).
//   BENCH_THREADS=1 also says where each taskrunner's CPU goes, thread by thread
//     (main, the file-writing Worker, Bun's thread pool, the compilers, ...),
//     polled every 20 ms from /proc; the polling itself costs some CPU.
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY as BUILT, ROOT, cpuMs, median, scratchDir, startS3Server, startServer } from "./lib";

/** BENCH_BINARY: another build to measure as "taskrunner" (the worktree's dist/taskrunner by default). */
const BINARY = process.env.BENCH_BINARY ?? BUILT;

const TURBO_VERSION = "2.11.11";
const rounds = Number(process.argv[2] ?? 9);
const FIXTURE = process.env.BENCH_FIXTURE ?? "node-modules";

interface Sample {
  ms: number;
  cpu: number;
  rss: number;
  out: string;
  /** BENCH_THREADS=1: CPU ms by thread of the taskrunner process (and "other processes"), polled. */
  threads?: Map<string, number>;
}

const TIME = "/usr/bin/time"; // GNU time: a process tree's CPU and peak RSS, from wait4
const hasTime = existsSync(TIME);
let timings = 0;

/** Runs argv to completion under GNU time (Bun's resourceUsage().maxRSS is not the child's own). */
async function run(
  argv: string[],
  opts: { cwd?: string; env?: Record<string, string | undefined>; threadsOf?: string } = {},
): Promise<Sample> {
  const report = join(keep, `time-${process.pid}-${timings++}`);
  const t = performance.now();
  const p = Bun.spawn(hasTime ? [TIME, "-o", report, "-f", "%U %S %M", ...argv] : argv, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdout: "pipe",
    stderr: "pipe",
  });
  const poll = opts.threadsOf && THREADS ? pollThreads(p.pid, opts.threadsOf) : null;
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  const ms = performance.now() - t;
  const threads = poll?.stop();
  if (code !== 0) throw new Error(`${argv.join(" ")} failed (${code}):\n${out}${err}`);
  if (!hasTime) {
    const cpu = p.resourceUsage()!.cpuTime;
    return { ms, cpu: Number(cpu.user + cpu.system) / 1000, rss: NaN, out: `${out}${err}`, threads };
  }
  const [user, sys, kb] = readFileSync(report, "utf8").trim().split("\n").pop()!.split(" ").map(Number);
  rmSync(report);
  return { ms, cpu: (user + sys) * 1000, rss: kb * 1024, out: `${out}${err}`, threads };
}

/** BENCH_THREADS=1: where taskrunner's CPU goes, thread by thread (polling costs the machine some CPU). */
const THREADS = process.env.BENCH_THREADS === "1";

/**
 * Polls every 20 ms the CPU time of each thread of the process tree under
 * `root` (utime + stime from /proc), until stop(): then the last values seen,
 * by thread name for the process named `binary` (its main thread "main", the
 * thread pool's threads together), the rest as "other processes". A thread's
 * time after its last poll is missed.
 */
function pollThreads(root: number, binary: string): { stop: () => Map<string, number> } {
  const comm = binary.split("/").pop()!.slice(0, 15); // the kernel keeps 15 bytes of a name
  const last = new Map<string, { name: string; ms: number }>();
  const read = (path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return ""; // gone since it was listed
    }
  };
  const tick = () => {
    for (let todo = [root]; todo.length > 0; ) {
      const pid = todo.pop()!;
      todo.push(...read(`/proc/${pid}/task/${pid}/children`).split(" ").filter(Boolean).map(Number));
      const ours = read(`/proc/${pid}/comm`).trim() === comm;
      let tids: string[] = [];
      try {
        tids = readdirSync(`/proc/${pid}/task`);
      } catch {
        continue;
      }
      for (const tid of tids) {
        const stat = read(`/proc/${pid}/task/${tid}/stat`);
        if (!stat) continue;
        const thread = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/ \d+$/, "");
        const name = !ours ? "other processes" : tid === String(pid) ? "main" : thread;
        last.set(`${pid}/${tid}`, { name, ms: cpuMs(stat) });
      }
    }
  };
  const timer = setInterval(tick, 20);
  return {
    stop() {
      clearInterval(timer);
      const byName = new Map<string, number>();
      for (const { name, ms } of last.values()) byName.set(name, (byName.get(name) ?? 0) + ms);
      return byName;
    },
  };
}

const keep = join(tmpdir(), "taskrunner-bench-restore");
mkdirSync(keep, { recursive: true });

/** The node_modules of the fixture's lockfile, installed once per lockfile. */
async function tree(): Promise<string> {
  const fixture = join(ROOT, "bench/fixtures", FIXTURE);
  const lock = readFileSync(join(fixture, "package-lock.json"));
  const dir = join(
    keep,
    `tree-${FIXTURE === "node-modules" ? "" : "mono-"}${createHash("sha1").update(lock).digest("hex").slice(0, 12)}`,
  );
  if (!existsSync(join(dir, "node_modules/.package-lock.json"))) {
    console.log(`installing the tree (npm ci of bench/fixtures/${FIXTURE}) into ${dir} ...`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    cpSync(join(fixture, "package.json"), join(dir, "package.json"));
    cpSync(join(fixture, "package-lock.json"), join(dir, "package-lock.json"));
    await run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], { cwd: dir });
  }
  return join(dir, "node_modules");
}

/** turbo's binary, installed once, or null when it cannot be (offline). */
async function turbo(): Promise<string | null> {
  const dir = join(keep, `turbo-${TURBO_VERSION}`);
  const bin = join(dir, "node_modules/.bin/turbo");
  if (!existsSync(bin)) {
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "package.json"), '{"private":true}\n');
      await run(["npm", "install", "--no-audit", "--no-fund", `turbo@${TURBO_VERSION}`], { cwd: dir });
    } catch (e) {
      console.log(
        `turbo ${TURBO_VERSION} could not be installed, so no comparison with it: ${(e as Error).message.split("\n")[0]}`,
      );
      return null;
    }
  }
  return bin;
}

/** A tmpfs mounted on `dir` when BENCH_TMPFS=1 and we may; whether it was. */
function tmpfs(dir: string): boolean {
  if (process.env.BENCH_TMPFS !== "1") return false;
  if (process.getuid?.() !== 0) {
    console.log("BENCH_TMPFS=1 needs root to mount a tmpfs: running on the temporary directory's file system instead");
    return false;
  }
  const m = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=12g,mode=0700", "tmpfs", dir], { stderr: "pipe" });
  if (!m.success) {
    console.log(
      `BENCH_TMPFS=1: mount failed (${m.stderr.toString().trim()}): running on the temporary directory's file system instead`,
    );
    return false;
  }
  return true;
}

const source = await tree();
const turboBin = await turbo();
const hasZstd = Bun.spawnSync(["sh", "-c", "command -v zstd"]).exitCode === 0;
const work = scratchDir("restore");
const onTmpfs = tmpfs(work);
const s3 = await startS3Server();
const stops: (() => Promise<void>)[] = [];
try {
  const repo = join(work, "repo");
  const trash = join(work, "trash");
  mkdirSync(repo);
  mkdirSync(trash);
  const populate = join(work, "populate"); // present only while the caches are filled
  // One task in both tools: its input is package.json, its output node_modules; it
  // fails unless the caches are being filled, so a round that did not restore fails.
  writeFileSync(
    join(repo, "build.sh"),
    `[ -e '${populate}' ] || { echo "not restored"; exit 1; }\ncp -a '${source}' node_modules\n`,
  );
  writeFileSync(join(repo, "task.sh"), "snapshot package.json -o node_modules\nsh build.sh\n");
  writeFileSync(
    join(repo, "package.json"),
    JSON.stringify({ name: "bench", private: true, packageManager: "npm@10.9.0", scripts: { build: "sh build.sh" } }),
  );
  writeFileSync(
    join(repo, "package-lock.json"),
    JSON.stringify({ name: "bench", lockfileVersion: 3, requires: true, packages: { "": { name: "bench" } } }),
  );
  writeFileSync(
    join(repo, "turbo.json"),
    JSON.stringify({ tasks: { build: { outputs: ["node_modules/**"], inputs: ["package.json"] } } }),
  );
  writeFileSync(join(repo, ".gitignore"), "node_modules/\n.turbo/\n");
  const git = (...args: string[]) =>
    run(["git", "-c", "user.email=bench@example.com", "-c", "user.name=bench", ...args], { cwd: repo });
  await git("init", "-q");
  await git("add", "-A");
  await git("commit", "-qm", "bench");

  const store = join(work, "store");
  mkdirSync(store);
  let states = 0;
  const dirEnv = () => ({
    ...process.env,
    TASKRUNNER_REMOTE_CACHE_DIR: store,
    TASKRUNNER_STATE_DIRECTORY: join(work, `state-${states++}`),
  });
  const s3Env = () => ({ ...process.env, ...s3.env, TASKRUNNER_STATE_DIRECTORY: join(work, `state-${states++}`) });
  const turboEnv = { ...process.env, TURBO_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1", TURBO_NO_UPDATE_NOTIFIER: "1" };
  const taskrunner = (env: Record<string, string | undefined>, bin = BINARY) =>
    run([bin, "-n", "restore", "bash", "task.sh"], { cwd: repo, env, threadsOf: bin });
  const turboRun = () => run([turboBin!, "run", "build", "--no-daemon"], { cwd: repo, env: turboEnv });
  let moved = 0;
  const clear = () =>
    existsSync(join(repo, "node_modules")) && renameSync(join(repo, "node_modules"), join(trash, `${moved++}`));

  // Fill the caches: each tool's own, and the old tool's archive for the CLI.
  writeFileSync(populate, "");
  await taskrunner({ ...dirEnv(), TASKRUNNER_SAVE_REMOTE_CACHE: "1" });
  clear();
  await taskrunner({ ...s3Env(), TASKRUNNER_SAVE_REMOTE_CACHE: "1" });
  const archive = join(work, "cli.tar.zst");
  if (hasZstd) await run(["sh", "-c", `tar -cf - node_modules | zstd -3 -q -o '${archive}'`], { cwd: repo });
  const plainTar = join(work, "tree.tar");
  await run(["tar", "-cf", plainTar, "node_modules"], { cwd: repo });
  if (turboBin) {
    clear();
    await turboRun();
  }
  rmSync(populate);
  clear();

  // A taskrunner that did not restore runs build.sh, which fails: run() throws.
  const serverCpu: number[] = []; // the S3 server's CPU time in each S3 restore (it shares the machine's cores)
  const contenders: [string, () => Promise<Sample>][] = [
    ["taskrunner", () => (clear(), taskrunner(dirEnv()))],
    [
      "taskrunner S3",
      async () => {
        clear();
        const before = s3.cpu();
        const r = await taskrunner(s3Env());
        serverCpu.push(s3.cpu() - before);
        return r;
      },
    ],
  ];
  // The directory store's files, served as a bucket by a server of next to no CPU (bench/s3-static.ts).
  const staticS3 = await startServer<{ endpoint: string }>([process.execPath, join(ROOT, "bench/s3-static.ts"), store]);
  stops.push(staticS3.stop);
  contenders.push([
    "taskrunner S3, static server",
    () => (
      clear(),
      taskrunner({
        ...s3Env(),
        TASKRUNNER_S3_ENDPOINT: staticS3.info.endpoint,
        TASKRUNNER_REMOTE_CACHE_BUCKET: "bench",
        TASKRUNNER_AWS_ACCESS_KEY: "bench",
        TASKRUNNER_AWS_SECRET_KEY: "bench",
      })
    ),
  ]);
  const connections = process.env.BENCH_S3_CONNECTIONS;
  if (connections)
    contenders.push([
      `taskrunner S3 ×${connections}`,
      () => (clear(), taskrunner({ ...s3Env(), TASKRUNNER_S3_DOWNLOAD_CONNECTIONS: connections })),
    ]);
  const baseline = process.env.TASKRUNNER_BASELINE_BINARY;
  if (baseline) {
    contenders.push(["baseline taskrunner", () => (clear(), taskrunner(dirEnv(), baseline))]);
    contenders.push(["baseline taskrunner S3", () => (clear(), taskrunner(s3Env(), baseline))]);
  }
  const untar = (cmd: string) => () => {
    const dest = join(trash, `${moved++}`);
    mkdirSync(dest);
    return run(["sh", "-c", cmd.replace("DEST", dest)]);
  };
  if (hasZstd) contenders.push(["zstd -dc | tar -x", untar(`zstd -dcq '${archive}' | tar -C 'DEST' -xf -`)]);
  contenders.push(["tar -x (floor)", untar(`tar -C 'DEST' -xf '${plainTar}'`)]);
  if (turboBin) {
    contenders.push([
      `turbo ${TURBO_VERSION}`,
      async () => {
        clear();
        const r = await turboRun();
        if (!r.out.includes("FULL TURBO")) throw new Error(`turbo did not restore from its cache:\n${r.out}`);
        return r;
      },
    ]);
  }
  const only = process.env.BENCH_ONLY?.split(",");
  if (only)
    contenders.splice(
      0,
      contenders.length,
      ...contenders.filter(([name]) => name === "taskrunner" || only.some((o) => name.startsWith(o))),
    );
  const samples = new Map(contenders.map(([name]) => [name, [] as Sample[]]));
  for (let round = 0; round < rounds + 1; round++) {
    for (let i = 0; i < contenders.length; i++) {
      const [name, measure] = contenders[(round + i) % contenders.length];
      readFileSync(plainTar); // the floor reads it from the page cache
      Bun.spawnSync(["sync"]); // what the last one wrote is flushed before the next one starts
      const r = await measure();
      if (round > 0) samples.get(name)!.push(r); // round 0 warms up
    }
    clear();
    rmSync(trash, { recursive: true, force: true });
    mkdirSync(trash);
    Bun.spawnSync(["sync"]);
  }

  // Each round's ratio, then their median: steadier than a ratio of medians on a machine whose speed drifts.
  const ours = samples.get("taskrunner")!;
  const ratio = (name: string, of: (s: Sample) => number, to = ours) =>
    median(to.map((s, i) => of(s) / of(samples.get(name)![i])));
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  console.log(
    `${FIXTURE} (${source}) on ${onTmpfs ? "a tmpfs" : "the temporary directory's file system"}: ` +
      `median of ${rounds} rounds, interleaved; load average at the end ${load}` +
      (process.env.BENCH_S3_MBPS ? `; S3 at ${process.env.BENCH_S3_MBPS} MB/s per connection` : ""),
  );
  console.log(
    `  ${"".padEnd(22)} ${"wall".padStart(8)} ${"CPU".padStart(8)}  peak RSS   taskrunner/this: wall, CPU (median of the rounds' ratios)`,
  );
  for (const [name] of contenders) {
    const s = samples.get(name)!;
    const vs =
      name === "taskrunner"
        ? ""
        : `   ${ratio(name, (x) => x.ms).toFixed(2)}×, ${ratio(name, (x) => x.cpu).toFixed(2)}×`;
    const peak = Math.max(...s.map((x) => x.rss)) / 2 ** 20;
    console.log(
      `  ${name.padEnd(22)} ${median(s.map((x) => x.ms))
        .toFixed(0)
        .padStart(5)} ms ${median(s.map((x) => x.cpu))
        .toFixed(0)
        .padStart(5)} ms  ${peak.toFixed(0).padStart(4)} MiB${vs}`,
    );
  }
  for (const [name] of contenders) {
    const polled = samples.get(name)!.flatMap((x) => (x.threads ? [x.threads] : []));
    if (polled.length === 0) continue;
    const names = [...new Set(polled.flatMap((m) => [...m.keys()]))];
    const ms = names
      .map((n) => [n, median(polled.map((m) => m.get(n) ?? 0))] as const)
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1]);
    console.log(`  ${name}, CPU by thread (median ms): ${ms.map(([n, v]) => `${n} ${v.toFixed(0)}`).join(", ")}`);
  }
  if (serverCpu.length > 1)
    console.log(
      `  (the S3 server's own CPU per restore: ${median(serverCpu.slice(1)).toFixed(0)} ms, not counted above` +
        `${process.env.BENCH_S3_NICE === "1" ? "; it ran at nice 19" : ""})`,
    );
  const mib = Math.max(...ours.map((x) => x.rss)) / 2 ** 20;
  const checks: string[] = [`peak RSS ${mib.toFixed(0)} MiB ${mib <= 100 ? "ok" : "ABOVE the 100 MiB target"}`];
  for (const [name, what] of [
    ["taskrunner S3", "S3/directory"],
    ["taskrunner S3, static server", "S3 (static server)/directory"],
  ]) {
    const r = samples.has(name) ? ratio("taskrunner", (x) => x.ms, samples.get(name)!) : NaN;
    if (r) checks.push(`${what} ${r.toFixed(2)}× ${r <= 1.1 ? "ok" : "ABOVE the 1.1× target"}`);
  }
  if (samples.has(`turbo ${TURBO_VERSION}`)) {
    const [w, c] = [ratio(`turbo ${TURBO_VERSION}`, (x) => x.ms), ratio(`turbo ${TURBO_VERSION}`, (x) => x.cpu)];
    checks.push(
      `vs turbo ${w.toFixed(2)}× wall, ${c.toFixed(2)}× CPU ${w <= 0.8 && c <= 0.8 ? "ok" : "ABOVE the 0.8× target"}`,
    );
  }
  const floor = samples.has("tar -x (floor)") ? ratio("tar -x (floor)", (x) => x.ms) : NaN;
  if (floor)
    checks.push(
      `vs tar -x ${floor.toFixed(2)}×${onTmpfs ? (floor <= 1.5 ? " ok" : " ABOVE the 1.5× target (tmpfs)") : " (the 1.5× target is on tmpfs)"}`,
    );
  console.log(`taskrunner: ${checks.join("; ")}`);
} finally {
  for (const stop of stops) await stop();
  await s3.stop();
  if (onTmpfs) Bun.spawnSync(["umount", "-l", work]);
  rmSync(work, { recursive: true, force: true });
}
