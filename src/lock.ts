// The system-wide job lock: an exclusive flock(2) on locks/<job>.lock, held
// until the process exits. The kernel drops it when the process dies, however
// it dies, and the descriptor is close-on-exec (node:fs opens with O_CLOEXEC),
// so a task that outlives its runner does not keep the job locked.
import { openSync } from "node:fs";
import { flock, LOCK_EX, LOCK_NB } from "./posix";

export type LockOutcome = { kind: "acquired"; fd: number; waited: boolean } | { kind: "failed"; message: string };

const EWOULDBLOCK = new Set([11, 35]); // Linux EAGAIN, Darwin EWOULDBLOCK

export function lockJob(path: string, onWait: () => void): LockOutcome {
  let fd: number;
  try {
    fd = openSync(path, "a");
  } catch (e) {
    return { kind: "failed", message: `cannot open lock file ${path}: ${(e as Error).message}` };
  }
  const first = flock(fd, LOCK_EX | LOCK_NB);
  if (first === 0) return { kind: "acquired", fd, waited: false };
  if (!EWOULDBLOCK.has(first)) return { kind: "failed", message: `cannot lock ${path}: errno ${first}` };
  onWait();
  // Blocking here is what we want: nothing else can happen until we hold the job.
  const second = flock(fd, LOCK_EX);
  if (second !== 0) return { kind: "failed", message: `cannot lock ${path}: errno ${second}` };
  return { kind: "acquired", fd, waited: true };
}
