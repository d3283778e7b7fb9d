// A child process with another process's umask: a nested task served inside
// the toplevel runs with its caller's, and so does every process started for
// it (its body, its post-unpack commands, the git processes of its hashing).

/**
 * Runs spawn (which starts a child process, synchronously) under umask, when
 * given. Safe because nothing else runs in this process between setting and
 * restoring it.
 */
export function withUmask<T>(umask: number | null, spawn: () => T): T {
  if (umask === null) return spawn();
  const previous = process.umask(umask);
  try {
    return spawn();
  } finally {
    process.umask(previous);
  }
}
