// A task's life as one state machine, and the one value it ends with.
//
// The runner moves a task through TaskState along TRANSITIONS, and nothing
// else; the snapshot request sets how the task was satisfied (Satisfied) as
// it decides. When the task is over, outcomeOf turns that into the
// TaskOutcome the trace recorder writes, the summary counts and the output
// modes read. Pure: no I/O, imported by every layer that reads an outcome.

/**
 * - locking: the job's lock is being taken (a taskrunner process waits for it, the toplevel's nested-task
 *   server only tries it);
 * - starting: the lock is held; a recorded result ends the task here, otherwise its log is opened;
 * - running: the task's command runs (its `snapshot` request is decided meanwhile);
 * - saving: the command is over: post-unpack commands, outputs checked, the upload;
 * - recording: the hash and the result are written, the log closed;
 * - reporting: the log upload and the commit status, the end of the build for the toplevel;
 * - stopped: a signal came; nothing is recorded as done;
 * - done: the outcome is final.
 */
export type TaskState = "locking" | "starting" | "running" | "saving" | "recording" | "reporting" | "stopped" | "done";

/** Every move a task may make, from each state. A move not listed is a bug (TaskLife.enter throws). */
export const TRANSITIONS: Readonly<Record<TaskState, readonly TaskState[]>> = {
  // A job not locked leaves no outcome: its runner says why and exits (or the toplevel declines it).
  locking: ["starting"],
  // done: a result recorded by an earlier run of the job in this build, or no log.
  starting: ["running", "saving", "stopped", "done"],
  running: ["saving", "stopped"],
  saving: ["recording", "stopped"],
  recording: ["reporting"],
  reporting: ["done"],
  stopped: ["done"],
  done: [],
};

/** How the task got its outputs when it succeeded: by running, or without (snapshot/decision.ts). */
export type Satisfied = "ran" | "skipped" | "restored-exact" | "restored-fuzzy";

export type OutcomeKind = Satisfied | "failed" | "interrupted";

export const OUTCOME_KINDS: readonly OutcomeKind[] = [
  "ran",
  "failed",
  "skipped",
  "restored-exact",
  "restored-fuzzy",
  "interrupted",
];

/** What one task did, once it is over: what the trace records, the summary counts and the output modes show. */
export interface TaskOutcome {
  job: string;
  /** The job of the task that started this one; null for the build's toplevel. */
  parent: string | null;
  kind: OutcomeKind;
  exitCode: number;
  /** Lines saying why it reran, when its inputs were hashed and it did. */
  explain?: string[];
  /** What else its caches did, in its log's words (output/render.ts noteOf). */
  notes?: string[];
}

/** The task did its job (whether it ran or not). */
export function succeeded(kind: OutcomeKind): boolean {
  return kind !== "failed" && kind !== "interrupted";
}

export function outcomeKind(satisfied: Satisfied, exitCode: number, interrupted: boolean): OutcomeKind {
  if (interrupted) return "interrupted";
  return exitCode === 0 ? satisfied : "failed";
}

/** The task's progress through TaskState, and what its outcome will be made of. One per task. */
export class TaskLife {
  private current: TaskState = "locking";
  private how: Satisfied = "ran";
  private reasons: string[] | undefined;
  private readonly said: string[] = [];

  constructor(
    readonly job: string,
    readonly parent: string | null,
  ) {}

  get state(): TaskState {
    return this.current;
  }

  /** How the task got its outputs, so far (snapshot/session.ts sets it as it decides and restores). */
  get satisfied(): Satisfied {
    return this.how;
  }

  /** What its notes say so far. */
  get notes(): readonly string[] {
    return this.said;
  }

  /** Set by the snapshot request while the task runs: skipped, restored, or ran after a fuzzy restore. */
  satisfiedBy(how: Satisfied): void {
    this.expect("running");
    this.how = how;
  }

  /** Why it reruns (its inputs were hashed and differ). */
  explain(reasons: string[]): void {
    this.reasons = reasons;
  }

  /** Lines of its log the record keeps (output/render.ts noteOf). */
  note(lines: string[]): void {
    this.said.push(...lines);
  }

  /** A step that belongs to one state only is asked for in another: a bug in the runner. */
  expect(state: TaskState): void {
    if (this.current !== state) throw new Error(`task ${this.job}: expected to be ${state}, is ${this.current}`);
  }

  /** Moves to next; a move TRANSITIONS does not allow is a bug in the runner. */
  enter(next: TaskState): void {
    if (!TRANSITIONS[this.current].includes(next))
      throw new Error(`task ${this.job}: no move from ${this.current} to ${next}`);
    this.current = next;
  }

  /** The final value; the task enters done. */
  finish(exitCode: number): TaskOutcome {
    const interrupted = this.current === "stopped";
    this.enter("done");
    return {
      job: this.job,
      parent: this.parent,
      kind: outcomeKind(this.how, exitCode, interrupted),
      exitCode,
      ...(this.reasons ? { explain: this.reasons } : {}),
      ...(this.said.length ? { notes: this.said } : {}),
    };
  }
}
