// Restoring an archive into the cache root without ever leaving half an
// archive behind as if it were whole: extract into a fresh staging directory
// on the root's file system (so moving is a rename), and only when the whole
// archive has been read and checked move its members into place.
//
// The staging directory is kept out of the work tree when it can be (the
// caller offers the repository's git directory and the state directory): in
// the root, a task hashing a directory around it would count its files.
// Hashing skips such folders by name too (RESTORE_STAGING_PREFIX), for the
// fallback inside the root and for one a crash left behind, which the next
// restore staging there removes (staging.ts).
//
// A declared output belongs to its task: each one the archive holds replaces
// what is at its path whole (a dependency dropped from a lockfile does not
// survive in node_modules). Everything else merges like `tar -x`: members
// replace what is at their path, the rest of the root stays. Nothing in the
// root is touched before the whole archive is in the staging directory; then
// what is to be replaced is moved aside into it and the new members are moved
// in. If a move fails, what was moved in goes and what was moved aside comes
// back; only if that fails too is the root "partly restored".
// Names as bytes: a file name that is not UTF-8 restores with its bytes (sys/byte-names.ts).
import {
  chmodNow,
  cp,
  lstat,
  lutimesNow,
  mkdir,
  readdir,
  readlink,
  realpath,
  rename,
  rm,
  stat,
  utimesNow,
} from "../sys/byte-fs";
import type { Readable } from "node:stream";
// Not node:path: Bun's turns an escaped byte (sys/byte-names.ts) into U+FFFD.
import { dirname, isInside, joinPath as join } from "../sys/paths";
import { makeStaging, removeAbandonedStaging } from "./staging";
import { unpackArchive, type EntryMeta } from "./archive";
import type { ArchiveMeta } from "./archive-meta";
import { ArchiveError } from "./store";
import { WriteAccess, removeTree } from "./write-access";

export interface RestoreIntoOptions {
  /** Directories to stage in, best first: the first on the root's file system is used, else the root itself. */
  stagingParents?: string[];
  /**
   * The task's declared outputs as archive member names (snapshot/output-paths.ts): each one the archive holds is
   * replaced whole.
   */
  outputs?: string[];
  /** Stops the extraction (the staging directory is removed); the promise then rejects. */
  signal?: AbortSignal;
  /** See Limits.parallelFrom. */
  parallelFrom?: number;
  /** Worker threads creating the files (write-pool.ts); the default suits the machine. */
  workers?: number;
  /**
   * Runs once every byte of the archive was read and extracted into staging,
   * before anything moves into the root: a throw (a signature that does not
   * match the bytes, cache/signature.ts) leaves the root untouched.
   */
  beforeMoves?: () => void;
  /** What the archive says about the run that made it (cache/archive-meta.ts), if it says anything. */
  onMeta?: (meta: ArchiveMeta) => void;
  /** Every restored member's mtime (files, directories, symlinks), in place of the archived ones. */
  mtime?: Date;
}

/**
 * Extracts `source` into `root`. Rejects with the underlying error (a
 * StoreError from the download, an ArchiveError for a bad archive, a file
 * system error, the signal's abort); the root is then as it was unless the
 * message says "partly". Resolves to notes for the debug log: where it staged,
 * and metadata that could not be reapplied.
 */
export async function restoreInto(source: Readable, root: string, opts: RestoreIntoOptions = {}): Promise<string[]> {
  await mkdir(root, { recursive: true });
  const parent = await stagingParent(root, opts.stagingParents ?? []);
  const swept = await removeAbandonedStaging(parent);
  const staging = await makeStaging(parent);
  const tmp = staging.dir;
  try {
    const tree = join(tmp, "tree");
    await mkdir(tree);
    const { parallelFrom, workers, onMeta, mtime } = opts;
    const meta = await unpackArchive(source, tree, opts.signal, { parallelFrom, workers, onMeta, mtime });
    // Past this point the moves are quick renames, done whole rather than cut short.
    opts.signal?.throwIfAborted();
    opts.beforeMoves?.();
    const realRoot = await realpath(root);
    const plan: Plan = {
      meta,
      realRoot,
      replaced: await replacedOutputs(tree, opts.outputs ?? [], realRoot, await realpath(tmp)),
      moves: [],
    };
    await planMoves(plan, tree, root, "");
    const links = await linkOutputs(tree, opts.outputs ?? []);
    const moving: Moving = { aside: join(tmp, "old"), done: [], access: new WriteAccess(), renamed: new Set() };
    await mkdir(moving.aside);
    try {
      for (const move of plan.moves) await execute(move, plan, moving);
    } catch (e) {
      throw new ArchiveError(
        `moving restored files into ${root} failed (${await undone(moving)}): ${(e as Error).message}`,
      );
    }
    const dangling = await danglingOutput(root, links);
    if (dangling) throw new ArchiveError(`${dangling} (${await undone(moving)})`);
    const reopened = await moving.access.restore();
    // Also the old outputs moved aside; before reapplying, since removing it from the root touches the root's mtime.
    await removeTree(tmp);
    return [...swept, `staged in ${tmp}`, ...reopened, ...(await reapplyMeta(root, meta, moving.renamed))];
  } finally {
    await removeTree(tmp).catch(() => {});
    staging.release();
  }
}

/** The declared outputs the archive holds as symlinks, with their targets. */
async function linkOutputs(tree: string, outputs: string[]): Promise<{ member: string; target: string }[]> {
  const links: { member: string; target: string }[] = [];
  for (const member of outputs) {
    if (member === "." || !(await lstat(join(tree, member)).catch(() => null))?.isSymbolicLink()) continue;
    links.push({ member, target: await readlink(join(tree, member)) });
  }
  return links;
}

/**
 * A declared output restored as a symlink that leads nowhere (`dist -> real/dist`
 * archived by GNU tar without real/dist) is not a restored output: the task
 * would be skipped with nothing where its output should be. Said, so that the
 * moves are rolled back and the task runs.
 */
async function danglingOutput(root: string, links: { member: string; target: string }[]): Promise<string | null> {
  for (const { member, target } of links) {
    if (await stat(join(root, member)).catch(() => null)) continue;
    return `the output ${member} is a symlink to ${target}, which neither the archive nor ${root} holds`;
  }
  return null;
}

/** Rolls the moves back (and the modes opened for them); what the root holds now, for the message. */
async function undone(moving: Moving): Promise<string> {
  const whole = await rollBack(moving);
  await moving.access.restore();
  return whole ? "nothing was restored, the old outputs are in place" : "outputs are partly restored";
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

/**
 * The declared outputs the archive holds, to be replaced whole: not the root
 * itself ("."), not one inside another (the outer one covers it), not one
 * holding the staging directory.
 */
async function replacedOutputs(
  tree: string,
  outputs: string[],
  realRoot: string,
  realTmp: string,
): Promise<Set<string>> {
  const held: string[] = [];
  for (const member of outputs) {
    if (member === "." || !(await lstat(join(tree, member)).catch(() => null))) continue;
    if (isInside(realTmp, join(realRoot, member))) continue;
    held.push(member);
  }
  return new Set(held.filter((m) => !held.some((other) => m.startsWith(`${other}/`))));
}

interface Plan {
  meta: Map<string, EntryMeta>;
  realRoot: string;
  replaced: Set<string>;
  /** Each moves `from` (staged) to `to` (in the root); whatever is at `to` is moved aside first. */
  moves: { from: string; to: string; rel: string }[];
}

interface Moving {
  /** Where what a move replaces goes (inside the staging directory). */
  aside: string;
  /** Moves made, in order, with where their target's old content went: for rolling back. */
  done: { to: string; displaced: string | null; lost?: boolean }[];
  /** Read-only directories opened for the moves (write-access.ts). */
  access: WriteAccess;
  /** The members moved in by a rename, whole: what is below them is exactly what extraction made. */
  renamed: Set<string>;
}

async function planMoves(plan: Plan, src: string, dst: string, rel: string): Promise<void> {
  for (const name of (await readdir(src)).sort()) {
    const from = join(src, name);
    const to = join(dst, name);
    const r = rel ? `${rel}/${name}` : name;
    const [s, d] = await Promise.all([lstat(from), lstat(to).catch(() => null)]);
    if (!d || plan.replaced.has(r)) {
      plan.moves.push({ from, to, rel: r });
    } else if (s.isDirectory() && d.isDirectory()) {
      await planMoves(plan, from, to, r);
    } else if (s.isDirectory() && d.isSymbolicLink() && plan.meta.get(r)?.type !== "Directory") {
      // The archive only implies this directory (a member "a/b" without "a/"),
      // and the root has a symlink there. GNU tar writes through it; so do we,
      // but only while it stays inside the cache root.
      const target = await realpath(to).catch(() => null);
      const isDir = target !== null && (await stat(target)).isDirectory();
      if (!isDir || !isInside(target, plan.realRoot)) {
        throw new ArchiveError(`${to} is a symlink that leads outside the cache root; not restoring through it`);
      }
      await planMoves(plan, from, to, r);
    } else {
      // A file or symlink over one, or a directory where a file is (or the reverse).
      plan.moves.push({ from, to, rel: r });
    }
  }
}

async function execute(move: Plan["moves"][number], plan: Plan, moving: Moving): Promise<void> {
  let displaced: string | null = null;
  if (await lstat(move.to).catch(() => null)) {
    displaced = join(moving.aside, String(moving.done.length));
    try {
      // A directory that changes parent needs write permission on itself (its "..") and both parents.
      await moving.access.retry([dirname(move.to), move.to], () => rename(move.to, displaced!));
    } catch (e) {
      if (!hasCode(e, "EBUSY", "EXDEV") || !(await isDirectory(move.to)) || !(await isDirectory(move.from))) throw e;
      // A mount point (a volume for node_modules, say) cannot be moved: it
      // stays, emptied, and the archive's copy is merged into it.
      for (const name of await readdir(move.to)) await rm(join(move.to, name), { recursive: true, force: true });
      moving.done.push({ to: move.to, displaced: null, lost: true });
      const inner: Plan = { ...plan, replaced: new Set(), moves: [] };
      await planMoves(inner, move.from, move.to, move.rel);
      for (const m of inner.moves) await execute(m, inner, moving);
      return;
    }
  }
  try {
    await moving.access.retry([dirname(move.to)], () => rename(move.from, move.to));
    moving.renamed.add(move.rel);
  } catch (e) {
    if (hasCode(e, "ENOTEMPTY", "EEXIST")) {
      // Another task restoring into the same root created this directory
      // since we looked: merge into it instead.
      if (displaced) await rename(displaced, move.to);
      const inner: Plan = { ...plan, replaced: new Set(), moves: [] };
      await planMoves(inner, move.from, move.to, move.rel);
      for (const m of inner.moves) await execute(m, inner, moving);
      return;
    }
    if (!hasCode(e, "EXDEV")) {
      if (displaced) await rename(displaced, move.to);
      throw e;
    }
    // A mount point inside the cache root: copy across it.
    await cp(move.from, move.to, { recursive: true, force: true, preserveTimestamps: true, verbatimSymlinks: true });
  }
  moving.done.push({ to: move.to, displaced });
}

/** Undoes the moves made, last first. True when the root is as it was. */
async function rollBack(moving: Moving): Promise<boolean> {
  let whole = true;
  for (const { to, displaced, lost } of moving.done.reverse()) {
    if (lost) {
      whole = false; // an emptied mount point: its old content is gone
      continue;
    }
    try {
      await rm(to, { recursive: true, force: true });
      if (displaced) await rename(displaced, to);
    } catch {
      whole = false;
    }
  }
  return whole;
}

function hasCode(e: unknown, ...codes: string[]): boolean {
  return codes.includes((e as NodeJS.ErrnoException).code ?? "");
}

async function isDirectory(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => null))?.isDirectory() ?? false;
}

/**
 * Modes exactly as archived (less setuid/setgid), not narrowed by the umask:
 * the outputs should be what the build made, as GNU tar does for root. Then
 * directory mtimes, deepest first, since moving members in touched them, and
 * symlink mtimes, as GNU tar does. A directory that mkdir already made with
 * its mode (modeMade) keeps it, if it came in with a member moved in whole
 * (`renamed`); one merged into the root's, or copied, gets its chmod.
 * Synchronous: one call per directory of a node_modules (thousands), where a
 * thread-pool trip and a promise each cost more than the call itself.
 */
async function reapplyMeta(root: string, meta: Map<string, EntryMeta>, renamed: Set<string>): Promise<string[]> {
  const notes: string[] = [];
  const byDepth = [...meta.entries()].map(([rel, m]) => ({ rel, m, depth: depth(rel) }));
  byDepth.sort((a, b) => b.depth - a.depth);
  for (const { rel, m } of byDepth) {
    const path = rel ? join(root, rel) : root;
    try {
      if (m.type === "SymbolicLink") {
        if (m.mtime) lutimesNow(path, m.mtime, m.mtime);
        continue;
      }
      if (!m.modeMade || !movedWhole(rel, renamed)) chmodNow(path, m.mode & 0o7777);
      if (m.type === "Directory" && m.mtime) utimesNow(path, m.mtime, m.mtime);
    } catch (e) {
      notes.push(`could not set mode/mtime of ${path}: ${(e as Error).message}`);
    }
  }
  return notes;
}

/** Whether `rel` is, or is inside, a member moved in by a rename (not merged into what the root had, not copied). */
function movedWhole(rel: string, renamed: Set<string>): boolean {
  for (let r = rel; r !== ""; r = r.slice(0, Math.max(0, r.lastIndexOf("/")))) if (renamed.has(r)) return true;
  return false;
}

function depth(rel: string): number {
  if (rel === "") return -1;
  let n = 1;
  for (let i = rel.indexOf("/"); i >= 0; i = rel.indexOf("/", i + 1)) n++;
  return n;
}
