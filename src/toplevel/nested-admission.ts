// Whether the toplevel serves a nested task itself (toplevel/nested-server.ts)
// or declines — its caller then runs the binary, the classic way. It declines
// whenever serving here could differ from a process of its own; each rule is
// a named reason, said at debug in the parent task's log (the toplevel's when
// the parent does not run here).
import { parseCli } from "../cli";
import { loadConfig, ConfigError, type Config, type Env } from "../config";
import type { ProcessHost } from "../task/context";
import type { TaskOutput } from "../output/output";
import { readInternalEnv } from "../internal-env";
import { realPath } from "../sys/libc";
import { tryLockJob } from "../state/locks";
import { processEnvironmentDifference } from "./process-env";
import type { Request } from "./nested-wire";

/** Why a nested task is not served here: one name per rule. */
export type DeclineReason =
  | "unusual-spelling"
  | "not-a-run"
  | "another-build"
  | "parent-elsewhere"
  | "environment-differs"
  | "relative-bash"
  | "limits-unknown"
  | "limits-differ"
  | "directory-unresolved"
  | "setting-invalid"
  | "relative-state-directory"
  | "another-state-directory"
  | "nested-processes"
  | "job-locked"
  | "lock-failed";

export interface Declined {
  kind: "declined";
  reason: DeclineReason;
  /** The reason in words, for the debug line. */
  detail: string;
  /** Whose log says it: the parent task's when it runs here. */
  parent: TaskOutput | null;
}

export type Admission =
  | Declined
  /** The toplevel was interrupted: the task does not start, its caller gets the exit code. */
  | { kind: "interrupted"; job: string; exitCode: number }
  | {
      kind: "admitted";
      name: string;
      force: boolean;
      cmd: string;
      args: string[];
      config: Config;
      cwd: string;
      parent: TaskOutput;
      /** The job's lock, taken. */
      lockFd: number;
    };

/** What admission compares a request with: this process's own facts. */
export interface Here {
  host: ProcessHost;
  /** This process's variables that its own code reads (process-env.ts). */
  ownVariables: () => Record<string, string>;
  /** The limits a bash started here gets (nested-server.ts limitsOf). */
  limitsHere: (bash: string) => Promise<{ limits: string } | { error: string }>;
  /** The toplevel task's interruption, once it came. */
  interrupted: () => { signal: string; exitCode: number } | null;
}

/** The debug line of a decline. */
export function declineLine(args: string[], d: Declined): string {
  return (
    `Nested taskrunner ${JSON.stringify(args)} not served in the toplevel, ` +
    `it runs in a process of its own: ${d.detail}`
  );
}

/** Every rule, in order; the first that declines decides. */
export async function admit(req: Request, here: Here): Promise<Admission> {
  let parent: TaskOutput | null = null;
  const decline = (reason: DeclineReason, detail: string): Declined => ({ kind: "declined", reason, detail, parent });
  const cli = parseCli(req.args);
  // The binary prints the help, the version or the usage error, and parses options spelled another way.
  if (cli.kind === "unusual")
    return decline(
      "unusual-spelling",
      `the option ${JSON.stringify(cli.word)} is not spelled plainly; the binary parses it`,
    );
  if (cli.kind !== "run") return decline("not-a-run", `not a plain run (${cli.kind})`);
  // A signal to the toplevel reaches the tasks running then; one asked for after it (its caller's
  // bash outlived the signal: it trapped it, or was waiting for a command that ended normally)
  // does not start, and its caller gets the interrupted exit code.
  const interrupted = here.interrupted();
  if (interrupted) return { kind: "interrupted", job: cli.name, exitCode: interrupted.exitCode };
  const { env } = req;
  const internal = readInternalEnv(env);
  const { paths } = here.host;
  if (internal.buildId !== paths.buildId)
    return decline("another-build", `it belongs to another build (${internal.buildId ?? "none"})`);
  parent = here.host.registry.get(internal.parentJob ?? "") ?? null;
  if (!parent)
    return decline(
      "parent-elsewhere",
      `its parent task ${JSON.stringify(internal.parentJob)} does not run in the toplevel`,
    );
  const difference = processEnvironmentDifference(env, here.ownVariables());
  if (difference) return decline("environment-differs", difference);
  const place = await placeOf(req, here, decline);
  if (place.kind === "declined") return place;
  const { config, cwd } = place;
  const lock = tryLockJob(paths.lockFile(cli.name));
  // Held: the binary waits for it, in a process of its own; this one must not block.
  if (lock.kind === "busy") return decline("job-locked", `the job ${cli.name} is locked; the binary waits for it`);
  if (lock.kind === "failed") return decline("lock-failed", lock.message);
  return {
    kind: "admitted",
    name: cli.name,
    force: cli.force,
    cmd: cli.cmd,
    args: cli.args,
    config,
    cwd,
    parent,
    lockFd: lock.fd,
  };
}

/** The rules about where the task would run: its bash and limits, its directory, its settings and state directory. */
async function placeOf(
  req: Request,
  here: Here,
  decline: (reason: DeclineReason, detail: string) => Declined,
): Promise<Declined | { kind: "placed"; config: Config; cwd: string }> {
  if (!req.bash.startsWith("/"))
    return decline("relative-bash", `the caller's bash is not an absolute path (${JSON.stringify(req.bash)})`);
  // A script that raised or lowered a limit (`ulimit -n 4096`) gets a process of its own.
  const limits = await here.limitsHere(req.bash);
  if ("error" in limits)
    return decline("limits-unknown", `the toplevel's resource limits cannot be known: ${limits.error}`);
  if (limits.limits !== req.limits)
    return decline("limits-differ", "the caller's resource limits differ from the toplevel's");
  // The physical directory, as getcwd(3) gives a taskrunner process.
  const cwd = realPath(req.pwd);
  if (cwd === null) return decline("directory-unresolved", `the caller's directory ${req.pwd} cannot be resolved`);
  let config: Config;
  try {
    config = loadConfig(req.env as Env, cwd);
  } catch (e) {
    if (e instanceof ConfigError) return decline("setting-invalid", `a setting does not parse (${e.message})`);
    throw e;
  }
  const state = config.stateDirectory;
  if (!state.startsWith("/"))
    return decline(
      "relative-state-directory",
      `a relative state directory (${state}) names another one in another directory`,
    );
  if (state !== here.host.paths.stateDir)
    return decline("another-state-directory", `another state directory (${state})`);
  if (config.nestedProcesses) return decline("nested-processes", "TASKRUNNER_NESTED_PROCESSES=1");
  return { kind: "placed", config, cwd };
}
