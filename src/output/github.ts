// TASKRUNNER_OUTPUT=github: a build as a GitHub Actions log reads best. Each
// task's terminal lines are held while it runs and written when it ends, in
// one write under the build's output lock, inside one `::group::` titled with
// the task, what became of it and how long it took — so groups never nest or
// interleave, whatever runs in parallel. A failed task's lines stay outside
// any group, followed by an `::error` annotation the run page shows. A task
// still running after a while gets one line, so a stuck job is visible.
// Everything goes to stdout: the runner reads stdout and stderr apart, and a
// group split over both could come out of order.
import { concat } from "./lines";
import type { Terminal } from "./output";
import type { Held, Presenter, ReportOutcome, TaskReport } from "./presenter";
import { clockTime, humanDuration } from "./duration";
import { escapeData, escapeProperty, shielded } from "./workflow-commands";

const encoder = new TextEncoder();

/** How long a task runs before the log says it is still running. */
export const STILL_RUNNING_MS = 10_000;

const WORDS: Record<ReportOutcome, string> = {
  ran: "ran",
  skipped: "skipped",
  restored: "restored from cache",
  "fuzzy-restored": "ran after a fuzzy cache restore",
  failed: "failed",
  interrupted: "interrupted",
};

/** The title of a task's group: `build: ran in 12.3 s`. */
export function groupTitle(r: TaskReport): string {
  return `${r.job}: ${WORDS[r.outcome]} in ${humanDuration(r.end - r.start)}`;
}

export class GithubPresenter implements Presenter {
  private readonly running = new Map<string, { at: number; timer: ReturnType<typeof setTimeout> | null }>();

  constructor(
    private readonly terminal: Terminal,
    private readonly timestamps: boolean,
    private readonly stillRunningMs = STILL_RUNNING_MS,
  ) {}

  started(job: string, at: number): void {
    const timer = setTimeout(() => this.stillRunning(job), this.stillRunningMs);
    timer.unref?.();
    this.running.set(job, { at, timer });
  }

  longRunning(job: string): void {
    this.stillRunning(job);
  }

  private stillRunning(job: string): void {
    const task = this.running.get(job);
    if (!task || task.timer === null) return;
    clearTimeout(task.timer);
    task.timer = null;
    const stamp = this.timestamps ? `${clockTime(Date.now())} ` : "";
    const text = `${stamp}[${job}] info | running since ${clockTime(task.at)}; its output is shown when it ends\n`;
    this.write([encoder.encode(text)]);
  }

  ended(report: TaskReport, held: Held[]): void {
    const task = this.running.get(report.job);
    if (task?.timer) clearTimeout(task.timer);
    this.running.delete(report.job);
    const body = concat(held.flatMap((h) => h.data));
    if (report.outcome === "failed" || report.outcome === "interrupted") {
      const { job, exitCode } = report;
      const failed = report.outcome === "failed";
      const what = failed ? `failed, exit code: ${exitCode}` : `interrupted (exit code ${exitCode})`;
      const title = escapeProperty(`taskrunner: ${job} ${report.outcome}`);
      const annotation = `::error title=${title}::${escapeData(`Task ${job} ${what}`)}\n`;
      this.write([...(body.length ? shielded(body) : []), encoder.encode(annotation)]);
      return;
    }
    // Nothing to show, and nothing worth a line: a build with nothing to do prints nothing new.
    const restored = report.outcome === "restored" || report.outcome === "fuzzy-restored";
    const worthAGroup = restored || (report.outcome === "ran" && report.cacheable);
    if (body.length === 0 && !worthAGroup) return;
    const open = encoder.encode(`::group::${escapeData(groupTitle(report))}\n`);
    this.write([open, ...shielded(body), encoder.encode("::endgroup::\n")]);
  }

  close(): void {
    for (const task of this.running.values()) if (task.timer) clearTimeout(task.timer);
    this.running.clear();
  }

  private write(parts: Uint8Array[]): void {
    this.terminal.write(true, concat(parts));
  }
}
