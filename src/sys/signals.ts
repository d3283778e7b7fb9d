// Signal numbers without node:os (which costs start-up time). The common ones
// agree on Linux and Darwin; the rest are only needed to report 128+N.
const COMMON: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};
const LINUX: Record<string, number> = {
  SIGBUS: 7,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};
const DARWIN: Record<string, number> = {
  SIGEMT: 7,
  SIGBUS: 10,
  SIGSYS: 12,
  SIGURG: 16,
  SIGSTOP: 17,
  SIGTSTP: 18,
  SIGCONT: 19,
  SIGCHLD: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGIO: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGINFO: 29,
  SIGUSR1: 30,
  SIGUSR2: 31,
};

export function signalNumber(name: string): number {
  return COMMON[name] ?? (process.platform === "darwin" ? DARWIN : LINUX)[name] ?? 0;
}

/** The signals that interrupt a task (docs/contract.md §10). */
export const INTERRUPTING = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * One task's interruption, listened for over its whole life — restores,
 * uploads and post-unpack commands included, not only while its process
 * runs — so that an interrupted task records nothing and leaves no temporary
 * file behind. `signal` aborts what is in flight; every signal received also
 * goes to the onSignal listeners (the task's process group, a post-unpack
 * command).
 */
export class Interruption {
  /** The first interrupting signal, once one came. */
  by: NodeJS.Signals | null = null;
  private readonly controller = new AbortController();
  readonly signal: AbortSignal = this.controller.signal;
  private readonly listeners = new Set<(s: NodeJS.Signals) => void>();
  private readonly handler = (s: NodeJS.Signals) => this.interrupt(s);

  /** Listens for this process's signals until stop(). */
  start(): this {
    for (const s of INTERRUPTING) process.on(s, this.handler);
    return this;
  }

  stop(): void {
    for (const s of INTERRUPTING) process.off(s, this.handler);
  }

  /** A signal came (or, for a nested task served in-process, its caller went away). */
  interrupt(s: NodeJS.Signals): void {
    this.by ??= s;
    for (const listener of this.listeners) listener(s);
    if (!this.signal.aborted) this.controller.abort(new Error(`interrupted by ${s}`));
  }

  /** Calls f with each signal from now on, until the returned function is called. */
  onSignal(f: (s: NodeJS.Signals) => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  /** 128 + the signal's number, once interrupted. */
  get exitCode(): number | null {
    return this.by === null ? null : 128 + signalNumber(this.by);
  }
}
