// The state directory's layout (SPEC §4) and the build's identity (SPEC §3).
import { mkdirSync, readFileSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";

export interface BuildPaths {
  stateDir: string;
  buildId: string;
  buildDir: string;
  lockFile(job: string): string;
  hashFile(job: string): string;
  logFile(job: string): string;
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
 * get consecutive ids instead of sharing a directory.
 */
export function createBuild(stateDir: string, startMicros = nowMicros()): BuildPaths {
  const builds = join(stateDir, "builds");
  mkdirSync(builds, { recursive: true });
  let micros = startMicros;
  for (;;) {
    const id = formatBuildId(micros);
    try {
      mkdirSync(join(builds, id));
      const paths = buildPaths(stateDir, id);
      ensureBuildDirs(paths);
      return paths;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      micros += 1;
    }
  }
}

/** Nested runners normally find these made by the toplevel; make them anyway (cheap, and robust). */
export function ensureBuildDirs(paths: BuildPaths): void {
  mkdirSync(join(paths.buildDir, "logs"), { recursive: true });
  mkdirSync(join(paths.buildDir, "results"), { recursive: true });
  mkdirSync(join(paths.stateDir, "locks"), { recursive: true });
  mkdirSync(join(paths.stateDir, "hash"), { recursive: true });
}

/** The recorded exit code of job in this build, or null if it has not run. */
export function readResult(paths: BuildPaths, job: string): number | null {
  let text: string;
  try {
    text = readFileSync(paths.resultFile(job), "utf8");
  } catch {
    return null;
  }
  const code = Number.parseInt(text.trim(), 10);
  return Number.isNaN(code) ? null : code;
}

export function writeResult(paths: BuildPaths, job: string, code: number): void {
  const file = paths.resultFile(job);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, String(code));
  renameSync(tmp, file);
}
