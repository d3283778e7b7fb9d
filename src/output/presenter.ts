// How a build is shown on the terminal beyond the old tool's plain lines
// (TASKRUNNER_OUTPUT=github|progress, docs/guides/ci-output.md): a presenter
// holds a task's terminal lines while it runs and decides what to show when
// it ends. Types only: the presenters live in the lazily loaded entry
// src/present.ts, so a build without them loads none of their code.

/** What became of a task, as the presenters and the build summary read it. */
export type ReportOutcome = "ran" | "skipped" | "restored" | "fuzzy-restored" | "failed" | "interrupted";

/** What one task did, for a presenter: the narrow view of the runner's record it needs. */
export interface TaskReport {
  job: string;
  outcome: ReportOutcome;
  exitCode: number;
  /** Epoch ms. */
  start: number;
  end: number;
  /** It declared inputs with `snapshot` (its result is one a cache can give). */
  cacheable: boolean;
}

/** Terminal lines held back, as the plain output would have written them. */
export interface Held {
  toStdout: boolean;
  /** Bytes, or the pieces of a batch too large to join (a huge line: output.ts). */
  data: Uint8Array | Uint8Array[];
}

export interface Presenter {
  /** A task of this process began (its lock is held). */
  started(job: string, at: number): void;
  /** The task declared itself long-running (`snapshot --long-running`): say so now rather than later. */
  longRunning(job: string): void;
  /** The task ended; `held` is every terminal line it produced, in order. */
  ended(report: TaskReport, held: Held[]): void;
  /** The build is over or cut short: leave the terminal clean. Called once, by the toplevel. */
  close(): void;
}
