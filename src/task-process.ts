// Starting the task: its descriptors, its environment, its process group.
import { closeSync, openSync } from "node:fs";
import { cloexecPipe, dupCloexec } from "./posix";
import { SNAPSHOT_FUNCTION } from "./protocol";
import type { Env } from "./config";

/**
 * Descriptor numbers the task sees for the runner's channels. They sit well
 * above 3–9 (which scripts use with `exec 3>file`) and above where bash puts
 * `{var}` redirections, so a script does not trample them by accident.
 */
export const FD = { toplevelStdout: 60, toplevelStderr: 61, request: 62, response: 63 } as const;
const STDIO_SIZE = FD.response + 1;

export interface SpawnedTask {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  requestFd: number; // our read end of the request pipe
  responseFd: number; // our write end of the response pipe
}

export type SpawnOutcome = { kind: "spawned"; task: SpawnedTask } | { kind: "failed"; message: string; exitCode: number };

export function spawnTask(opts: {
  cmd: string;
  args: string[];
  cwd: string;
  env: Env;
  buildId: string;
  toplevelStdout: number;
  toplevelStderr: number;
}): SpawnOutcome {
  const [requestRead, requestWrite] = cloexecPipe();
  const [responseRead, responseWrite] = cloexecPipe();
  // Bun only hands a descriptor to the child when it is moved to a new number,
  // so pass duplicates of the toplevel streams (nested runners get them as 60/61).
  const outDup = dupCloexec(opts.toplevelStdout) ?? openSync("/dev/null", "w");
  const errDup = dupCloexec(opts.toplevelStderr) ?? openSync("/dev/null", "w");
  const stdio: (string | number)[] = new Array(STDIO_SIZE).fill("ignore");
  stdio[1] = "pipe";
  stdio[2] = "pipe";
  stdio[FD.toplevelStdout] = outDup;
  stdio[FD.toplevelStderr] = errDup;
  stdio[FD.request] = requestWrite;
  stdio[FD.response] = responseRead;
  const env: Env = {
    ...opts.env,
    _taskrunner_build_id: opts.buildId,
    _taskrunner_request_pipe: String(FD.request),
    _taskrunner_response_pipe: String(FD.response),
    _taskrunner_toplevel_stdout: String(FD.toplevelStdout),
    _taskrunner_toplevel_stderr: String(FD.toplevelStderr),
    "BASH_FUNC_snapshot%%": SNAPSHOT_FUNCTION,
  };
  try {
    const proc = Bun.spawn([opts.cmd, ...opts.args], {
      cwd: opts.cwd,
      env: env as Record<string, string>,
      stdio: stdio as never,
      // Its own session and process group: a signal to the runner is passed to
      // the whole tree the task started, grandchildren included.
      detached: true,
    }) as unknown as Bun.Subprocess<"ignore", "pipe", "pipe">;
    return { kind: "spawned", task: { proc, requestFd: requestRead, responseFd: responseWrite } };
  } catch (e) {
    closeSync(requestRead);
    closeSync(responseWrite);
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "command not found" : code === "EACCES" ? "permission denied" : (e as Error).message;
    return {
      kind: "failed",
      message: `cannot run ${JSON.stringify(opts.cmd)}: ${why}`,
      exitCode: code === "ENOENT" ? 127 : 126,
    };
  } finally {
    // The child has its copies; ours would keep the pipes open after it exits.
    for (const fd of [requestWrite, responseRead, outDup, errDup]) closeSync(fd);
  }
}
