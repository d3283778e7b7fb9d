// What happened to a task, as values. The runner and the snapshot decision
// say what happened; render.ts says how it reads; TaskOutput prints it. Types
// only: every module that reports imports this one, and it imports nothing
// that reports.
import type { HashInfo } from "../state/hash-file";

/** A hashed task that does not skip by its local hash: what it hashed to, what was saved, and why it differs. */
export interface Hashed {
  current: HashInfo;
  saved: HashInfo;
  /** Why it does not skip ("files modified: src/a.txt", "forced with -f", …), for its log and --explain. */
  reasons: string[];
}

/** The outcome of a task's `snapshot` request (docs/contract.md §7, "Decision procedure"). */
export type Decision =
  /** Step 1: nothing declared to hash; the task runs, uncached. */
  | { kind: "run"; hashed: null }
  /** Steps 6–8: the task runs, and why. fuzzy: a fuzzy cache is to be restored first (step 7). */
  | { kind: "run"; hashed: Hashed; fuzzy: boolean }
  /** Step 3: inputs unchanged since the last success. */
  | { kind: "skip"; because: "unchanged"; hash: string }
  /** Step 4: prime-cache mode: the task is taken as done, its outputs as they are. */
  | { kind: "skip"; because: "prime-cache"; hashed: Hashed }
  /** Step 5: restored from the remote archive of this exact hash; the task body is skipped. */
  | { kind: "restore"; archive: string; hashed: Hashed }
  /** No decision could be made (a bad request, inputs that cannot be hashed): the task fails. */
  | { kind: "fault"; message: string }
  /** Cut short by a signal; the runner says so when the task ends. */
  | { kind: "interrupted" };

/** What a task says while it runs, in the order it happens. */
export type TaskEvent =
  | { kind: "decided"; decision: Decision }
  /** A `cd` in the script before `snapshot`, with relative paths given: they are taken from startDir all the same. */
  | { kind: "cd-ignored"; startDir: string; shellDir: string }
  | { kind: "hashing"; files: string[]; raw: string[] }
  | { kind: "wildcards-literal"; pathspecs: string[] }
  | { kind: "hashed-by-service" }
  | { kind: "hash-service-declined"; reason: string }
  | { kind: "reference-hashing"; reason: string }
  | { kind: "hash-file-damaged"; path: string; reason: string }
  /** Inputs unchanged, but declared outputs are gone: the task does not skip. */
  | { kind: "outputs-missing"; outputs: string[] }
  /** Why the task does not skip; mismatch: the saved and the new hash, when they differ. */
  | { kind: "rerun"; mismatch: { saved: string; current: string } | null; reasons: string[] }
  /** The exact remote cache was not looked up: these tracked inputs have uncommitted changes. */
  | { kind: "remote-not-tried"; uncommitted: string[] }
  | { kind: "remote-found"; archive: string }
  | { kind: "remote-not-used"; message: string }
  | { kind: "fuzzy-restored"; branch: string; hash: string }
  | { kind: "fuzzy-not-used"; branch: string; message: string }
  /**
   * The fuzzy cache changed these inputs before the run: it does not start from what it hashed, so nothing is saved.
   */
  | { kind: "fuzzy-changed-inputs"; paths: string[] }
  /** Something kept the task from starting (no build directory, no lock, no log): it fails with 1. */
  | { kind: "cannot-start"; message: string }
  | { kind: "spawn-failed"; message: string }
  /** The task exited, but a background process kept its stdout or stderr open past the timeout. */
  | { kind: "stream-left-open"; stream: "stdout" | "stderr"; seconds: number }
  /** A task with inputs ran and its body ended with code. */
  | { kind: "ended"; code: number }
  /** The build's toplevel was skipped by its local hash. */
  | { kind: "skipped" }
  /** The task succeeded without creating these declared outputs: nothing is saved, so it runs again. */
  | { kind: "outputs-not-created"; outputs: { declared: string; path: string }[]; uploading: boolean }
  /** An output outside the cache root (message), found when the cache was to be saved: nothing is uploaded. */
  | { kind: "outputs-outside-root"; message: string; startDir: string }
  | { kind: "cache-not-saved"; message: string }
  /**
   * A background upload was stopped (why): by a signal, or at the build's end, which says so once for all (atBuildEnd).
   */
  | { kind: "upload-stopped"; why: string; atBuildEnd: boolean }
  /** The build's end waited `seconds` for these tasks' background uploads, then stopped them. */
  | { kind: "uploads-cut-short"; jobs: string[]; seconds: number }
  /** The task changed its own inputs while it ran (these paths, when known): nothing is saved. */
  | { kind: "inputs-moved"; paths: string[] }
  /**
   * The run (or the restore) changed only inputs that are declared outputs too (a rewritten
   * lockfile): the hash after it is saved for the local skip; the cache keeps the one before.
   */
  | { kind: "outputs-rewrote-inputs"; by: "run" | "restore"; paths: string[]; before: string; after: string }
  /** The log upload failed (message), or no store is configured for it (null). */
  | { kind: "log-not-uploaded"; message: string | null }
  /** A post-unpack command failed; the task now fails with 1 (and says so again if its body ran). */
  | { kind: "post-unpack-failed"; message: string; ran: boolean }
  | { kind: "interrupted"; signal: string }
  /** TASKRUNNER_OUTPUT=github outside GitHub Actions: plain output instead. */
  | { kind: "not-in-github-actions" };
