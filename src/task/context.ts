// What a task is given: the shapes the runner fills in and every helper of a
// task (snapshot, cache, statuses, the toplevel's services) reads. Types, the
// function that makes a host and one small registry, no other behaviour:
// everything that runs a task imports this module, and it imports nothing
// that runs one.
import type { Config, Env } from "../config";
import type { InternalEnv } from "../internal-env";
import type { TaskOutput, Terminal } from "../output/output";
import type { BuildPaths } from "../state/layout";
import type { TaskRecorder } from "../trace/recorder";
import type { Interruption } from "../sys/signals";
import type { BackgroundUploads } from "./background-uploads";
import type { TaskLife } from "../outcome";

export interface RunRequest {
  name: string;
  force: boolean;
  cmd: string;
  args: string[];
}

/** Where a task runs: what its Host and its TaskContext share. */
interface Placement {
  paths: BuildPaths;
  /** The build's toplevel task. */
  isToplevel: boolean;
  /** Running inside the toplevel's process (the toplevel, or a nested task it serves). */
  inToplevelProcess: boolean;
  /**
   * The caller's umask when it differs from this process's (a nested task served by the toplevel), for every child
   * process.
   */
  umask: number | null;
}

/** Everything a task's helpers (snapshot, cache, status) need to know about it. */
export interface TaskContext extends Placement {
  job: string;
  /** The task's command line, CMD ARGS… (`snapshot --hash-command` hashes it). */
  command: string[];
  /** The caller's environment: the task's, and every child process's (post-unpack commands), plus our variables. */
  env: Env;
  /** Our variables in env, read once. */
  internal: InternalEnv;
  /** The caller's physical working directory, where the task and its child processes run. */
  cwd: string;
  /** Its state and what its outcome is made of (src/outcome.ts). */
  life: TaskLife;
  /** When its phases ran, for the trace. */
  record: TaskRecorder;
  force: boolean;
  config: Config;
  out: TaskOutput;
  /** Aborts the task's restores, uploads and post-unpack commands when a signal comes. */
  interruption: Interruption;
  /**
   * Where a nested task served in the toplevel's process hands its cache upload (background-uploads.ts); otherwise it
   * uploads before it ends.
   */
  uploads: BackgroundUploads | null;
}

/** What a taskrunner process is, whichever tasks it runs: built once per process. */
export interface ProcessHost {
  paths: BuildPaths;
  /** This process is the build's toplevel. */
  isToplevel: boolean;
  /** The toplevel's streams (its descriptors are what a task gets as 60/61). */
  terminal: Terminal;
  /** The tasks whose runner is this process. */
  registry: TaskRegistry;
  /** The toplevel's background cache uploads: its own process's tasks hand theirs here. */
  uploads?: BackgroundUploads;
}

/** A job whose lock is held, and what its caller told about it. */
export interface HeldJob {
  /** The job's locked descriptor, handed to the task too (state/locks.ts). */
  lockFd: number;
  /** A debug line for the parent task's log; logOnly: never on the terminal (output/output.ts). */
  toParent: (text: string, logOnly?: boolean) => void;
  /** The caller's umask, when it differs from this process's. */
  umask: number | null;
  /** Called with a function that interrupts the task, for when its caller goes away. */
  onCallerGone?: (interrupt: () => void) => void;
}

/**
 * Where a task runs: in a taskrunner process of its own, or — for a nested task
 * served by the toplevel (toplevel/nested-server.ts) — inside the toplevel's process.
 */
export interface Host extends Placement, HeldJob {
  terminal: Terminal;
  registry: TaskRegistry;
  uploads?: BackgroundUploads;
}

/** The one place a Host is made: the process it runs in and the job it holds. */
export function hostOf(proc: ProcessHost, job: HeldJob, servedForAnother: boolean): Host {
  return {
    ...job,
    paths: proc.paths,
    terminal: proc.terminal,
    registry: proc.registry,
    uploads: proc.uploads,
    isToplevel: proc.isToplevel && !servedForAnother,
    inToplevelProcess: proc.isToplevel,
  };
}

/**
 * How the runner runs a job whose lock the caller took: builds its host, runs
 * it, releases the lock. The toplevel's services run nested tasks through it.
 * servedForAnother: a nested task served inside the toplevel's process.
 */
export type RunHeld = (
  req: RunRequest,
  config: Config,
  env: Env,
  cwd: string,
  job: HeldJob,
  servedForAnother: boolean,
) => Promise<number>;

/**
 * The tasks whose runner is this process, by name: a nested task served here finds its parent's log. One per process.
 */
export class TaskRegistry {
  private readonly running = new Map<string, TaskOutput>();

  /** Until the returned function is called. */
  add(job: string, out: TaskOutput): () => void {
    this.running.set(job, out);
    return () => this.running.delete(job);
  }

  get(job: string): TaskOutput | undefined {
    return this.running.get(job);
  }
}
