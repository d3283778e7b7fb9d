// Every lock taskrunner takes, all flock(2) on files of the state directory.
// A flock belongs to the open file, not to one process, and the kernel drops
// it when the last descriptor goes: a crashed holder never leaves one behind.
//
// - locks/<job>.lock, exclusive: one instance of a job at a time, system-wide.
//   The task holds it as well as its runner: the locked descriptor is handed
//   to the task's process (task/process.ts, FD.jobLock), so the kernel keeps
//   the job locked while any holder lives. A runner that dies — even by
//   SIGKILL, even a toplevel serving nested tasks in its own process — leaves
//   the job locked until the task's processes have exited too, and a second
//   build waits for them rather than running the same job beside them. A
//   runner that ends normally releases the lock explicitly (releaseJob): a
//   background process its task left running, which inherited the descriptor,
//   does not keep the job locked.
// - builds/<id>/running.lock, shared by every taskrunner of a running build:
//   housekeeping never removes a build that is still running.
// - builds/<id>/output.lock, exclusive around each write to the toplevel's
//   terminal: lines of parallel tasks never tear.
// - .github-token-cache.json.lock, exclusive, polled: one process at a time
//   renews the GitHub token (github/token.ts).
import { closeFd, errnoText, openLockFile, flock, Errno, LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN } from "../sys/libc";

export type LockOutcome = { kind: "acquired"; fd: number; waited: boolean } | { kind: "failed"; message: string };

/** The job's lock, waited for (onWait is called first when someone else holds it). */
export function lockJob(path: string, onWait: () => void): LockOutcome {
  const fd = openLockFile(path);
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

/** The job's lock if it is free now, or why not: a process serving many tasks must never block on one. */
export function tryLockJob(
  path: string,
): { kind: "acquired"; fd: number } | { kind: "busy" } | { kind: "failed"; message: string } {
  const fd = openLockFile(path);
  if (fd < 0) return { kind: "failed", message: `cannot open the lock file ${path}: ${errnoText(-fd)}` };
  const r = flock(fd, LOCK_EX | LOCK_NB);
  if (r === 0) return { kind: "acquired", fd };
  closeFd(fd);
  return r === Errno.EAGAIN ? { kind: "busy" } : { kind: "failed", message: `cannot lock ${path}: ${errnoText(r)}` };
}

/** Unlocks for every holder of the descriptor (the task's leftovers included), and closes ours. */
export function releaseJob(fd: number): void {
  flock(fd, LOCK_UN);
  closeFd(fd);
}

/**
 * A shared hold on builds/<id>/running.lock while this process has a task of the build alive; null if it cannot be had.
 */
export function holdBuild(buildDir: string): { release(): void } | null {
  const fd = openLockFile(`${buildDir}/running.lock`);
  if (fd < 0) return null;
  flock(fd, LOCK_SH);
  return { release: () => closeFd(fd) };
}

/** Whether a taskrunner of the build still holds its running.lock; null when the lock file cannot be opened. */
export function buildIsRunning(buildDir: string): boolean | null {
  const fd = openLockFile(`${buildDir}/running.lock`);
  if (fd < 0) return null;
  const free = flock(fd, LOCK_EX | LOCK_NB) === 0;
  closeFd(fd);
  return !free;
}

/**
 * builds/<id>/output.lock, held around each write to the toplevel's streams; null if it cannot be opened (lines may
 * then tear, never go missing).
 */
export function terminalLock(buildDir: string): { hold(write: () => void): void } | null {
  const fd = openLockFile(`${buildDir}/output.lock`);
  if (fd < 0) return null;
  return {
    hold(write) {
      flock(fd, LOCK_EX);
      try {
        write();
      } finally {
        flock(fd, LOCK_UN);
      }
    },
  };
}

/**
 * An exclusive lock on path, polled with LOCK_NB rather than waited for: a
 * blocking flock would stop this process's event loop, and with it a holder
 * in this same process that is awaiting GitHub's answer — a deadlock.
 */
export async function lockPolling(
  path: string,
  timeoutMs: number,
): Promise<{ kind: "locked"; release(): void } | { kind: "failed"; message: string }> {
  const fd = openLockFile(path);
  if (fd < 0) return { kind: "failed", message: `cannot open ${path}: ${errnoText(-fd)}` };
  const deadline = Date.now() + timeoutMs;
  for (let pause = 5; ; pause = Math.min(pause * 2, 50)) {
    const r = flock(fd, LOCK_EX | LOCK_NB);
    if (r === 0) return { kind: "locked", release: () => closeFd(fd) };
    if (r !== Errno.EAGAIN || Date.now() > deadline) {
      closeFd(fd);
      return {
        kind: "failed",
        message:
          r === Errno.EAGAIN
            ? `${path} stayed locked for ${timeoutMs / 1000} s`
            : `cannot lock ${path}: ${errnoText(r)}`,
      };
    }
    await Bun.sleep(pause);
  }
}
