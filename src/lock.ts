// The system-wide job lock: an exclusive flock(2) on locks/<job>.lock, held
// until the process exits. The kernel drops it when the process dies, however
// it dies; Bun.spawn hands a child only the descriptors it is given, so a
// task that outlives its runner does not keep the job locked.
import { openOrCreate, flock, Errno, LOCK_EX, LOCK_NB } from "./sys";

export type LockOutcome = { kind: "acquired"; fd: number; waited: boolean } | { kind: "failed"; message: string };

export function lockJob(path: string, onWait: () => void): LockOutcome {
  const fd = openOrCreate(path);
  if (fd < 0) return { kind: "failed", message: `cannot open lock file ${path}: errno ${-fd}` };
  const first = flock(fd, LOCK_EX | LOCK_NB);
  if (first === 0) return { kind: "acquired", fd, waited: false };
  if (first !== Errno.EAGAIN) return { kind: "failed", message: `cannot lock ${path}: errno ${first}` };
  onWait();
  // Blocking here is what we want: nothing else can happen until we hold the job.
  const second = flock(fd, LOCK_EX);
  if (second !== 0) return { kind: "failed", message: `cannot lock ${path}: errno ${second}` };
  return { kind: "acquired", fd, waited: true };
}
