// What a build did, counted: the run summary (TASKRUNNER_SUMMARY=1) and the
// header of the trace files. A task that only ran other tasks — it hashed no
// inputs of its own and nested tasks ran under it, like a CI script's
// toplevel — did no work to count: counting it would make a build whose tasks
// were all skipped say "1 ran". It counts only when it failed by itself, none
// of the tasks under it having failed. A fuzzy restore is a head start, not a
// result: the task still ran, and counts as ran.
import type { TaskRecord } from "./record";

export interface Counts {
  tasks: number;
  ran: number;
  skipped: number;
  restored: number;
  failed: number;
}

const failed = (r: TaskRecord) => r.outcome === "failed" || r.outcome === "interrupted";

export function countTasks(records: TaskRecord[]): Counts {
  const parents = new Set(records.map((r) => r.parent));
  const failedParents = new Set(records.filter(failed).map((r) => r.parent));
  const counted = records.filter((r) => {
    const onlyRanOthers = parents.has(r.job) && !r.phases.some((p) => p.name === "hash");
    return !onlyRanOthers || (failed(r) && !failedParents.has(r.job));
  });
  const count = (...outcomes: TaskRecord["outcome"][]) => counted.filter((r) => outcomes.includes(r.outcome)).length;
  return {
    tasks: counted.length,
    ran: count("ran", "restored-fuzzy"),
    skipped: count("skipped"),
    restored: count("restored-exact"),
    failed: count("failed", "interrupted"),
  };
}

/** `4 tasks: 2 ran, 1 skipped, 0 restored, 1 failed` */
export function formatCounts(c: Counts): string {
  return (
    `${c.tasks} task${c.tasks === 1 ? "" : "s"}: ` +
    `${c.ran} ran, ${c.skipped} skipped, ${c.restored} restored, ${c.failed} failed`
  );
}

/** The toplevel's last line with TASKRUNNER_SUMMARY=1. */
export function summaryLine(records: TaskRecord[], wallMs: number): string {
  return `Summary: ${formatCounts(countTasks(records))}; wall time ${(wallMs / 1000).toFixed(2)}s`;
}
