// Restore staging folders (restore.ts) and their owners. A restore holds an
// exclusive flock on its staging folder for as long as it uses it; the kernel
// drops the lock when the owner exits, however it exits, and a pid that is
// reused later holds nothing. So a folder whose lock can be taken has no
// owner: a runner killed with SIGKILL mid-restore left it (with the old
// outputs in it if it was moving them), and the next restore into the same
// parent removes it before staging its own.
//
// The lock is taken a moment after the folder appears (mkdtemp, then open and
// flock): a folder changed in the last minute is left alone, so that one made
// this instant is never mistaken for an abandoned one. The descriptor is
// close-on-exec (node's fs opens so), so a task spawned meanwhile does not
// inherit it and keep an abandoned folder "owned".
import { closeSync, openSync } from "node:fs";
import { mkdtemp, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { RESTORE_STAGING_PREFIX } from "../sys/paths";
import { Errno, LOCK_EX, LOCK_NB, errnoText, flock } from "../sys/libc";
import { describeError } from "../sys/errors";
import { removeTree } from "./write-access";

/** A folder untouched for this long, whose lock is free, is abandoned. */
const GRACE_MS = 60_000;

/** A fresh staging folder in parent, locked until release(). */
export async function makeStaging(parent: string): Promise<{ dir: string; release(): void }> {
  const dir = await mkdtemp(join(parent, RESTORE_STAGING_PREFIX));
  const fd = openSync(dir, "r");
  const locked = flock(fd, LOCK_EX | LOCK_NB);
  if (locked !== 0) {
    closeSync(fd);
    throw new Error(`cannot lock the staging folder ${dir}: ${errnoText(locked)}`);
  }
  return { dir, release: () => closeSync(fd) };
}

/** Removes the staging folders in parent that no live restore owns; returns notes for the debug log. */
export async function removeAbandonedStaging(parent: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(parent)).filter((n) => n.startsWith(RESTORE_STAGING_PREFIX));
  } catch (e) {
    return [`cannot look for abandoned staging folders in ${parent}: ${describeError(e)}`];
  }
  const notes: string[] = [];
  for (const name of names) {
    const dir = join(parent, name);
    let fd: number;
    try {
      if (Date.now() - (await stat(dir)).mtimeMs < GRACE_MS) continue;
      fd = openSync(dir, "r");
    } catch (e) {
      // Gone already (its owner finished, or another restore removed it): nothing to do.
      if ((e as { code?: string }).code !== "ENOENT")
        notes.push(`cannot check the staging folder ${dir}: ${describeError(e)}`);
      continue;
    }
    try {
      const locked = flock(fd, LOCK_EX | LOCK_NB);
      if (locked === Errno.EAGAIN) continue; // a live restore's
      if (locked !== 0) {
        notes.push(`cannot check the staging folder ${dir}: ${errnoText(locked)}`);
        continue;
      }
      // Held while removing: a second restore looking at it meanwhile leaves it to us.
      await removeTree(dir);
      notes.push(`removed ${dir}: a staging folder its restore left behind (its owner is gone)`);
    } catch (e) {
      notes.push(`cannot remove the abandoned staging folder ${dir}: ${describeError(e)}`);
    } finally {
      closeSync(fd);
    }
  }
  return notes;
}
