// When a task's phases ran and what its remote cache did, for the build's trace, and its record:
// builds/<id>/tasks/<job>.json, written once from the task's outcome (src/outcome.ts).
import { writeFileAtomic, mkdirp } from "../sys/libc";
import type { TaskOutcome } from "../outcome";

import type { CacheFacts, Outcome, Phase, TaskRecord } from "./record";
import type { ReportOutcome, TaskReport } from "../output/presenter";
export type { CacheFacts, Outcome, Phase, TaskRecord } from "./record";
export type PhaseName = Phase["name"];

export const now = () => performance.timeOrigin + performance.now();

export class TaskRecorder {
  readonly start = now();
  readonly phases: Phase[] = [];
  /** What the remote cache did, if the task has one. */
  cache: CacheFacts | undefined;

  async phase<T>(name: PhaseName, work: () => Promise<T>): Promise<T> {
    const start = now();
    try {
      return await work();
    } finally {
      this.phases.push({ name, start, end: now() });
    }
  }

  /** What a presenter shows of the task (output/presenter.ts), from its outcome. */
  report(outcome: TaskOutcome): TaskReport {
    const shortcut = outcome.kind === "skipped" || outcome.kind === "restored-exact";
    const cacheable = shortcut || this.phases.some((p) => p.name === "hash");
    return {
      job: outcome.job,
      outcome: REPORTED[outcome.kind],
      exitCode: outcome.exitCode,
      start: this.start,
      end: now(),
      cacheable,
    };
  }

  /** Writes the record of the outcome; what kept it from being written, if anything. */
  finish(tasksDir: string, outcome: TaskOutcome): { path: string; errno: number } | null {
    const record: TaskRecord = {
      job: outcome.job,
      parent: outcome.parent,
      pid: process.pid,
      start: this.start,
      end: now(),
      outcome: outcome.kind,
      exitCode: outcome.exitCode,
      phases: this.phases,
      ...(outcome.explain ? { explain: outcome.explain } : {}),
      ...(outcome.notes ? { notes: outcome.notes } : {}),
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
    const path = `${tasksDir}/${record.job}.json`;
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
