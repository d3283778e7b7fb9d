// Restoring an archive into the cache root without ever leaving half an
// archive behind as if it were whole: extract into a fresh staging directory
// on the root's file system (so moving is a rename), and only when the whole
// archive has been read and checked move its members into place.
//
// The staging directory is kept out of the work tree when it can be (the
// caller offers the repository's git directory and the state directory): in
// the root, a task hashing a directory around it would count its files.
// Hashing skips such folders by name too (RESTORE_STAGING_PREFIX), for the
// fallback inside the root and for one a crash left behind.
//
// Moving merges like `tar -x` does: members replace what is at their path,
// everything else in the root stays. Only the moves themselves can fail
// half-way (a permission, a full disk is already past), and that is reported
// as a failure, never as restored.
import { cp, lstat, lutimes, mkdir, mkdtemp, readdir, realpath, rename, rm, stat, chmod, utimes } from "node:fs/promises";
import { join, sep } from "node:path";
import type { Readable } from "node:stream";
import { RESTORE_STAGING_PREFIX } from "../paths";
import { unpackArchive, type EntryMeta } from "./archive";
import { ArchiveError } from "./store";

export interface RestoreIntoOptions {
  /** Directories to stage in, best first: the first on the root's file system is used, else the root itself. */
  stagingParents?: string[];
  /** Stops the extraction (the staging directory is removed); the promise then rejects. */
  signal?: AbortSignal;
}

/**
 * Extracts `source` into `root`. Rejects with the underlying error (a
 * StoreError from the download, an ArchiveError for a bad archive, a file
 * system error, the signal's abort); the root is then untouched unless the
 * message says "partly". Resolves to notes for the debug log: where it staged,
 * and metadata that could not be reapplied.
 */
export async function restoreInto(source: Readable, root: string, opts: RestoreIntoOptions = {}): Promise<string[]> {
  await mkdir(root, { recursive: true });
  const parent = await stagingParent(root, opts.stagingParents ?? []);
  const tmp = await mkdtemp(join(parent, RESTORE_STAGING_PREFIX));
  try {
    const meta = await unpackArchive(source, tmp, opts.signal);
    // Past this point the moves are quick renames, done whole rather than cut short.
    opts.signal?.throwIfAborted();
    const realRoot = await realpath(root);
    const moves: Move[] = [];
    await planMerge(tmp, root, "", meta, realRoot, moves);
    try {
      for (const move of moves) await execute(move, meta, realRoot);
    } catch (e) {
      throw new ArchiveError(`moving restored files into ${root} failed half-way, outputs are partly restored: ${(e as Error).message}`);
    }
    await rm(tmp, { recursive: true, force: true }); // before reapplying: removing it from the root touches the root's mtime
    return [`staged in ${tmp}`, ...(await reapplyMeta(root, meta))];
  } finally {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
  }
}

/** The first candidate directory on the root's file system (so that moving out of it is a rename), else the root. */
async function stagingParent(root: string, candidates: string[]): Promise<string> {
  const device = (await stat(root)).dev;
  for (const dir of candidates) {
    const st = await stat(dir).catch(() => null);
    if (st?.isDirectory() && st.dev === device) return dir;
  }
  return root;
}

interface Move {
  from: string;
  to: string;
  rel: string;
  /** Something of another kind (a directory where a file goes, or the reverse) is in the way. */
  clear: boolean;
}

async function planMerge(src: string, dst: string, rel: string, meta: Map<string, EntryMeta>, realRoot: string, moves: Move[]): Promise<void> {
  for (const name of await readdir(src)) {
    const from = join(src, name);
    const to = join(dst, name);
    const r = rel ? `${rel}/${name}` : name;
    const [s, d] = await Promise.all([lstat(from), lstat(to).catch(() => null)]);
    if (!d) {
      moves.push({ from, to, rel: r, clear: false });
    } else if (s.isDirectory() && d.isDirectory()) {
      await planMerge(from, to, r, meta, realRoot, moves);
    } else if (s.isDirectory() && d.isSymbolicLink() && meta.get(r)?.type !== "Directory") {
      // The archive only implies this directory (a member "a/b" without "a/"),
      // and the root has a symlink there. GNU tar writes through it; so do we,
      // but only while it stays inside the cache root.
      const target = await realpath(to).catch(() => null);
      const isDir = target !== null && (await stat(target)).isDirectory();
      if (!isDir || !inside(target, realRoot)) {
        throw new ArchiveError(`${to} is a symlink that leads outside the cache root; not restoring through it`);
      }
      await planMerge(from, to, r, meta, realRoot, moves);
    } else {
      // rename() replaces a file or a symlink in one step; a directory in the
      // way of a file (or a file in the way of a directory) goes first.
      moves.push({ from, to, rel: r, clear: s.isDirectory() !== d.isDirectory() });
    }
  }
}

async function execute(move: Move, meta: Map<string, EntryMeta>, realRoot: string): Promise<void> {
  if (move.clear) await rm(move.to, { recursive: true, force: true });
  try {
    await rename(move.from, move.to);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOTEMPTY" || code === "EEXIST") {
      // Another task restoring into the same root created this directory
      // since we looked: merge into it instead.
      const nested: Move[] = [];
      await planMerge(move.from, move.to, move.rel, meta, realRoot, nested);
      for (const m of nested) await execute(m, meta, realRoot);
    } else if (code === "EXDEV") {
      // A mount point inside the cache root: copy across it.
      await cp(move.from, move.to, { recursive: true, force: true, preserveTimestamps: true, verbatimSymlinks: true });
    } else {
      throw e;
    }
  }
}

/**
 * Modes exactly as archived (less setuid/setgid), not narrowed by the umask:
 * the outputs should be what the build made, as GNU tar does for root. Then
 * directory mtimes, deepest first, since moving members in touched them, and
 * symlink mtimes, as GNU tar does.
 */
async function reapplyMeta(root: string, meta: Map<string, EntryMeta>): Promise<string[]> {
  const notes: string[] = [];
  const byDepth = [...meta.entries()].sort(([a], [b]) => depth(b) - depth(a));
  for (const [rel, m] of byDepth) {
    const path = rel ? join(root, rel) : root;
    try {
      if (m.type === "SymbolicLink") {
        if (m.mtime) await lutimes(path, m.mtime, m.mtime);
        continue;
      }
      await chmod(path, m.mode & 0o7777);
      if (m.type === "Directory" && m.mtime) await utimes(path, m.mtime, m.mtime);
    } catch (e) {
      notes.push(`could not set mode/mtime of ${path}: ${(e as Error).message}`);
    }
  }
  return notes;
}

function depth(rel: string): number {
  return rel === "" ? -1 : rel.split("/").length;
}

function inside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}
