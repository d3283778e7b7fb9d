// The life of one task: lock → already ran? → spawn → serve snapshot requests
// and collect output → wait → record → report. Its states and their order are
// src/outcome.ts's TaskState; every move between them is made here.
import type { Config, Env } from "../config";
import { holdBuild, lockJob, releaseJob, terminalLock } from "../state/locks";
import { Terminal, TaskOutput } from "../output/output";
import { createFile, errnoText, isOpenFd, writeAll } from "../sys/libc";
import { Interruption } from "../sys/signals";
import { buildPaths, createBuild, ensureBuildDirs, readResult, writeResult } from "../state/layout";
import { spawnTask, NESTED_SERVER_VARIABLES } from "../task/process";
import { withUmask } from "../sys/umask";
import { SnapshotSession } from "../snapshot/session";
import { TaskRecorder } from "../trace/recorder";
import { endOfBuild } from "./build-end";
import { superviseTask } from "./supervise";
import {
  hostOf,
  TaskRegistry,
  type HeldJob,
  type Host,
  type RunHeld,
  type ProcessHost,
  type RunRequest,
  type TaskContext,
} from "../task/context";
import { BackgroundUploads } from "../task/background-uploads";
import { INTERNAL, readInternalEnv, type InternalEnv } from "../internal-env";
import { TaskLife, type TaskOutcome } from "../outcome";
import { loadPresent } from "../load-present";

const encoder = new TextEncoder();

function exitDescription(code: number): string {
  return code === 0 ? "ExitSuccess" : `ExitFailure ${code}`;
}

/** An inherited descriptor, if it is still open. */
function openFd(fd: number | null): number | null {
  return fd !== null && isOpenFd(fd) ? fd : null;
}

/**
 * The parent taskrunner's request pipe: our debug lines belong in its log too.
 * A logOnly line goes as our own `log` request, which the parent keeps off its terminal.
 */
function parentChannel(internal: InternalEnv): HeldJob["toParent"] {
  const fd = openFd(internal.requestPipe);
  if (fd === null) return () => {};
  return (text, logOnly) => {
    writeAll(fd, encoder.encode(`${JSON.stringify([logOnly ? "log" : "debug", text])}\n`));
  };
}

/** A taskrunner process's one task: the toplevel's, or a nested one the toplevel does not serve. */
export async function runTask(req: RunRequest, config: Config, env: Env, cwd: string): Promise<number> {
  const internal = readInternalEnv(env);
  const isToplevel = internal.buildId === null;
  const paths =
    internal.buildId === null
      ? createBuild(config.stateDirectory)
      : buildPaths(config.stateDirectory, internal.buildId);
  // Nothing is set up yet: no terminal lock, no log.
  if ("error" in paths) return cannotStart(req.name, config, new Terminal(1, 2, null), paths.error);
  if (!isToplevel) ensureBuildDirs(paths);

  // Nested runners write straight to the toplevel's streams, whatever their
  // own stdout/stderr were redirected to.
  const outFd = (isToplevel ? null : openFd(internal.toplevelStdout)) ?? 1;
  const errFd = (isToplevel ? null : openFd(internal.toplevelStderr)) ?? 2;
  const terminal = new Terminal(outFd, errFd, terminalLock(paths.buildDir));
  const toParent = isToplevel ? () => {} : parentChannel(internal);
  // Off (the old tool's plain lines), the presenters' code is never loaded.
  if (config.output !== "plain") {
    terminal.presenter = await (await loadPresent()).openPresenter(config, terminal, isToplevel);
  }
  const proc: ProcessHost = {
    paths,
    isToplevel,
    terminal,
    registry: new TaskRegistry(),
    uploads: isToplevel ? new BackgroundUploads() : undefined,
  };

  toParent(`Starting subtask ${req.name}`);
  const lock = lockJob(paths.lockFile(req.name), () => toParent(`Waiting for the lock of ${req.name}`));
  if (lock.kind === "failed") return cannotStart(req.name, config, terminal, lock.message);
  try {
    return await runHeld(proc, req, config, env, cwd, { lockFd: lock.fd, toParent, umask: null }, false);
  } finally {
    if (isToplevel) terminal.presenter?.close();
  }
}

/**
 * A job whose lock its caller took (this process's own, or a nested task the
 * toplevel serves, toplevel/nested-server.ts): its host is made, it runs, its lock is released.
 */
export async function runHeld(
  proc: ProcessHost,
  req: RunRequest,
  config: Config,
  env: Env,
  cwd: string,
  job: HeldJob,
  servedForAnother: boolean,
): Promise<number> {
  const host = hostOf(proc, job, servedForAnother);
  try {
    return await runLocked(req, config, env, cwd, host);
  } finally {
    releaseJob(job.lockFd);
  }
}

/** The rest of a task's life once its job lock is held (docs/contract.md §3). */
async function runLocked(req: RunRequest, config: Config, env: Env, cwd: string, host: Host): Promise<number> {
  const { paths, terminal, toParent } = host;
  const internal = readInternalEnv(env);
  const life = new TaskLife(req.name, host.isToplevel ? null : internal.parentJob);
  life.enter("starting");
  // Held for as long as this build has a task alive: housekeeping never removes it.
  const running = holdBuild(paths.buildDir);
  try {
    const recorded = readResult(paths, req.name);
    if (recorded !== null) {
      toParent(`Subtask ${req.name} finished with ${exitDescription(recorded)}`);
      life.enter("done");
      return recorded;
    }
    const logPath = paths.logFile(req.name);
    const logFd = createFile(logPath);
    if (logFd < 0) {
      life.enter("done");
      return cannotStart(req.name, config, terminal, `cannot create ${logPath}: ${errnoText(-logFd)}`);
    }
    const out = taskOutput(req.name, config, terminal, { fd: logFd, path: logPath });
    // Ours, in the parent's log only: under TASKRUNNER_DEBUG=1 the terminal shows what the old tool showed.
    toParent(`Subtask ${req.name} logs to ${logPath}`, true);
    const unregister = host.registry.add(req.name, out);
    // Listened for over the whole task: its restores, uploads and post-unpack commands too.
    const interruption = new Interruption().start();
    try {
      const ctx = taskContext(req, config, env, cwd, host, { out, interruption, life, internal });
      return await runTaskBody(req, ctx, host);
    } finally {
      interruption.stop();
      unregister();
    }
  } finally {
    // The toplevel keeps its hold until it exits (after the end of the build).
    if (!host.isToplevel) running?.release();
  }
}

function taskContext(
  req: RunRequest,
  config: Config,
  env: Env,
  cwd: string,
  host: Host,
  parts: Pick<TaskContext, "out" | "interruption" | "life" | "internal">,
): TaskContext {
  return {
    ...parts,
    job: req.name,
    command: [req.cmd, ...req.args],
    env,
    umask: host.umask,
    record: new TaskRecorder(),
    force: req.force,
    isToplevel: host.isToplevel,
    inToplevelProcess: host.inToplevelProcess,
    cwd,
    config,
    paths: host.paths,
    // Only where something follows that the upload can overlap with: not the toplevel's own
    // task (its build ends with it), not a nested taskrunner process (it would have to wait anyway).
    uploads: host.isToplevel ? null : (host.uploads ?? null),
  };
}

/** starting → running → saving → recording → reporting → done, or → stopped → done on a signal. */
async function runTaskBody(req: RunRequest, ctx: TaskContext, host: Host): Promise<number> {
  const { paths, isToplevel, out, interruption, life } = ctx;
  // A caller that went away without a signal we saw (killed, say): stop its task as a signal would.
  host.onCallerGone?.(() => interruption.interrupt("SIGTERM"));
  // A signal to the toplevel stops the uploads its nested tasks left running, at once.
  if (isToplevel) interruption.onSignal((s) => host.uploads?.abort(new Error(`interrupted by ${s}`)));
  const session = new SnapshotSession(ctx);
  await session.beforeStart();
  if (isToplevel && ctx.config.output === "github" && !ctx.config.githubActions)
    out.say({ kind: "not-in-github-actions" });

  out.debug(`Running command: ${JSON.stringify(ctx.command)}`);
  out.debug(`  buildId: ${paths.buildId}`);
  out.debug(`  cwd: ${ctx.cwd}`);

  const { code: ran, services } = await runCommand(req, ctx, host, session);
  let code = ran;
  await services?.stop();
  // Post-unpack commands and the upload, while a signal can still stop them.
  if (interruption.by === null) {
    life.enter("saving");
    code = await session.afterTask(code);
  }
  if (isToplevel && host.uploads) await settleUploads(host.uploads, ctx);
  if (interruption.by !== null) return stopped(ctx, host);

  life.enter("recording");
  session.saveHash();
  out.debug(`Command ${JSON.stringify(ctx.command)} exited with code ${code}`);
  host.toParent(`Subtask ${req.name} finished with ${exitDescription(code)}`);
  const notRecorded = writeResult(paths, req.name, code);
  if (notRecorded) out.stateWriteFailed(paths.resultFile(req.name), notRecorded, "the task's result is not recorded");
  out.closeLog();
  // Recorded: a signal from here on only skips what is left of the log upload and the final status.
  life.enter("reporting");
  await session.report(code);
  const outcome = finishRecord(ctx, code);
  const report = ctx.record.report(outcome);
  if (isToplevel && interruption.by === null) await endOfBuild(ctx);
  out.finish(outcome, report);
  return interruption.exitCode ?? code;
}

/**
 * starting → running: the command runs, with the toplevel's services for its
 * nested tasks when this is the toplevel. Its exit code (1 when it did not start).
 */
async function runCommand(req: RunRequest, ctx: TaskContext, host: Host, session: SnapshotSession) {
  const { paths, isToplevel, out, interruption, env } = ctx;
  const taskEnv: Env = { ...env, [INTERNAL.parentJob]: req.name };
  let services: { stop(): Promise<void> } | null = null;
  if (isToplevel) {
    const { startServices } = await import("../toplevel/services");
    // The services run nested tasks through runHeld, as this process runs its own.
    const run: RunHeld = (...args) => runHeld(host, ...args);
    const started = startServices(host, run, ctx.config, env, (m) => out.debug(m), interruption);
    Object.assign(taskEnv, started.env);
    services = started;
  } else if (!host.inToplevelProcess) {
    // A nested task in its own process: its subtasks do the same (see toplevel/nested-server.ts).
    for (const k of NESTED_SERVER_VARIABLES) delete taskEnv[k];
  }
  if (interruption.by !== null) return { code: 1, services };
  const spawned = withUmask(ctx.umask, () =>
    spawnTask({
      cmd: req.cmd,
      args: req.args,
      cwd: ctx.cwd,
      env: taskEnv,
      buildId: paths.buildId,
      toplevelStdout: host.terminal.stdoutFd,
      toplevelStderr: host.terminal.stderrFd,
      jobLock: host.lockFd,
    }),
  );
  if (spawned.kind === "failed") {
    out.say({ kind: "spawn-failed", message: spawned.message });
    return { code: spawned.exitCode, services };
  }
  ctx.life.enter("running");
  return { code: await ctx.record.phase("run", () => superviseTask(spawned.task, ctx, session)), services };
}

/** → stopped → done: nothing is recorded as done: no result, no hash, no upload, no success status. */
function stopped(ctx: TaskContext, host: Host): number {
  const { out, interruption, life } = ctx;
  life.enter("stopped");
  out.say({ kind: "interrupted", signal: interruption.by! });
  out.closeLog();
  const outcome = finishRecord(ctx, interruption.exitCode!);
  out.finish(outcome, ctx.record.report(outcome));
  host.toParent(`Subtask ${ctx.job} interrupted by ${interruption.by}`);
  return interruption.exitCode!;
}

/**
 * The toplevel's build ends once the uploads its nested tasks left running are
 * done: it waits for them (a signal stops them), for at most
 * TASKRUNNER_UPLOAD_WAIT_SECONDS.
 */
async function settleUploads(uploads: BackgroundUploads, ctx: TaskContext): Promise<void> {
  const seconds = ctx.config.uploadWaitSeconds;
  const cut = await uploads.settle(seconds * 1000);
  if (cut.length > 0) ctx.out.say({ kind: "uploads-cut-short", jobs: cut, seconds });
}

function taskOutput(
  job: string,
  config: Config,
  terminal: Terminal,
  log: { fd: number; path: string } | null,
): TaskOutput {
  return new TaskOutput({
    job,
    timestamps: config.timestamps,
    showDebug: config.debug,
    showInfo: config.logInfo,
    quiet: config.quiet,
    terminal,
    logFd: log?.fd ?? null,
    logPath: log?.path ?? "",
  });
}

/** Something kept the task from starting (a build directory, its lock, its log): one error line, exit code 1. */
function cannotStart(job: string, config: Config, terminal: Terminal, message: string): number {
  const out = taskOutput(job, config, terminal, null);
  out.say({ kind: "cannot-start", message });
  out.finish({ kind: "failed" });
  return 1;
}

/** The task's outcome, final: its record for the trace, the summary and --explain, and what its output reads. */
function finishRecord(ctx: TaskContext, code: number): TaskOutcome {
  const outcome = ctx.life.finish(code);
  const failed = ctx.record.finish(ctx.paths.tasksDir, outcome);
  if (failed) ctx.out.stateWriteFailed(failed.path, failed.errno, "the build's trace leaves this task out");
  return outcome;
}
