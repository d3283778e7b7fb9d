// What the toplevel does once its build is over: the summary line, the trace,
// and housekeeping of old builds. Off the hot path of nested tasks.
import type { TaskContext } from "../task/context";
import { buildIsRunning } from "../state/locks";
import { formatBuildId } from "../state/layout";
import { summaryLine } from "../trace/summary";
import { describeError } from "../sys/errors";
import { loadPresent } from "../load-present";

export async function endOfBuild(ctx: TaskContext): Promise<void> {
  const { out, config, paths } = ctx;
  const { readTaskRecords, writeTraceOf } = await import("../trace/write");
  const { records, problems } = readTaskRecords(paths.tasksDir);
  // Opt-in: the old tool's info mode promises no output when a job does nothing.
  if (config.summary) out.message("info", summaryLine(records, Date.now() - ctx.record.start), { onTerminal: true });
  const traceOptions = { traceFile: config.traceFile, otlpEndpoint: config.otlpEndpoint };
  const stateWriteFailed = (path: string, errno: number) =>
    out.stateWriteFailed(path, errno, "the build's trace is not written");
  for (const warning of await writeTraceOf(
    paths.buildDir,
    paths.buildId,
    records,
    problems,
    traceOptions,
    stateWriteFailed,
  ))
    out.warn(warning);
  if (config.stepSummary) {
    const { writeBuildSummary } = await loadPresent();
    const warnings = writeBuildSummary(paths.buildDir, paths.buildId, records, config.githubStepSummary);
    for (const warning of warnings) out.warn(warning);
  }
  await removeOldBuilds(paths.stateDir, paths.buildId, config.keepBuildsDays, (m) => out.debug(m));
}

/** A build id is its start time, ISO-8601 UTC: to the second, its text sorts as its time. */
const BUILD_ID = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/**
 * Removes builds older than keepDays. A build still running holds a shared
 * lock on its running.lock (every taskrunner of it does), so an exclusive
 * try-lock tells a finished build from a running one.
 */
export async function removeOldBuilds(
  stateDir: string,
  currentId: string,
  keepDays: number,
  debug: (m: string) => void,
): Promise<void> {
  const builds = `${stateDir}/builds`;
  const cutoff = formatBuildId(Math.floor(Date.now() - keepDays * 86_400_000) * 1000).slice(0, 19);
  let ids: string[];
  try {
    // Bun.Glob rather than node:fs, which costs ~3 ms to load: most builds remove nothing.
    ids = [...new Bun.Glob("*").scanSync({ cwd: builds, onlyFiles: false, dot: true })];
  } catch {
    return;
  }
  for (const id of ids) {
    if (id === currentId || !BUILD_ID.test(id) || id.slice(0, 19) >= cutoff) continue;
    const running = buildIsRunning(`${builds}/${id}`);
    if (running === null) continue;
    if (running) {
      debug(`Keeping old build ${id}: it is still running`);
      continue;
    }
    try {
      const fs = await import("node:fs");
      fs.rmSync(`${builds}/${id}`, { recursive: true, force: true });
      debug(`Removed old build ${id}`);
    } catch (e) {
      debug(`Could not remove old build ${id}: ${describeError(e)}`);
    }
  }
}
