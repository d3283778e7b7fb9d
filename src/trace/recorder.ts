// What one task did, for the build's trace, the summary line and --explain:
// builds/<id>/tasks/<job>.json, written once when the task is over.
import { writeFileAtomic, mkdirp } from "../sys/libc";

import type { CacheFacts, Outcome, Phase, TaskRecord } from "./record";
import type { ReportOutcome, TaskReport } from "../output/presenter";
export type { CacheFacts, Outcome, Phase, TaskRecord } from "./record";
export type PhaseName = Phase["name"];

export const now = () => performance.timeOrigin + performance.now();

export class TaskRecorder {
  readonly start = now();
  readonly phases: Phase[] = [];
  explain: string[] | undefined;
  /** What else --explain shows (the words of the task's log, output/render.ts noteOf). */
  readonly notes: string[] = [];
  /** How the task was satisfied without running, if it was. */
  shortcut: "skipped" | "restored-exact" | null = null;
  fuzzyRestored = false;
  /** What the remote cache did, if the task has one. */
  cache: CacheFacts | undefined;

  constructor(
    private readonly job: string,
    private readonly parent: string | null,
  ) {}

  async phase<T>(name: PhaseName, work: () => Promise<T>): Promise<T> {
    const start = now();
    try {
      return await work();
    } finally {
      this.phases.push({ name, start, end: now() });
    }
  }

  outcome(exitCode: number, interrupted: boolean): Outcome {
    if (interrupted) return "interrupted";
    if (exitCode !== 0) return "failed";
    return this.shortcut ?? (this.fuzzyRestored ? "restored-fuzzy" : "ran");
  }

  /** What a presenter shows of the task (output/presenter.ts), as it ends. */
  report(exitCode: number, interrupted: boolean): TaskReport {
    const outcome = REPORTED[this.outcome(exitCode, interrupted)];
    const cacheable = this.shortcut !== null || this.phases.some((p) => p.name === "hash");
    return { job: this.job, outcome, exitCode, start: this.start, end: now(), cacheable };
  }

  /** Writes the record; what kept it from being written, if anything. */
  finish(tasksDir: string, exitCode: number, interrupted: boolean): { path: string; errno: number } | null {
    const outcome = this.outcome(exitCode, interrupted);
    const record: TaskRecord = {
      job: this.job,
      parent: this.parent,
      pid: process.pid,
      start: this.start,
      end: now(),
      outcome,
      exitCode,
      phases: this.phases,
      ...(this.explain ? { explain: this.explain } : {}),
      ...(this.notes.length ? { notes: this.notes } : {}),
      ...(this.cache ? { cache: this.cache } : {}),
    };
    this.written = { tasksDir, record };
    return this.write();
  }

  private written: { tasksDir: string; record: TaskRecord } | null = null;

  private write(): { path: string; errno: number } | null {
    if (!this.written) return null;
    const { tasksDir, record } = this.written;
    mkdirp(tasksDir);
    const path = `${tasksDir}/${this.job}.json`;
    const errno = writeFileAtomic(path, JSON.stringify(record));
    return errno ? { path, errno } : null;
  }

  /**
   * A background upload (task/background-uploads.ts) ends after the task's record is written:
   * the bytes it sent are added to the record then, before the build's end reads it.
   */
  uploaded(bytes: number): void {
    this.cache = { ...(this.cache ?? { lookup: "not-tried" }), up: bytes };
    if (!this.written) return;
    this.written.record.cache = this.cache;
    this.write();
  }
}

const REPORTED: Record<Outcome, ReportOutcome> = {
  ran: "ran",
  failed: "failed",
  skipped: "skipped",
  "restored-exact": "restored",
  "restored-fuzzy": "fuzzy-restored",
  interrupted: "interrupted",
};
