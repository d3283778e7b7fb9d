// How lines look and where they go. The runner says *what* happened (a task
// line, a runner message); this module formats it once and hands it to the
// sinks: the toplevel's terminal streams, the task's log file, the quiet buffer.
// A task's own lines (stdout, stderr) are bytes, passed through untouched;
// the runner's messages are text, written in our fixed format
// (`[NAME] level | message`) into the same sinks. Which levels each sink takes
// is decided here, in one place (shownOnTerminal): the log file every level,
// the terminal as TASKRUNNER_DEBUG / TASKRUNNER_LOG_INFO say, the quiet buffer
// what the terminal would show.
import { closeFd, errnoText, writeAll } from "../sys/libc";
import { concat, JOIN_UP_TO, type Line } from "./lines";
import { render, type Level } from "./render";
import type { TaskEvent } from "./events";
import { succeeded, type TaskOutcome } from "../outcome";
import type { Presenter, TaskReport } from "./presenter";

export type { Level };
export type Stream = "stdout" | "stderr" | Level;

const encoder = new TextEncoder();

/**
 * The toplevel's stdout and stderr, shared by every taskrunner of a build.
 * Each batch of complete lines is written under a build-wide lock (the
 * build's output.lock, state/locks.ts), so lines of parallel tasks never tear
 * into each other (a pipe only guarantees that for writes up to PIPE_BUF
 * bytes). Without the lock they could tear, but would all still arrive.
 */
export class Terminal {
  private broken = [false, false];
  /** Set by the runner when TASKRUNNER_OUTPUT asks for one: shared by every task this process runs. */
  presenter: Presenter | null = null;

  constructor(
    readonly stdoutFd: number,
    readonly stderrFd: number,
    private readonly lock: { hold(write: () => void): void } | null,
  ) {}

  /** data: bytes, or the parts of a batch too large to join, written in turn under one hold of the lock. */
  write(toStdout: boolean, data: Uint8Array | Uint8Array[]): void {
    const i = toStdout ? 0 : 1;
    if (this.broken[i] || data.length === 0) return;
    let err = 0;
    const write = () => (err = writeParts(toStdout ? this.stdoutFd : this.stderrFd, data));
    if (this.lock) this.lock.hold(write);
    else write();
    if (err) this.broken[i] = true;
  }
}

export interface OutputOptions {
  job: string;
  timestamps: boolean;
  showDebug: boolean;
  showInfo: boolean;
  quiet: boolean;
  terminal: Terminal;
  logFd: number | null;
  /** For the message when writing the log fails. */
  logPath: string;
}

let lastSecond = -1;
let lastStamp: Uint8Array = new Uint8Array(0);

/** `HH:MM:SS ` in UTC, as the established tool prints it. */
function timestamp(): Uint8Array {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    lastStamp = encoder.encode(`${new Date(now).toISOString().slice(11, 19)} `);
  }
  return lastStamp;
}

const NL = encoder.encode("\n");

/** Writes data whole: one buffer, or parts in turn. 0, or the errno of the write that failed. */
function writeParts(fd: number, data: Uint8Array | Uint8Array[]): number {
  if (!Array.isArray(data)) return writeAll(fd, data);
  for (const part of data) {
    const err = part.length > 0 ? writeAll(fd, part) : 0;
    if (err) return err;
  }
  return 0;
}

/** The parts of a batch as one buffer when that is cheap (one write), else as they are: a huge line is never copied. */
function joined(parts: Uint8Array[], size: number): Uint8Array | Uint8Array[] {
  return size <= JOIN_UP_TO ? concat(parts) : parts;
}

export class TaskOutput {
  private readonly held: { toStdout: boolean; data: Uint8Array | Uint8Array[] }[] = [];
  private stateWriteSaid = false;
  private readonly jobPrefix: Uint8Array;
  private readonly streamTags = new Map<Stream, Uint8Array>();

  constructor(private readonly o: OutputOptions) {
    this.jobPrefix = encoder.encode(`[${o.job}] `);
    o.terminal.presenter?.started(o.job, Date.now());
  }

  private tag(stream: Stream): Uint8Array {
    let t = this.streamTags.get(stream);
    if (!t) this.streamTags.set(stream, (t = encoder.encode(`${stream} | `)));
    return t;
  }

  private shownOnTerminal(stream: Stream): boolean {
    if (stream === "debug") return this.o.showDebug;
    if (stream === "info") return this.o.showInfo;
    return true;
  }

  /** Complete lines (without newline) of one stream, in order. */
  lines(stream: Stream, lines: Line[], onTerminal = this.shownOnTerminal(stream)): void {
    if (lines.length === 0) return;
    const stamp = this.o.timestamps ? timestamp() : null;
    const tag = this.tag(stream);
    let logFailed = 0;
    if (this.o.logFd !== null) {
      const { parts, size } = this.batch(lines, stamp, null, tag);
      logFailed = writeParts(this.o.logFd, joined(parts, size));
      if (logFailed) this.closeLog();
    }
    if (onTerminal) {
      const { parts, size } = this.batch(lines, stamp, this.jobPrefix, tag);
      const toStdout = stream === "stdout";
      const data = joined(parts, size);
      if (this.o.quiet || this.o.terminal.presenter) this.held.push({ toStdout, data });
      else this.o.terminal.write(toStdout, data);
    }
    if (logFailed) this.stateWriteFailed(this.o.logPath, logFailed, "the rest of this task's log is lost");
  }

  /** The lines with their prefixes, as the parts to write, and their total size. */
  private batch(
    lines: Line[],
    stamp: Uint8Array | null,
    job: Uint8Array | null,
    tag: Uint8Array,
  ): { parts: Uint8Array[]; size: number } {
    const parts: Uint8Array[] = [];
    let size = 0;
    const add = (p: Uint8Array) => {
      parts.push(p);
      size += p.length;
    };
    for (const line of lines) {
      if (stamp) add(stamp);
      if (job) add(job);
      add(tag);
      if (Array.isArray(line)) line.forEach(add);
      else add(line);
      add(NL);
    }
    return { parts, size };
  }

  /**
   * A runner message; one line per line of text. onTerminal: shown whatever TASKRUNNER_DEBUG/LOG_INFO say (an
   * opt-in line of its own); false: in the log only, whatever they say (a line the old tool never showed).
   */
  message(level: Level, text: string, opts: { onTerminal?: boolean } = {}): void {
    this.lines(
      level,
      text.split("\n").map((l) => encoder.encode(l)),
      opts.onTerminal ?? this.shownOnTerminal(level),
    );
  }

  /** What happened, as the user reads it (render.ts). */
  say(event: TaskEvent): void {
    for (const m of render(event)) this.message(m.level, m.text);
  }

  /** `snapshot --long-running`: a presenter that holds the task's lines says at once that it runs. */
  longRunning(): void {
    this.o.terminal.presenter?.longRunning(this.o.job);
  }

  /** logOnly: in the task's log, never on the terminal. */
  debug(text: string, logOnly = false): void {
    this.message("debug", text, logOnly ? { onTerminal: false } : {});
  }
  info(text: string): void {
    this.message("info", text);
  }
  warn(text: string): void {
    this.message("warn", text);
  }
  error(text: string): void {
    this.message("error", text);
  }

  /**
   * A write to the state directory failed (a full disk, a directory removed
   * mid-build): one warn line naming the file and the cause, once per task —
   * on a full disk every later write fails too, and those are debug lines.
   */
  stateWriteFailed(path: string, errno: number, consequence: string): void {
    const text = `cannot write ${path}: ${errnoText(errno)}; ${consequence}`;
    if (this.stateWriteSaid) return this.debug(text);
    this.stateWriteSaid = true;
    this.warn(text);
  }

  /** Ends the log file; later lines (after the log is uploaded) go to the terminal only. */
  closeLog(): void {
    if (this.o.logFd !== null) closeFd(this.o.logFd);
    this.o.logFd = null;
  }

  /**
   * The task is over. Quiet mode: one that succeeded says nothing; one that failed shows what it held back.
   * With a presenter, the presenter decides (report: what became of the task; none when it could not start).
   */
  finish(outcome: Pick<TaskOutcome, "kind">, report?: TaskReport): void {
    const { presenter } = this.o.terminal;
    if (presenter) {
      const now = Date.now();
      const job = this.o.job;
      const couldNotStart: TaskReport = { job, outcome: "failed", exitCode: 1, start: now, end: now, cacheable: false };
      presenter.ended(report ?? couldNotStart, this.held);
    } else if (!succeeded(outcome.kind)) {
      for (const h of this.held) this.o.terminal.write(h.toStdout, h.data);
    }
    this.held.length = 0;
  }
}
