// The life of one task: lock → already ran? → spawn → serve snapshot requests
// and collect output → wait → record → report.
import type { Config, Env } from "../config";
import { holdBuild, lockJob, releaseJob, terminalLock } from "../state/locks";
import { LineSplitter, pumpLines } from "../output/lines";
import { Terminal, TaskOutput } from "../output/output";
import { closeFd, createFile, errnoText, hasInput, isOpenFd, writeAll } from "../sys/libc";
import { Interruption, signalNumber } from "../sys/signals";
import { parseRequest, Reply, requestErrorLines } from "../controller/protocol";
import { buildPaths, createBuild, ensureBuildDirs, readResult, writeResult } from "../state/layout";
import { spawnTask, NESTED_SERVER_VARIABLES, type SpawnedTask } from "../task/process";
import { withUmask } from "../sys/umask";
import { SnapshotSession } from "../snapshot/session";
import { TaskRecorder } from "../trace/recorder";
import { endOfBuild } from "./build-end";
import { TaskRegistry, type Host, type RunRequest, type TaskContext } from "../task/context";
import { BackgroundUploads } from "../task/background-uploads";
import { INTERNAL, readInternalEnv, type InternalEnv } from "../internal-env";
import { describeError, unreachable } from "../sys/errors";
import { endsWithin } from "../sys/time";
import { decodeBytes } from "../sys/bytes";
import { loadPresent } from "../load-present";

const encoder = new TextEncoder();

function exitDescription(code: number): string {
  return code === 0 ? "ExitSuccess" : `ExitFailure ${code}`;
}

/** An inherited descriptor, if it is still open. */
function openFd(fd: number | null): number | null {
  return fd !== null && isOpenFd(fd) ? fd : null;
}

/** The parent taskrunner's request pipe: our debug lines belong in its log too. */
function parentChannel(internal: InternalEnv): (text: string) => void {
  const fd = openFd(internal.requestPipe);
  if (fd === null) return () => {};
  return (text) => {
    writeAll(fd, encoder.encode(`${JSON.stringify(["debug", text])}\n`));
  };
}

/** A taskrunner process's one task: the toplevel's, or a nested one the toplevel does not serve. */
export async function runTask(req: RunRequest, config: Config, env: Env, cwd: string): Promise<number> {
  const internal = readInternalEnv(env);
  const isToplevel = internal.buildId === null;
  const paths = internal.buildId === null ? createBuild(config.stateDirectory) : buildPaths(config.stateDirectory, internal.buildId);
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

  toParent(`Starting subtask ${req.name}`);
  const lock = lockJob(paths.lockFile(req.name), () => toParent(`Waiting for the lock of ${req.name}`));
  if (lock.kind === "failed") return cannotStart(req.name, config, terminal, lock.message);
  const host: Host = {
    paths,
    jobLock: lock.fd,
    isToplevel,
    inToplevelProcess: isToplevel,
    terminal,
    registry: new TaskRegistry(),
    toParent,
    umask: null,
    uploads: isToplevel ? new BackgroundUploads() : undefined,
  };
  try {
    return await runLocked(req, config, env, cwd, host);
  } finally {
    releaseJob(lock.fd);
    if (isToplevel) terminal.presenter?.close();
  }
}

/** The rest of a task's life once its job lock is held (docs/contract.md §3). */
export async function runLocked(req: RunRequest, config: Config, env: Env, cwd: string, host: Host): Promise<number> {
  const { paths, terminal, toParent } = host;
  // Held for as long as this build has a task alive: housekeeping never removes it.
  const running = holdBuild(paths.buildDir);
  try {
    const recorded = readResult(paths, req.name);
    if (recorded !== null) {
      toParent(`Subtask ${req.name} finished with ${exitDescription(recorded)}`);
      return recorded;
    }
    const logPath = paths.logFile(req.name);
    const logFd = createFile(logPath);
    if (logFd < 0) return cannotStart(req.name, config, terminal, `cannot create ${logPath}: ${errnoText(-logFd)}`);
    const out = taskOutput(req.name, config, terminal, { fd: logFd, path: logPath });
    // The parent's log points to this one (debug, so on the terminal only with TASKRUNNER_DEBUG=1).
    toParent(`Subtask ${req.name} logs to ${logPath}`);
    const unregister = host.registry.add(req.name, out);
    // Listened for over the whole task: its restores, uploads and post-unpack commands too.
    const interruption = new Interruption().start();
    try {
      return await runTaskBody(req, config, env, cwd, host, out, interruption);
    } finally {
      interruption.stop();
      unregister();
    }
  } finally {
    // The toplevel keeps its hold until it exits (after the end of the build).
    if (!host.isToplevel) running?.release();
  }
}

async function runTaskBody(
  req: RunRequest,
  config: Config,
  env: Env,
  cwd: string,
  host: Host,
  out: TaskOutput,
  interruption: Interruption,
): Promise<number> {
  const { paths, isToplevel, toParent } = host;
  const internal = readInternalEnv(env);
  const record = new TaskRecorder(req.name, isToplevel ? null : internal.parentJob);
  const ctx: TaskContext = {
    job: req.name,
    command: [req.cmd, ...req.args],
    env,
    internal,
    umask: host.umask,
    record,
    force: req.force,
    isToplevel,
    inToplevelProcess: host.inToplevelProcess,
    cwd,
    config,
    paths,
    out,
    interruption,
    // Only where something follows that the upload can overlap with: not the toplevel's own
    // task (its build ends with it), not a nested taskrunner process (it would have to wait anyway).
    uploads: isToplevel ? null : (host.uploads ?? null),
  };
  // A caller that went away without a signal we saw (killed, say): stop its task as a signal would.
  host.onCallerGone?.(() => interruption.interrupt("SIGTERM"));
  // A signal to the toplevel stops the uploads its nested tasks left running, at once.
  if (isToplevel) interruption.onSignal((s) => host.uploads?.abort(new Error(`interrupted by ${s}`)));
  const session = new SnapshotSession(ctx);
  await session.beforeStart();
  if (isToplevel && config.output === "github" && !config.githubActions) out.say({ kind: "not-in-github-actions" });

  out.debug(`Running command: ${JSON.stringify([req.cmd, ...req.args])}`);
  out.debug(`  buildId: ${paths.buildId}`);
  out.debug(`  cwd: ${cwd}`);

  const taskEnv: Env = { ...env, [INTERNAL.parentJob]: req.name };
  let services: { stop(): Promise<void> } | null = null;
  if (isToplevel) {
    const { startServices } = await import("../toplevel/services");
    // The services run nested tasks through runLocked, as this process runs its own.
    const started = startServices(host, runLocked, config, env, (m) => out.debug(m), interruption);
    Object.assign(taskEnv, started.env);
    services = started;
  } else if (!host.inToplevelProcess) {
    // A nested task in its own process: its subtasks do the same (see toplevel/nested-server.ts).
    for (const k of NESTED_SERVER_VARIABLES) delete taskEnv[k];
  }
  let code = 1;
  if (interruption.by === null) {
    const spawned = withUmask(ctx.umask, () =>
      spawnTask({
        cmd: req.cmd,
        args: req.args,
        cwd,
        env: taskEnv,
        buildId: paths.buildId,
        toplevelStdout: host.terminal.stdoutFd,
        toplevelStderr: host.terminal.stderrFd,
        jobLock: host.jobLock,
      }),
    );
    if (spawned.kind === "failed") {
      out.say({ kind: "spawn-failed", message: spawned.message });
      code = spawned.exitCode;
    } else {
      code = await record.phase("run", () => superviseTask(spawned.task, ctx, session));
    }
  }

  await services?.stop();
  // Post-unpack commands and the upload, while a signal can still stop them.
  if (interruption.by === null) code = await session.afterTask(code);
  if (isToplevel && host.uploads) await settleUploads(host.uploads, ctx);
  if (interruption.by !== null) {
    // Nothing is recorded as done: no result, no hash, no upload, no success status.
    out.say({ kind: "interrupted", signal: interruption.by });
    out.closeLog();
    out.finish(false, record.report(interruption.exitCode!, true));
    toParent(`Subtask ${req.name} interrupted by ${interruption.by}`);
    finishRecord(ctx, interruption.exitCode!, true);
    return interruption.exitCode!;
  }

  session.saveHash();
  out.debug(`Command ${JSON.stringify([req.cmd, ...req.args])} exited with code ${code}`);
  toParent(`Subtask ${req.name} finished with ${exitDescription(code)}`);
  const notRecorded = writeResult(paths, req.name, code);
  if (notRecorded) out.stateWriteFailed(paths.resultFile(req.name), notRecorded, "the task's result is not recorded");
  out.closeLog();
  // Recorded: a signal from here on only skips what is left of the log upload and the final status.
  await session.report(code);
  finishRecord(ctx, code, false);
  const report = record.report(code, false);
  if (isToplevel && interruption.by === null) await endOfBuild(ctx);
  out.finish(code === 0, report);
  return interruption.exitCode ?? code;
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

function taskOutput(job: string, config: Config, terminal: Terminal, log: { fd: number; path: string } | null): TaskOutput {
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
  out.finish(false);
  return 1;
}

/** The task's record for the trace, the summary and --explain. */
function finishRecord(ctx: TaskContext, code: number, interrupted: boolean): void {
  const failed = ctx.record.finish(ctx.paths.tasksDir, code, interrupted);
  if (failed) ctx.out.stateWriteFailed(failed.path, failed.errno, "the build's trace leaves this task out");
}

/** Serves the task until it exits and its output is drained (or the drain times out). Returns its exit code. */
async function superviseTask(task: SpawnedTask, ctx: TaskContext, session: SnapshotSession): Promise<number> {
  const { proc } = task;
  const stopForwarding = ctx.interruption.onSignal((signal) => {
    try {
      process.kill(-proc.pid, signal); // the whole process group
    } catch {
      proc.kill(signal);
    }
  });

  const controller = serveRequests(task, ctx, session);
  const pump = (name: "stdout" | "stderr") =>
    pumpLines(proc[name], (lines) => ctx.out.lines(name, lines), (e) => ctx.out.debug(`reading task ${name} failed: ${describeError(e)}`));
  const stdout = pump("stdout");
  const stderr = pump("stderr");
  const exitCode = await proc.exited;
  const code = proc.signalCode ? 128 + signalNumber(String(proc.signalCode)) : exitCode;

  for (const [name, stream] of [["stdout", stdout], ["stderr", stderr]] as const) {
    const seconds = ctx.config.outputStreamTimeoutSeconds;
    if (!(await endsWithin(stream.done, seconds * 1000))) {
      ctx.out.say({ kind: "stream-left-open", stream: name, seconds });
      stream.cancel();
    }
  }
  stopForwarding();
  // A snapshot request still being answered (a restore cleaning up after a
  // signal) finishes before anything else happens to the task.
  await controller.stop();
  return code;
}

/** How long a task that has exited may keep its controller channel busy with lines still to read. */
const DRAIN_MS = 1000;

/** The controller side of the request/response pipes (docs/contract.md §7). */
function serveRequests(task: SpawnedTask, ctx: TaskContext, session: SnapshotSession) {
  const reader = Bun.file(task.requestFd).stream().getReader();
  const splitter = new LineSplitter();
  const reply = (text: string) => writeAll(task.responseFd, encoder.encode(`${text}\n`));
  let shellPwd: string | null = null;
  const loop = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (const bytes of splitter.push(value)) {
          // Bytes kept (sys/bytes.ts): a pathspec or --raw value need not be UTF-8.
          const line = decodeBytes(bytes);
          const req = parseRequest(line);
          switch (req.kind) {
            case "debug":
              ctx.out.debug(req.words.join(" "));
              break; // no reply: debug lines come from nested runners, concurrently
            case "pwd":
              shellPwd = req.dir;
              break; // no reply: the snapshot request that follows gets it
            case "snapshot":
              ctx.out.debug(`Running cmdpipe command: ${JSON.stringify(["snapshot", ...req.args])}`);
              reply(await session.handle(req.args, shellPwd));
              break;
            case "invalid":
            case "unknown":
              for (const l of requestErrorLines(req)) ctx.out.error(l);
              reply(Reply.fail);
              break;
            default:
              unreachable(req);
          }
        }
      }
    } catch (e) {
      ctx.out.debug(`controller channel closed: ${describeError(e)}`);
    }
  })();
  return {
    async stop() {
      // The task has exited, but the lines its nested runners wrote just before
      // may still wait in the channel: on a loaded machine this process can be
      // scheduled only after the task is gone. Read what is there (a writer that
      // outlives the task, a background process holding the descriptor, does not
      // hold us up: the channel is then empty, not readable), then stop.
      await Bun.sleep(0);
      const until = Date.now() + DRAIN_MS;
      while (hasInput(task.requestFd) && Date.now() < until) {
        if (await endsWithin(loop, 1)) break;
      }
      await reader.cancel().catch((e) => ctx.out.debug(`closing the controller channel: ${describeError(e)}`));
      await loop;
      // Both ends are ours to close (Bun hands extra pipes over as bare descriptors): a
      // toplevel that runs thousands of nested tasks must not run out of descriptors.
      // Only now: a reply written after closing could land in whatever reused the number.
      closeFd(task.responseFd);
      closeFd(task.requestFd);
    },
  };
}
