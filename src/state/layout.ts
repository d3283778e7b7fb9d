// The state directory's layout (docs/contract.md §4) and the build's identity (docs/contract.md §3).
import { Errno, errnoText, mkdir, mkdirp, readText, writeFileAtomic } from "../sys/libc";
import { joinPath as join } from "../sys/paths";

export interface BuildPaths {
  stateDir: string;
  buildId: string;
  buildDir: string;
  lockFile(job: string): string;
  hashFile(job: string): string;
  logFile(job: string): string;
  tasksDir: string;
  resultFile(job: string): string;
}

export function buildPaths(stateDir: string, buildId: string): BuildPaths {
  const buildDir = join(stateDir, "builds", buildId);
  return {
    stateDir,
    buildId,
    buildDir,
    lockFile: (job) => join(stateDir, "locks", `${job}.lock`),
    hashFile: (job) => join(stateDir, "hash", `${job}.hash`),
    logFile: (job) => join(buildDir, "logs", `${job}.log`),
    tasksDir: join(buildDir, "tasks"),
    resultFile: (job) => join(buildDir, "results", job),
  };
}

/** ISO-8601 UTC with microseconds, e.g. 2026-11-28T10:00:00.123456Z. */
export function formatBuildId(epochMicros: number): string {
  const ms = Math.floor(epochMicros / 1000);
  const iso = new Date(ms).toISOString(); // ...T10:00:00.123Z
  const micros = String(epochMicros % 1000).padStart(3, "0");
  return `${iso.slice(0, 23)}${micros}Z`;
}

function nowMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

/**
 * Creates builds/<id>/{logs,results} for a new toplevel build. The id is made
 * unique by the exclusive mkdir: two builds started in the same microsecond
 * get consecutive ids instead of sharing a directory. A state directory that
 * cannot take it (read-only, full) is a message, not an exception.
 */
export function createBuild(stateDir: string, startMicros = nowMicros()): BuildPaths | { error: string } {
  const builds = join(stateDir, "builds");
  const cannot = mkdirp(builds);
  if (cannot) return { error: `cannot create ${builds}: ${errnoText(cannot)}` };
  for (let micros = startMicros; ; micros++) {
    const id = formatBuildId(micros);
    const err = mkdir(join(builds, id));
    if (err === Errno.EEXIST) continue;
    if (err !== 0) return { error: `cannot create the build directory ${join(builds, id)}: ${errnoText(err)}` };
    const paths = buildPaths(stateDir, id);
    ensureBuildDirs(paths);
    return paths;
  }
}

/** Nested runners normally find these made by the toplevel; make them anyway (cheap, and robust). */
export function ensureBuildDirs(paths: BuildPaths): void {
  for (const dir of [
    join(paths.buildDir, "logs"),
    join(paths.buildDir, "results"),
    join(paths.stateDir, "locks"),
    join(paths.stateDir, "hash"),
  ]) {
    mkdirp(dir);
  }
}

/** The recorded exit code of job in this build, or null if it has not run. */
export function readResult(paths: BuildPaths, job: string): number | null {
  const text = readText(paths.resultFile(job));
  if (text === null) return null;
  const code = Number.parseInt(text.trim(), 10);
  return Number.isNaN(code) ? null : code;
}

/** 0, or the errno that kept the result from being recorded. */
export function writeResult(paths: BuildPaths, job: string, code: number): number {
  return writeFileAtomic(paths.resultFile(job), String(code));
}
