// What one task did, for the build's trace, the summary line and --explain:
// builds/<id>/tasks/<job>.json, written once when the task is over.
import { writeFileAtomic, mkdirp } from "../sys/libc";

import type { Outcome, Phase, TaskRecord } from "./record";
export type { Outcome, Phase, TaskRecord } from "./record";
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

  /** Writes the record; what kept it from being written, if anything. */
  finish(tasksDir: string, exitCode: number, interrupted: boolean): { path: string; errno: number } | null {
    const outcome: Outcome = interrupted
      ? "interrupted"
      : exitCode !== 0
        ? "failed"
        : (this.shortcut ?? (this.fuzzyRestored ? "restored-fuzzy" : "ran"));
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
    };
    mkdirp(tasksDir);
    const path = `${tasksDir}/${this.job}.json`;
    const errno = writeFileAtomic(path, JSON.stringify(record));
    return errno ? { path, errno } : null;
  }
}
