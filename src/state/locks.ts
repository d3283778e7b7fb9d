// The system-wide job lock: an exclusive flock(2) on locks/<job>.lock.
//
// The task holds it as well as its runner: the locked descriptor is handed to
// the task's process (task/process.ts, FD.jobLock), and a flock belongs to
// the open file, not to one process, so the kernel keeps the job locked while
// any holder lives. A runner that dies — even by SIGKILL, even a toplevel
// serving nested tasks in its own process — leaves the job locked until the
// task's processes have exited too, and a second build waits for them rather
// than running the same job beside them. A runner that ends normally releases
// the lock explicitly (releaseJob): a background process its task left
// running, which inherited the descriptor, does not keep the job locked.
import { closeFd, errnoText, openOrCreate, flock, Errno, LOCK_EX, LOCK_NB, LOCK_UN } from "../sys/libc";

export type LockOutcome = { kind: "acquired"; fd: number; waited: boolean } | { kind: "failed"; message: string };

export function lockJob(path: string, onWait: () => void): LockOutcome {
  const fd = openOrCreate(path);
  if (fd < 0) return { kind: "failed", message: `cannot open the lock file ${path}: ${errnoText(-fd)}` };
  const first = flock(fd, LOCK_EX | LOCK_NB);
  if (first === 0) return { kind: "acquired", fd, waited: false };
  if (first !== Errno.EAGAIN) return { kind: "failed", message: `cannot lock ${path}: ${errnoText(first)}` };
  onWait();
  // Blocking here is what we want: nothing else can happen until we hold the job.
  const second = flock(fd, LOCK_EX);
  if (second !== 0) return { kind: "failed", message: `cannot lock ${path}: ${errnoText(second)}` };
  return { kind: "acquired", fd, waited: true };
}

/** Unlocks for every holder of the descriptor (the task's leftovers included), and closes ours. */
export function releaseJob(fd: number): void {
  flock(fd, LOCK_UN);
  closeFd(fd);
}
