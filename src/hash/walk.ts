// The work-tree walk of the fast route: what `git add <pathspecs>` would find
// below each directory pathspec, and for a wildcard below its literal
// directory — tracked files whose stat data changed (to re-read), and files
// that are neither tracked nor ignored (to add). dir.c's walk, in one pass.
//
// A directory is opened once (openat without following a symbolic link: git
// treats a path below one as gone), listed once, and each name is looked up in
// the index by binary search over the sorted entries below the directory; a
// tracked file git add looks at is then stat'ed by name from the open
// directory. For the common case — folders of tracked files — that is one
// openat, one listing and one fstatat per file, and no string per file.
// Tracked entries the walk does not reach (file pathspecs, deleted files,
// files below ignored or vanished folders) are stat'ed by path afterwards.
import type { Conversions } from "./attributes";
import type { IgnoreRules } from "./ignore";
import { wildmatch } from "./ignore";
import { CHILD_DIR } from "./index-file";
import {
  DT_DIR,
  DT_LNK,
  DT_REG,
  DT_UNKNOWN,
  type DirList,
  entryName,
  GONE,
  native,
  NOT_DIR,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  type Stat,
  SYMLINK,
} from "./native";
import { configBool } from "./repo";
import { RESTORE_STAGING_PREFIX } from "../sys/paths";
import {
  afterAdd,
  type Blob,
  type Context,
  Fallback,
  globDir,
  hashFile,
  latin1,
  type Spec,
  trackedAfterAdd,
  worktreeMode,
} from "./worktree";

export interface Walked {
  /** Tracked entries git add looks at whose files changed: position → the blob git add would store, or null (gone). */
  changed: Map<number, Blob | null>;
  /** Untracked, not ignored files ls-tree would list (below a literal pathspec), in no particular order. */
  untracked: Blob[];
}

/**
 * Names git's verify_path rejects (core.protectNTFS and protectHFS are on by
 * default): ".git" or "git~1" followed by dots or spaces, also with Unicode
 * ignorables inside, and a symbolic link named like .gitmodules.
 */
function refusedName(path: string, symlink: boolean): boolean {
  for (const c of path.split("/")) {
    const ascii = c.replace(/[\x80-\xff]/g, "").toLowerCase();
    if (/^(\.git|git~1)[. ]*(:.*)?$/.test(ascii) || (symlink && /^(\.gitmodules|gitmod~)/.test(ascii))) return true;
  }
  return false;
}

const fromLatin1 = (s: string) => Buffer.from(s, "latin1");
const DOT_GIT = fromLatin1(".git");
const DOT = fromLatin1(".");
const STAGING = fromLatin1(RESTORE_STAGING_PREFIX);
/** ".git", or a restore's staging folder: never an input (reference.ts excludes it from git add alike). */
const skipped = (l: DirList, i: number) => {
  const o = l.start[i];
  const n = l.len[i];
  const d = l.data;
  if (d[o] !== 46) return false;
  if (n === 4 && d[o + 1] === 103 && d[o + 2] === 105 && d[o + 3] === 116) return true;
  if (n < STAGING.length) return false;
  for (let k = 1; k < STAGING.length; k++) if (d[o + k] !== STAGING[k]) return false;
  return true;
};

/** A wildcard spec being walked: its literal part, which every path it reaches agrees with. */
interface Filter {
  spec: Spec;
  literal: Uint8Array;
}

// Listings of large directories, kept across calls: the tasks of one build walk
// the same folders (a wildcard's base, shared sources, the check after a task
// ran). A directory's mtime and ctime change whenever an entry is added, removed
// or renamed in it, so a listing is used again while they and its inode are as
// they were — and only kept when neither had moved for a second before it was
// read: a change within the same clock tick could leave them as they were.
const MEMO_MIN_ENTRIES = 64;
const MEMO_MAX_BYTES = 32 << 20;
const listings = new Map<string, { st: Stat; list: DirList }>();
let listingBytes = 0;
const sameDir = (a: Stat, b: Stat) =>
  a.ino === b.ino &&
  a.dev === b.dev &&
  a.mtimeSec === b.mtimeSec &&
  a.mtimeNsec === b.mtimeNsec &&
  a.ctimeSec === b.ctimeSec &&
  a.ctimeNsec === b.ctimeNsec;

function listDir(fd: number, key: string): DirList {
  const n = native()!;
  const memo = listings.get(key);
  if (memo) {
    if (sameDir(n.fstat(fd), memo.st)) return memo.list;
    listings.delete(key);
    listingBytes -= memo.list.data.length;
  }
  const readAt = Date.now();
  const list = n.list(fd);
  if (list.count >= MEMO_MIN_ENTRIES) {
    // Stat'ed after the listing: timestamps older than its start mean nothing changed during it either.
    const st = n.fstat(fd);
    const settled = (sec: number, nsec: number) => sec * 1000 + nsec / 1e6 < readAt - 1000;
    if (settled(st.mtimeSec, st.mtimeNsec) && settled(st.ctimeSec, st.ctimeNsec)) {
      if (listingBytes + list.data.length > MEMO_MAX_BYTES) {
        listings.clear();
        listingBytes = 0;
      }
      listings.set(key, { st, list });
      listingBytes += list.data.length;
    }
  }
  return list;
}

// Per index position, whether git add looks at it, and whether the walk did.
const TO_STAT = 1;
const STATED = 2;

/** The tracked paths git add looks at, lower-cased, made on first use. */
function foldedPaths(ctx: Context): () => Set<string> {
  const { index, added } = ctx;
  let folded: Set<string> | null = null;
  return () => {
    if (!folded) {
      folded = new Set();
      for (let k = 0; k < added.length; k++) {
        const start = index.pathStart(added[k]);
        folded.add(latin1(index.paths.subarray(start, start + index.pathLength(added[k]))).toLowerCase());
      }
    }
    return folded;
  };
}

/**
 * Where the walk starts: each literal directory pathspec once (not one inside another), and each wildcard's directory.
 */
function walkRoots(specs: Context["specs"]): [string, Filter | null][] {
  const walked: string[] = [];
  for (const s of specs) {
    if (s.glob || !s.isDir) continue;
    let covered = false;
    for (const w of walked) if (w === "" || w === s.path || s.path.startsWith(`${w}/`)) covered = true;
    if (covered) continue;
    for (let i = walked.length - 1; i >= 0; i--)
      if (s.path === "" || walked[i].startsWith(`${s.path}/`)) walked.splice(i, 1);
    walked.push(s.path);
  }
  const roots: [string, Filter | null][] = walked.map((w) => [w, null]);
  for (const s of specs) if (s.glob) roots.push([globDir(s), { spec: s, literal: s.raw.subarray(0, s.glob.literal) }]);
  return roots;
}

/**
 * Opens dir below the open top (rootFd) component by component, refusing symbolic links: a descriptor, or null when it
 * is gone.
 */
function openPath(n: NonNullable<ReturnType<typeof native>>, rootFd: number, dir: string): number | null {
  const parts = dir.split("/");
  let fd = rootFd;
  for (let k = 0; k < parts.length; k++) {
    let sub: number;
    try {
      sub = n.openDir(fd, fromLatin1(parts[k]));
    } finally {
      if (fd !== rootFd) n.close(fd);
    }
    const path = parts.slice(0, k + 1).join("/");
    if (sub === SYMLINK) throw new Fallback(`${path} is a symbolic link`);
    // A directory pathspec whose directory became a file: git add would add that file.
    if (sub === NOT_DIR && k === parts.length - 1) throw new Fallback(`${path} is no longer a directory`);
    if (sub === GONE || sub === NOT_DIR) return null;
    fd = sub;
  }
  return fd;
}

/** The tracked entries git add looks at that no directory walked met: stat'ed by path. */
function statTheRest(ctx: Context, conv: Conversions, state: Uint8Array, changed: Map<number, Blob | null>): void {
  const { added } = ctx;
  let left = 0;
  for (let k = 0; k < added.length; k++) if (state[added[k]] === TO_STAT) left++;
  if (left === 0) return;
  const rest = new Int32Array(left);
  let j = 0;
  for (let k = 0; k < added.length; k++) if (state[added[k]] === TO_STAT) rest[j++] = added[k];
  for (const [i, b] of trackedAfterAdd(ctx, conv, rest)) changed.set(i, b);
}

/** What the walk does with an untracked file it meets: hashed into found (listed or not), or a Fallback. */
function untrackedAdder(
  ctx: Context,
  conv: Conversions,
  ignore: IgnoreRules,
  found: Map<string, { blob: Blob; listed: boolean }>,
) {
  // On macOS git may see decomposed names from readdir as the composed ones it tracks.
  const precompose = configBool(ctx.config, "core.precomposeunicode") === true;
  const ignoreCase = configBool(ctx.config, "core.ignorecase") === true;
  const foldedTracked = foldedPaths(ctx);
  return (child: string, kind: number, st: Stat, filter: Filter | null) => {
    const raw = fromLatin1(child);
    // git add fails on an ignored path that is a wildcard's literal part ("pkg0" for
    // 'pkg0?'), whether the wildcard matches it or not.
    if (filter && raw.length === filter.literal.length && ignore.excluded(child, false))
      throw new Fallback(`${child} is ignored and named by a pathspec`);
    // A wildcard spec: git add takes what the glob matches, or what lies at or below
    // its literal path (which is also all ls-tree lists).
    let listed = filter === null;
    if (filter) {
      const s = filter.spec;
      listed = child === s.path || child.startsWith(`${s.path}/`);
      if (!listed && !wildmatch(s.raw, raw, false)) return;
    }
    if (ignore.excluded(child, false)) return;
    const seen = found.get(child);
    if (seen) {
      seen.listed ||= listed;
      return;
    }
    if (refusedName(child, kind === DT_LNK)) throw new Fallback(`git add refuses the name ${child}`);
    if (ignoreCase && foldedTracked().has(child.toLowerCase()))
      throw new Fallback(`${child} differs from a tracked path only by case`);
    if (precompose && /[\x80-\xff]/.test(child))
      throw new Fallback(`${child}: non-ASCII name with core.precomposeUnicode`);
    found.set(child, { blob: hashFile(ctx, conv, raw, worktreeMode(st)!, st), listed });
  };
}

/**
 * Files ls-tree would list that are untracked are hashed and returned; files
 * only a wildcard matches are hashed too — git add reads them, and fails where
 * they cannot be read — but not listed.
 */
export function walkWorktree(ctx: Context, conv: Conversions, ignore: IgnoreRules): Walked {
  const n = native()!;
  const { index, added } = ctx;
  const state = new Uint8Array(index.count);
  for (let k = 0; k < added.length; k++) state[added[k]] = TO_STAT;
  const changed = new Map<number, Blob | null>();
  const found = new Map<string, { blob: Blob; listed: boolean }>();

  const addUntracked = untrackedAdder(ctx, conv, ignore, found);

  const rootKey = latin1(ctx.rootPrefix);
  /**
   * Walks the open directory fd (closing it): dir is root-relative ("" = the root);
   * [lo, hi) the index entries below it; untracked: none are.
   */
  const walk = (fd: number, dir: string, lo: number, hi: number, filter: Filter | null, untracked = false) => {
    try {
      // An untracked directory holding a repository: git add would add it as a gitlink.
      if (untracked && n.statAt(fd, DOT_GIT, 0, DOT_GIT.length)) throw new Fallback(`${dir} is a nested repository`);
      const list = listDir(fd, `${rootKey}${dir}`);
      const base = dir === "" ? 0 : fromLatin1(dir).length + 1;
      const literal = filter?.literal;
      for (let i = 0; i < list.count; i++) {
        if (skipped(list, i)) continue;
        const start = list.start[i];
        const len = list.len[i];
        if (literal) {
          // dir.c's simplify_away: a name that disagrees with the pathspec's literal part cannot match.
          let agrees = true;
          for (let k = base, o = start; agrees && k < literal.length && o < start + len; k++, o++)
            if (list.data[o] !== literal[k]) agrees = false;
          if (!agrees) continue;
        }
        const tracked = index.child(lo, hi, base, list.data, start, len);
        let kind = list.type[i];
        if (tracked >= 0 && kind !== DT_DIR) {
          // A tracked file: stat'ed if git add looks at it (what d_type cannot say, the stat does).
          if (state[tracked] !== TO_STAT && kind !== DT_UNKNOWN) continue;
          const st = n.statAt(fd, list.data, start, start + len);
          if (state[tracked] === TO_STAT) {
            state[tracked] = STATED;
            const b = st ? afterAdd(ctx, conv, tracked, st) : null;
            if (b !== undefined) changed.set(tracked, b);
          }
          if (!st || (st.mode & S_IFMT) !== S_IFDIR) continue;
          kind = DT_DIR;
        }
        const child = dir === "" ? entryName(list, i) : `${dir}/${entryName(list, i)}`;
        // A tracked file the pathspecs may not name turned into a directory: what git
        // add makes of its contents is left to git.
        if (tracked >= 0) throw new Fallback(`${child} is no longer a file`);
        let st: Stat | null = null;
        if (kind !== DT_DIR) {
          st = n.statAt(fd, list.data, start, start + len);
          if (!st) continue;
          const t = st.mode & S_IFMT;
          kind = t === S_IFDIR ? DT_DIR : t === S_IFREG ? DT_REG : t === S_IFLNK ? DT_LNK : DT_UNKNOWN;
        }
        if (kind === DT_DIR) {
          // A directory the wildcard cannot reach below: its path and "/" disagree with the literal part.
          if (literal && base + len < literal.length && literal[base + len] !== 47) continue;
          if (ignore.excluded(child, true)) {
            if (literal && base + len === literal.length)
              throw new Fallback(`${child} is ignored and named by a pathspec`);
            continue;
          }
          const sub = n.openDir(fd, list.data, start, start + len);
          if (sub === SYMLINK) throw new Fallback(`${child} is a symbolic link`);
          if (sub < 0) continue; // gone since it was listed
          const below = tracked === CHILD_DIR ? index.prefixRange(fromLatin1(`${child}/`), lo, hi) : null;
          walk(sub, child, below?.[0] ?? lo, below?.[1] ?? lo, filter, below === null);
        } else if ((kind === DT_REG || kind === DT_LNK) && st) {
          addUntracked(child, kind, st, filter);
        }
        // Sockets, FIFOs, devices: git add skips them.
      }
    } finally {
      n.close(fd);
    }
  };

  const roots = walkRoots(ctx.specs);
  if (roots.length > 0) {
    const rootFd = n.openDir(null, ctx.rootPrefix);
    if (rootFd < 0) throw new Fallback("the work tree's top cannot be opened");
    try {
      for (const [dir, filter] of roots) {
        // The top itself is walked through a descriptor of its own: walk() closes what it walks.
        const fd = dir === "" ? n.openDir(rootFd, DOT) : openPath(n, rootFd, dir);
        if (fd === null || fd < 0) continue;
        const [lo, hi] = dir === "" ? [0, index.count] : index.prefixRange(fromLatin1(`${dir}/`));
        walk(fd, dir, lo, hi, filter);
      }
    } finally {
      n.close(rootFd);
    }
  }

  statTheRest(ctx, conv, state, changed);
  const untracked: Blob[] = [];
  for (const f of found.values()) if (f.listed) untracked.push(f.blob);
  return { changed, untracked };
}
