// When a task's phases ran, for the build's trace, and its record:
// builds/<id>/tasks/<job>.json, written once from the task's outcome (src/outcome.ts).
import { writeFileAtomic, mkdirp } from "../sys/libc";
import type { TaskOutcome } from "../outcome";

import type { Phase, TaskRecord } from "./record";
export type { Outcome, Phase, TaskRecord } from "./record";
export type PhaseName = Phase["name"];

export const now = () => performance.timeOrigin + performance.now();

export class TaskRecorder {
  readonly start = now();
  readonly phases: Phase[] = [];

  async phase<T>(name: PhaseName, work: () => Promise<T>): Promise<T> {
    const start = now();
    try {
      return await work();
    } finally {
      this.phases.push({ name, start, end: now() });
    }
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
    };
    mkdirp(tasksDir);
    const path = `${tasksDir}/${outcome.job}.json`;
    const errno = writeFileAtomic(path, JSON.stringify(record));
    return errno ? { path, errno } : null;
  }
}
