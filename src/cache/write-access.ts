// Restoring over a read-only tree its user owns (a Go module cache is 0555 all
// the way down): moving a directory to another parent needs write permission
// on it (its ".." changes) and on both parents, and removing a tree needs it
// on every directory in it. GNU tar as a user fails there, and the task reran
// every time. A directory the user owns may be opened up: this is done only
// when a call was refused, and each mode changed is put back afterwards
// (restore.ts then sets the archive's own modes, as before).
import { chmod, lstat, readdir, rm } from "../sys/byte-fs";
import { joinPath } from "../sys/paths";
import { describeError } from "../sys/errors";

function isDenied(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === "EACCES" || code === "EPERM";
}

/** The directories a restore made writable, to be put back. */
export class WriteAccess {
  private readonly changed = new Map<string, { mode: number; ino: number }>();

  /**
   * Runs f; if it is refused for want of write permission, makes the directories among `paths` writable and runs it
   * once more.
   */
  async retry<T>(paths: string[], f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      if (!isDenied(e)) throw e;
      let opened = false;
      for (const path of paths) if (await this.open(path)) opened = true;
      if (!opened) throw e;
      return f();
    }
  }

  private async open(path: string): Promise<boolean> {
    const st = await lstat(path).catch(() => null);
    if (!st?.isDirectory() || (st.mode & 0o300) === 0o300) return false;
    if (!this.changed.has(path)) this.changed.set(path, { mode: st.mode & 0o7777, ino: st.ino });
    await chmod(path, (st.mode & 0o7777) | 0o300);
    return true;
  }

  /**
   * Puts each changed mode back, where the same directory is still at its path (not one moved in since); notes for the
   * debug log.
   */
  async restore(): Promise<string[]> {
    const notes: string[] = [];
    for (const [path, { mode, ino }] of [...this.changed].reverse()) {
      try {
        if ((await lstat(path).catch(() => null))?.ino === ino) await chmod(path, mode);
      } catch (e) {
        notes.push(`could not make ${path} read-only again: ${describeError(e)}`);
      }
    }
    this.changed.clear();
    return notes;
  }
}

/** rm -rf, also of what read-only directories (which the user owns) hold. */
export async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
    return;
  } catch (e) {
    if (!isDenied(e)) throw e;
  }
  await openAll(path);
  await rm(path, { recursive: true, force: true });
}

async function openAll(path: string): Promise<void> {
  const st = await lstat(path).catch(() => null);
  if (!st?.isDirectory()) return;
  if ((st.mode & 0o700) !== 0o700) await chmod(path, (st.mode & 0o7777) | 0o700);
  for (const name of await readdir(path)) await openAll(joinPath(path, name));
}
