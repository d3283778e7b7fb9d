// TASKRUNNER_OUTPUT=progress: in a terminal, a live area at the bottom lists
// the running tasks with their elapsed times and counts what is done, redrawn
// in place; a task's lines are held (as in quiet mode) and a failed task's are
// printed above the area when it ends. Only the toplevel's process draws; it
// sees the tasks it runs and serves (toplevel/nested-server.ts). A nested
// taskrunner in a process of its own behaves as in quiet mode. The area is
// cleared and the cursor shown again when the build ends, is interrupted, or
// the process exits any other way.
import type { Terminal } from "./output";
import type { Held, Presenter, TaskReport } from "./presenter";
import { humanDuration } from "./duration";

const encoder = new TextEncoder();
const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
/** Redraws per second: elapsed times move in tenths of a second. */
const TICK_MS = 100;
/** Running tasks listed by name; the rest are counted. */
const LISTED = 8;
const HIDE_CURSOR = "\x1b[?25l";
const SHOW_CURSOR = "\x1b[?25h";

export interface Counts {
  done: number;
  skipped: number;
  restored: number;
  failed: number;
}

/**
 * The area's lines: one per running task (the longest-running first) — the build's own task
 * only while nothing else runs — then the counts. Pure, for tests.
 */
export function areaLines(
  running: Map<string, number>,
  toplevel: string | null,
  counts: Counts,
  now: number,
  frame: number,
  columns: number,
): string[] {
  const all = [...running].sort((a, b) => a[1] - b[1]);
  const tasks = all.length > 1 ? all.filter(([job]) => job !== toplevel) : all;
  const spin = SPINNER[frame % SPINNER.length];
  const width = Math.min(30, Math.max(0, ...tasks.map(([job]) => job.length)));
  const lines = tasks.slice(0, LISTED).map(([job, at]) => ` ${spin} ${job.padEnd(width)}  ${humanDuration(now - at)}`);
  if (tasks.length > LISTED) lines.push(`   … and ${tasks.length - LISTED} more`);
  lines.push(` ${countsText(tasks.length, counts)}`);
  return lines.map((l) => clip(l, columns));
}

export function countsText(running: number, c: Counts): string {
  return `${running} running · ${c.done} done · ${c.skipped} skipped · ${c.restored} restored · ${c.failed} failed`;
}

function clip(line: string, columns: number): string {
  const chars = [...line];
  return chars.length < columns ? line : `${chars.slice(0, Math.max(1, columns - 2)).join("")}…`;
}

export class ProgressPresenter implements Presenter {
  private readonly running = new Map<string, number>();
  private readonly counts: Counts = { done: 0, skipped: 0, restored: 0, failed: 0 };
  /** Lines of the area on the screen now (the cursor is on the line below them). */
  private drawn = 0;
  private frame = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private closed = false;
  /** The build's own task: it is the build, not one of its tasks, unless it failed or hashed inputs. */
  private toplevel: string | null = null;
  private readonly start = Date.now();
  private readonly onExit = () => this.close();

  constructor(
    private readonly terminal: Terminal,
    private readonly draw: boolean,
    private readonly columns: () => number,
  ) {
    if (!draw) return;
    this.timer = setInterval(() => this.redraw(), TICK_MS);
    this.timer.unref?.();
    process.once("exit", this.onExit);
  }

  started(job: string, at: number): void {
    this.toplevel ??= job;
    this.running.set(job, at);
  }

  longRunning(): void {}

  ended(report: TaskReport, held: Held[]): void {
    this.running.delete(report.job);
    const failed = report.outcome === "failed" || report.outcome === "interrupted";
    if (report.job !== this.toplevel || failed || report.cacheable) {
      if (failed) this.counts.failed++;
      else if (report.outcome === "skipped") this.counts.skipped++;
      else if (report.outcome === "restored") this.counts.restored++;
      else this.counts.done++;
    }
    if (!failed || held.length === 0) return;
    // Above the area: cleared, the lines written where it was, drawn again below them.
    this.clear();
    for (const h of held) this.terminal.write(h.toStdout, h.data);
    if (this.drawn === 0 && this.timer) this.redraw();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    process.removeListener("exit", this.onExit);
    if (!this.draw) return;
    const wasDrawn = this.drawn > 0;
    this.clear();
    const { done, restored, failed } = this.counts;
    // A build with nothing to do leaves nothing behind.
    const counts = countsText(0, this.counts).replace(/^0 running · /, "");
    const summary = done + restored + failed > 0 ? ` ${counts} in ${humanDuration(Date.now() - this.start)}\n` : "";
    this.terminal.write(false, encoder.encode(summary + (wasDrawn ? SHOW_CURSOR : "")));
  }

  private redraw(): void {
    if (this.closed) return;
    const lines = areaLines(this.running, this.toplevel, this.counts, Date.now(), this.frame++, this.columns());
    const hide = this.drawn === 0 ? HIDE_CURSOR : "";
    this.terminal.write(false, encoder.encode(`${hide}${this.erase()}${lines.join("\n")}\n`));
    this.drawn = lines.length;
  }

  /** Moves to the area's first line and clears to the end of the screen. */
  private erase(): string {
    return this.drawn > 0 ? `\r\x1b[${this.drawn}A\x1b[J` : "";
  }

  private clear(): void {
    if (this.drawn === 0) return;
    this.terminal.write(false, encoder.encode(this.erase()));
    this.drawn = 0;
  }
}
