// Starting the task: its descriptors, its environment, its process group.
import { argvThroughBash } from "../sys/bytes";
import { closeFd, dupFd, readText } from "../sys/libc";
import { SNAPSHOT_FUNCTION, TASKRUNNER_FUNCTION } from "../controller/protocol";
import type { Env } from "../config";
import { INTERNAL } from "../internal-env";

/**
 * Descriptor numbers the task sees for the runner's channels. They sit well
 * above 3–9 (which scripts use with `exec 3>file`) and above where bash puts
 * `{var}` redirections, so a script does not trample them by accident.
 */
export const FD = { toplevelStdout: 60, toplevelStderr: 61, request: 62, response: 63, jobLock: 64 } as const;
const STDIO_SIZE = FD.jobLock + 1;

/** Set for the tasks of a build whose toplevel serves nested tasks (toplevel/nested-server.ts). */
export const NESTED_SERVER_VARIABLES = [INTERNAL.runPort, INTERNAL.runToken, INTERNAL.taskrunnerFunction] as const;

export interface SpawnedTask {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  requestFd: number; // our end of the request channel (read)
  responseFd: number; // our end of the response channel (write)
}

/**
 * Below this soft limit on open files, spawning fails (EINVAL) once the runner's own descriptors and FD's are counted.
 */
const MIN_OPEN_FILES = 128;

/** The soft limit on open files (RLIMIT_NOFILE), or null when /proc does not say. */
function openFilesLimit(): number | null {
  const line = readText("/proc/self/limits")
    ?.split("\n")
    .find((l) => l.startsWith("Max open files"));
  const soft = line?.split(/\s{2,}/)[1];
  return soft && /^\d+$/.test(soft) ? Number(soft) : null;
}

export type SpawnOutcome =
  | { kind: "spawned"; task: SpawnedTask }
  | { kind: "failed"; message: string; exitCode: number };

export function spawnTask(opts: {
  cmd: string;
  args: string[];
  cwd: string;
  env: Env;
  buildId: string;
  toplevelStdout: number;
  toplevelStderr: number;
  /** The job's locked descriptor: the task holds the lock too (state/locks.ts). */
  jobLock: number;
}): SpawnOutcome {
  // Bun hands a child exactly the descriptors listed here (it closes the rest),
  // and only when they move to a new number: pass duplicates of the toplevel
  // streams, which a nested runner inherited as 60/61 already.
  const outDup = dupFd(opts.toplevelStdout);
  const errDup = dupFd(opts.toplevelStderr);
  const lockDup = dupFd(opts.jobLock);
  const stdio: (string | number | Uint8Array)[] = new Array(STDIO_SIZE).fill("ignore");
  stdio[1] = "pipe";
  stdio[2] = "pipe";
  if (outDup !== null) stdio[FD.toplevelStdout] = outDup;
  if (errDup !== null) stdio[FD.toplevelStderr] = errDup;
  if (lockDup !== null) stdio[FD.jobLock] = lockDup;
  // Bun makes a socket pair per extra "pipe"; bash's `read -u` and `>&fd` work on them as on pipes.
  stdio[FD.request] = "pipe";
  stdio[FD.response] = "pipe";
  const env: Env = {
    ...opts.env,
    [INTERNAL.buildId]: opts.buildId,
    [INTERNAL.requestPipe]: String(FD.request),
    [INTERNAL.responsePipe]: String(FD.response),
    [INTERNAL.toplevelStdout]: String(FD.toplevelStdout),
    [INTERNAL.toplevelStderr]: String(FD.toplevelStderr),
    [INTERNAL.snapshotFunction]: SNAPSHOT_FUNCTION,
  };
  if (env[INTERNAL.runPort]) env[INTERNAL.taskrunnerFunction] = TASKRUNNER_FUNCTION;
  // An argument that is not UTF-8 (`caf\xe9`) reaches the task through bash (see argvThroughBash).
  const viaBash = argvThroughBash([opts.cmd, ...opts.args]);
  if (viaBash) stdio[0] = viaBash.stdin;
  try {
    const proc = Bun.spawn(viaBash?.cmd ?? [opts.cmd, ...opts.args], {
      cwd: opts.cwd,
      env: env as Record<string, string>,
      stdio: stdio as never,
      // Its own session and process group: a signal to the runner is passed to
      // the whole tree the task started, grandchildren included.
      detached: true,
    }) as unknown as Bun.Subprocess<"ignore", "pipe", "pipe">;
    const extra = proc.stdio as unknown as (number | null)[];
    return {
      kind: "spawned",
      task: { proc, requestFd: extra[FD.request] as number, responseFd: extra[FD.response] as number },
    };
  } catch (e) {
    const code = (e as { code?: string }).code;
    const limit = code === "EINVAL" || code === "EMFILE" ? openFilesLimit() : null;
    const why =
      code === "ENOENT"
        ? "command not found"
        : code === "EACCES"
          ? "permission denied"
          : limit !== null && limit < MIN_OPEN_FILES
            ? `the open-files limit (ulimit -n ${limit}) is too low: ` +
              `taskrunner hands a task descriptors ${FD.toplevelStdout} to ${FD.jobLock} besides its own; ` +
              `raise it to ${MIN_OPEN_FILES} or more (ulimit -n 1024)`
            : (e as Error).message;
    return {
      kind: "failed",
      message: `cannot run ${JSON.stringify(opts.cmd)}: ${why}`,
      exitCode: code === "ENOENT" ? 127 : 126,
    };
  } finally {
    for (const fd of [outDup, errDup, lockDup]) if (fd !== null) closeFd(fd);
  }
}
