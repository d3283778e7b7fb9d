// The private variables a taskrunner sets for everything it starts (docs/contract.md §2:
// `_taskrunner_*`, and the exported bash functions), named once here and read
// once, through readInternalEnv, as config.ts does for TASKRUNNER_*. The bash
// functions in controller/shell/ read some of them by the same names.
import type { Env } from "./config";

export const INTERNAL = {
  /** The build a process belongs to; unset in a toplevel. Scripts may read it. */
  buildId: "_taskrunner_build_id",
  /** Descriptor numbers of the controller channel (docs/contract.md §7), as the task sees them. */
  requestPipe: "_taskrunner_request_pipe",
  responsePipe: "_taskrunner_response_pipe",
  /** Descriptor numbers of the toplevel's stdout and stderr, where nested runners write. */
  toplevelStdout: "_taskrunner_toplevel_stdout",
  toplevelStderr: "_taskrunner_toplevel_stderr",
  /** The job of the task that started this process: a nested task's parent. */
  parentJob: "_taskrunner_parent_job",
  /** The toplevel's nested-task port and the build's token for it (toplevel/nested-server.ts). */
  runPort: "_taskrunner_run_port",
  runToken: "_taskrunner_run_token",
  /** The toplevel's hashing socket (toplevel/hash-service.ts). */
  hashService: "_taskrunner_hash_service",
  /** The exported bash functions `snapshot` and `taskrunner`. */
  snapshotFunction: "BASH_FUNC_snapshot%%",
  taskrunnerFunction: "BASH_FUNC_taskrunner%%",
} as const;

/** What a taskrunner inherited from the taskrunner that started its caller (all null in a toplevel). */
export interface InternalEnv {
  buildId: string | null;
  /** Descriptor numbers as set; whether they are still open is the runner's to check. */
  requestPipe: number | null;
  toplevelStdout: number | null;
  toplevelStderr: number | null;
  parentJob: string | null;
  hashService: string | null;
}

function text(env: Env, name: string): string | null {
  const v = env[name];
  return v === undefined || v === "" ? null : v;
}

function descriptor(env: Env, name: string): number | null {
  const v = env[name];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : null;
}

export function readInternalEnv(env: Env): InternalEnv {
  return {
    buildId: text(env, INTERNAL.buildId),
    requestPipe: descriptor(env, INTERNAL.requestPipe),
    toplevelStdout: descriptor(env, INTERNAL.toplevelStdout),
    toplevelStderr: descriptor(env, INTERNAL.toplevelStderr),
    parentJob: text(env, INTERNAL.parentJob),
    hashService: text(env, INTERNAL.hashService),
  };
}
