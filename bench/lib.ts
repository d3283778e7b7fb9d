// Shared by the benchmarks: medians of repeated runs, measured in one process.
import { mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "..");
export const BINARY = join(ROOT, "dist", "taskrunner");

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface CommandOptions {
  env?: Record<string, string>;
  cwd?: string;
}

/** Wall time in ms of running argv to completion. */
function timeOnce(argv: string[], opts: CommandOptions): number {
  const t = performance.now();
  const p = Bun.spawnSync(argv, { env: opts.env, cwd: opts.cwd, stdout: "ignore", stderr: "ignore" });
  const elapsed = performance.now() - t;
  if (!p.success) throw new Error(`${argv.join(" ")} failed with ${p.exitCode}`);
  return elapsed;
}

/** Median wall time in ms of running argv to completion, after warm-up runs. */
export function timeCommand(argv: string[], opts: CommandOptions & { runs?: number } = {}): number {
  return timeInterleaved([{ argv, ...opts }], opts.runs ?? 40)[0];
}

/**
 * Median wall times of several commands, run in turn — one of each per round,
 * after three warm-up rounds — so that a machine whose speed drifts during the
 * measurement (this VM's does) slows each of them alike and their ratios hold.
 */
export function timeInterleaved(commands: (CommandOptions & { argv: string[] })[], runs: number): number[] {
  const times = commands.map(() => [] as number[]);
  for (let round = 0; round < runs + 3; round++) {
    commands.forEach((c, i) => {
      const elapsed = timeOnce(c.argv, c);
      if (round >= 3) times[i].push(elapsed);
    });
  }
  return times.map(median);
}

/** A fresh directory under the system's temporary directory, removed when the benchmark exits (the machine is shared). */
export function scratchDir(prefix: string): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), `bench-${prefix}-`)));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function row(label: string, ms: number, baseline?: number): string {
  const diff = baseline === undefined ? 0 : ms - baseline;
  const ratio = baseline
    ? `  (${(ms / baseline).toFixed(2)}× baseline, ${diff >= 0 ? "+" : ""}${diff.toFixed(2)} ms)`
    : "";
  return `${label.padEnd(58)} ${ms.toFixed(2).padStart(8)} ms${ratio}`;
}

/** A process's or thread's user + system time in ms, from its /proc stat line (clock ticks of 10 ms). */
export function cpuMs(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // after the name, which may hold spaces
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

export interface S3Server {
  /** The variables that point taskrunner at a fresh bucket. */
  env: Record<string, string>;
  /** The server's CPU time so far, in ms: it shares the machine's cores with what is measured. */
  cpu(): number;
  stop(): Promise<void>;
}

/** A server of the benchmarks in a process of its own: the JSON line it prints first; it stops when its stdin closes. */
export async function startServer<T>(argv: string[]): Promise<{ info: T; pid: number; stop(): Promise<void> }> {
  const p = Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const first = new TextDecoder().decode((await p.stdout.getReader().read()).value);
  return {
    info: JSON.parse(first.split("\n")[0]) as T,
    pid: p.pid,
    async stop() {
      p.stdin.end();
      await p.exited;
    },
  };
}

/**
 * The fake S3 (s3rver) in a process of its own (bench/s3-server.ts), with a
 * fresh bucket; at nice 19 with BENCH_S3_NICE=1 (it then takes the cores'
 * idle time, as an S3 elsewhere would).
 */
export async function startS3Server(): Promise<S3Server> {
  const nice = process.env.BENCH_S3_NICE === "1" ? ["nice", "-n", "19"] : [];
  const server = await startServer<{ env: Record<string, string> }>([
    ...nice,
    process.execPath,
    join(ROOT, "bench/s3-server.ts"),
  ]);
  return {
    env: server.info.env,
    cpu: () => cpuMs(readFileSync(`/proc/${server.pid}/stat`, "utf8")),
    stop: server.stop,
  };
}
