// When an archive of the directory store was last used, for --prune-cache
// (prune.ts): the later of its modification time (written) and its access
// time, which a restore moves to now. The bytes and the modification time
// stay as they are, and a reader elsewhere is not disturbed: only the inode's
// atime changes. An explicit time is set even on a noatime mount; the
// kernel's own atime updates (relatime: about once a day per file) count too,
// so a restore by a user who may not set the time (not the archive's owner)
// still counts, at a day's granularity, where the file system records atime.
import type { FileHandle } from "node:fs/promises";
import { describeError } from "../sys/errors";

/**
 * Marks the archive open in handle as used now. On the descriptor, not the
 * path: an archive replaced meanwhile (a save renaming a new one into place)
 * keeps its own times. Never fails: a mark that cannot be made is a debug line.
 */
export async function markUsed(handle: FileHandle, where: string, debug: (message: string) => void): Promise<void> {
  try {
    const { mtimeMs } = await handle.stat();
    await handle.utimes(new Date(), mtimeMs / 1000);
  } catch (e) {
    debug(`Could not mark ${where} as used (for --prune-cache): ${describeError(e)}`);
  }
}

export function lastUsedMs(st: { atimeMs: number; mtimeMs: number }): number {
  return Math.max(st.atimeMs, st.mtimeMs);
}
