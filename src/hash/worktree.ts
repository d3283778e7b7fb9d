// What `git add <pathspecs>` would do to (a copy of) the index, worked out
// in-process for the fast route:
//  - a tracked file whose stat data still matches its index entry, and is not
//    "racily clean", keeps the index's blob id — git add does not re-read it;
//  - a changed, touched or racy one is read and its blob id computed; a
//    deleted one is dropped;
//  - untracked files the pathspecs match, minus ignored ones, are added
//    (walk.ts finds them).
// Anything it cannot vouch for throws Fallback (the caller takes git's route).
//
// A wildcard pathspec ('pkg0*', 'src/*.ts') means two things in the old
// pipeline: `git add` matches it as a glob, but `git ls-tree` takes every
// pathspec literally (ls-tree.c turns wildcards off), so the listing holds only
// paths named 'pkg0*' or below 'pkg0*/' — usually none. The files the glob
// matches still go through git add, whose failures (an unreadable file, a
// nested repository) fail the old pipeline: they are checked all the same.
//
// This runs once per task, often before the JIT has warmed up, over thousands
// of entries: the hot loops work on index positions and byte buffers, and
// make no object per clean entry.
import { Conversions, ConversionUnsure } from "./attributes";
import { git, type GitEnv } from "./git";
import { IgnoreRules, Unsure, wildmatch } from "./ignore";
import { type IndexFile, parseIndex } from "./index-file";
import { native, S_IFLNK, S_IFMT, S_IFREG, type Stat } from "./native";
import {
  bytes,
  type Config,
  configBool,
  userGitFile,
  environmentIsPlain,
  findRepo,
  parseConfigList,
  readConfig,
  type Repo,
  unsupportedConfig,
} from "./repo";

export class Fallback extends Error {}

/** Rethrows the "cannot tell" of a helper as a Fallback. */
export function unsure(e: unknown): never {
  if (e instanceof Unsure || e instanceof ConversionUnsure) throw new Fallback(e.message);
  throw e;
}

export interface Spec {
  path: string; // root-relative, bytes as latin1 ("" = the whole tree); what ls-tree matches, literally
  raw: Uint8Array;
  dirOnly: boolean; // written with a trailing "/" (or "." / ".."): matches below it only
  isDir: boolean; // tracked entries lie below it (it is not only a file of that name)
  glob: Glob | null; // a wildcard pathspec: what git add matches besides the literal path
}

export interface Glob {
  /** Bytes before the first wildcard (git's nowildcard_len): every match starts with them. */
  literal: number;
  /** The pattern is those bytes and then only "*": every path starting with them matches. */
  anyTail: boolean;
}

export interface Context {
  repo: Repo;
  config: Config;
  index: IndexFile;
  specs: Spec[];
  /** Index positions of the tracked entries ls-tree lists (the literal matches), sorted. */
  listed: Int32Array;
  /** Index positions git add and git status look at: `listed` and what the wildcards match, sorted. */
  added: Int32Array;
  rootPrefix: Uint8Array; // "<root>/"
  /** The environment git would run with (git.ts GitEnv). */
  env: GitEnv;
}

export interface Blob {
  path: Uint8Array;
  mode: number;
  sha: string;
}

// Literal pathspecs: no magic (":"), nothing git would parse as an option
// ("-"), no wildcard or escape (git's glob specials * ? [ \).
const LITERAL = /^[^:\-*?[\\][^*?[\\]*$/;
// Wildcard pathspecs the fast route matches as git does: no magic, no option,
// no backslash (an escape for git add, a plain byte for ls-tree).
const GLOB = /^[^:\-\\][^\\]*$/;

export const latin1 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
const fromLatin1 = (s: string) => Buffer.from(s, "latin1");

function resolveSpec(prefix: string, spec: string): Pick<Spec, "path" | "raw" | "dirOnly"> {
  const parts: string[] = [];
  for (const part of `${prefix}${spec}`.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length === 0) throw new Fallback(`${spec} is outside the repository`);
      parts.pop();
    } else parts.push(part);
  }
  const raw = bytes(parts.join("/"));
  return { path: latin1(raw), raw, dirOnly: /(^|\/)(\.\.?)?$/.test(spec) };
}

/** Position of the first glob special (* ? [) in raw, or -1. */
function firstWildcard(raw: Uint8Array): number {
  for (let i = 0; i < raw.length; i++) if (raw[i] === 42 || raw[i] === 63 || raw[i] === 91) return i;
  return -1;
}

/**
 * The entries a wildcard matches as git add's pathspec does: the glob (where `*` also matches "/"), or the literal
 * path.
 */
function globMatches(index: IndexFile, raw: Uint8Array, glob: Glob, literal: Int32Array): Int32Array {
  const [lo, hi] = index.prefixRange(raw.subarray(0, glob.literal));
  const out = new Int32Array(hi - lo);
  let k = 0;
  for (let i = lo; i < hi; i++) {
    if (glob.anyTail) out[k++] = i;
    else {
      const start = index.pathStart(i);
      if (wildmatch(raw, index.paths.subarray(start, start + index.pathLength(i)), false)) out[k++] = i;
    }
  }
  return union([out.subarray(0, k), literal], index.count);
}

/** The index positions in any of the lists, each once, in order (bound: the index's entry count). */
function union(lists: Int32Array[], bound: number): Int32Array {
  if (lists.length === 1) return lists[0];
  const seen = new Uint8Array(bound);
  let lo = bound;
  let hi = -1;
  let count = 0;
  for (const l of lists) {
    for (let k = 0; k < l.length; k++) {
      const x = l[k];
      if (seen[x]) continue;
      seen[x] = 1;
      count++;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
  }
  const out = new Int32Array(count);
  for (let i = lo, k = 0; i <= hi; i++) if (seen[i]) out[k++] = i;
  return out;
}

export async function prepare(cwd: string, pathspecs: string[], env: GitEnv): Promise<Context> {
  if (!environmentIsPlain(env)) throw new Fallback("GIT_* environment variables");
  if (pathspecs.length === 0) throw new Fallback("no pathspecs");
  for (const p of pathspecs)
    if (!LITERAL.test(p) && !GLOB.test(p))
      throw new Fallback(`pathspec ${JSON.stringify(p)} is not a literal path or a plain wildcard`);
  if (!native()) throw new Fallback("no native file-system bindings on this platform");
  const repo = findRepo(cwd);
  if (!repo) throw new Fallback("repository not found in-process");

  let config = readConfig(repo, env);
  if (!config) {
    // Includes or unusual syntax: git says what the configuration is.
    const r = await git(repo.root, ["config", "-l", "-z"], env);
    if (r.code !== 0) throw new Fallback("git config failed");
    config = parseConfigList(Buffer.from(r.stdout).toString("utf8"));
  }
  const why = unsupportedConfig(config);
  if (why) throw new Fallback(`config ${why}`);

  const index = readIndex(repo);
  const specs: Spec[] = [];
  const listed: Int32Array[] = [];
  const added: Int32Array[] = [];
  for (const p of pathspecs) {
    const s = resolveSpec(repo.prefix, p);
    const hits = index.matching(s.raw, s.dirOnly);
    // Sorted: entries below the path come after the one named by it.
    const isDir = hits.length > 0 && index.pathLength(hits[hits.length - 1]) > s.raw.length;
    // ".." may have removed the wildcard ("a*/../b" is "b").
    const wildcard = firstWildcard(s.raw);
    let glob: Glob | null = null;
    let matched = hits;
    if (wildcard >= 0) {
      if (s.dirOnly) throw new Fallback(`wildcard pathspec ${JSON.stringify(p)} ends in "/"`);
      let anyTail = true;
      for (let i = wildcard; i < s.raw.length; i++) if (s.raw[i] !== 42) anyTail = false;
      glob = { literal: wildcard, anyTail };
      try {
        matched = globMatches(index, s.raw, glob, hits);
      } catch (e) {
        unsure(e);
      }
    }
    // No tracked file: the pathspec may name untracked files only, or nothing (an error git words).
    if (matched.length === 0) throw new Fallback(`pathspec ${p} matches no tracked file`);
    specs.push({ ...s, isDir, glob });
    listed.push(hits);
    added.push(matched);
  }
  const listedAll = union(listed, index.count);
  const addedAll = specs.some((s) => s.glob) ? union(added, index.count) : listedAll;
  const ctx: Context = {
    repo,
    config,
    index,
    specs,
    listed: listedAll,
    added: addedAll,
    rootPrefix: bytes(`${repo.root}/`),
    env,
  };
  for (let k = 0; k < addedAll.length; k++) {
    const i = addedAll[k];
    if (index.stage(i) !== 0) throw new Fallback("unmerged entries");
    if (index.special(i)) throw new Fallback("assume-unchanged, skip-worktree or intent-to-add entries");
    if (index.mode(i) === 0o160000) throw new Fallback("submodules");
  }
  return ctx;
}

// The last index parsed, by the identity of its file: a task asks for its hash and
// then for uncommitted changes, and a 10,000-entry index is worth reading once.
let lastIndex: { key: string; index: IndexFile } | null = null;

function readIndex(repo: Repo): IndexFile {
  const n = native()!;
  const path = bytes(`${repo.gitDir}/index`);
  const before = n.lstat(path);
  if (!before) throw new Fallback("no index file");
  const key =
    `${repo.gitDir}\0${before.mtimeSec}.${before.mtimeNsec}\0` +
    `${before.ctimeSec}.${before.ctimeNsec}\0${before.size}\0${before.ino}`;
  if (lastIndex?.key === key) return lastIndex.index;
  const data = n.readFile(path, before.size);
  const after = n.lstat(path);
  if (
    !data ||
    !after ||
    after.mtimeNsec !== before.mtimeNsec ||
    after.mtimeSec !== before.mtimeSec ||
    after.ino !== before.ino ||
    after.size !== data.length
  ) {
    throw new Fallback("index rewritten while being read");
  }
  const index = parseIndex(data, before.mtimeSec);
  if (typeof index === "string") throw new Fallback(index);
  if (index.unsupported) throw new Fallback(index.unsupported);
  lastIndex = { key, index };
  return index;
}

function absolute(ctx: Context, rel: Uint8Array): Uint8Array {
  const out = new Uint8Array(ctx.rootPrefix.length + rel.length);
  out.set(ctx.rootPrefix);
  out.set(rel, ctx.rootPrefix.length);
  return out;
}

export function worktreeMode(st: Stat): number | null {
  const type = st.mode & S_IFMT;
  if (type === S_IFREG) return st.mode & 0o100 ? 0o100755 : 0o100644;
  if (type === S_IFLNK) return 0o120000;
  return null;
}

function blobId(content: Uint8Array): string {
  return new Bun.CryptoHasher("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");
}

// Blob ids of files re-read, by path and stat data: hashing a task's inputs and then
// checking them for uncommitted changes reads a stale file once, not twice. Only files
// last changed before the second they were read are remembered — git's own rule for
// trusting stat data ("racy git"): a later rewrite, even of the same size, shows.
const blobMemo = new Map<string, string>();

/** The blob `git add` would store for the file at path (a regular file or symlink). */
export function hashFile(ctx: Context, conv: Conversions, path: Uint8Array, mode: number, st: Stat): Blob {
  const key =
    `${latin1(ctx.rootPrefix)}${latin1(path)}\0${mode}\0${st.mtimeSec}.${st.mtimeNsec}\0` +
    `${st.ctimeSec}.${st.ctimeNsec}\0${st.size}\0${st.ino}`;
  const known = blobMemo.get(key);
  if (known) return { path, mode, sha: known };
  const n = native()!;
  const now = Math.floor(Date.now() / 1000);
  const full = absolute(ctx, path);
  const content = mode === 0o120000 ? n.readlink(full) : n.readFile(full, st.size);
  if (!content) throw new Fallback(`${latin1(path)} changed while being hashed`);
  if (mode !== 0o120000) conv.check(latin1(path), content);
  const sha = blobId(content);
  if (st.mtimeSec < now && st.ctimeSec < now) {
    if (blobMemo.size > 100_000) blobMemo.clear();
    blobMemo.set(key, sha);
  }
  return { path, mode, sha };
}

export function conversions(ctx: Context): Conversions {
  return new Conversions(ctx.repo, ctx.config, (p) => ctx.index.matching(fromLatin1(p), false).length > 0, ctx.env);
}

/**
 * What git add makes of tracked entry i whose file lstat gave st: undefined
 * when the index entry still holds (its stat data matches), else the blob.
 */
export function afterAdd(ctx: Context, conv: Conversions, i: number, st: Stat): Blob | undefined {
  const { index } = ctx;
  const mode = worktreeMode(st);
  if (mode === index.mode(i) && index.statClean(i, st)) return undefined;
  const start = index.pathStart(i);
  const path = index.paths.subarray(start, start + index.pathLength(i));
  if (mode === null) throw new Fallback(`${latin1(path)} is no longer a file`);
  return hashFile(ctx, conv, path, mode, st);
}

/**
 * The tracked entries at `positions` (default: all git add looks at) whose files
 * no longer match their index entries: position → the blob git add would store,
 * or null when the file is gone. Every other entry keeps the index's mode and
 * blob id. (walk.ts does the same for the entries it meets in a directory.)
 */
export function trackedAfterAdd(ctx: Context, conv: Conversions, positions = ctx.added): Map<number, Blob | null> {
  const n = native()!;
  const { index, rootPrefix } = ctx;
  const paths = index.paths;
  const checkedDirs = new Set<string>();
  let prevStart = 0;
  let prevDirLen = -1;
  const changed = new Map<number, Blob | null>();
  for (let k = 0; k < positions.length; k++) {
    const i = positions[k];
    const start = index.pathStart(i);
    const end = start + index.pathLength(i);
    let slash = end - 1;
    while (slash > start && paths[slash] !== 47) slash--;
    const dirLen = slash - start;
    // Entries come sorted: a directory's files follow one another, so its leading
    // directories are looked at when it changes, not once per file.
    let sameDir = dirLen === prevDirLen;
    for (let d = 0; sameDir && d < dirLen; d++) if (paths[start + d] !== paths[prevStart + d]) sameDir = false;
    if (!sameDir && dirLen > 0) {
      // git treats a path below a symbolic link as gone; rather than follow it there, fall back.
      const dir = latin1(paths.subarray(start, slash));
      for (let d = dir.indexOf("/"); ; d = dir.indexOf("/", d + 1)) {
        const lead = d < 0 ? dir : dir.slice(0, d);
        if (!checkedDirs.has(lead)) {
          checkedDirs.add(lead);
          const st = n.lstat(absolute(ctx, fromLatin1(lead)));
          if (st && (st.mode & S_IFMT) === S_IFLNK) throw new Fallback(`${lead} is a symbolic link`);
        }
        if (d < 0) break;
      }
    }
    prevStart = start;
    prevDirLen = dirLen;
    const st = n.lstatAt(rootPrefix, paths, start, end);
    const b = st ? afterAdd(ctx, conv, i, st) : null;
    if (b !== undefined) changed.set(i, b);
  }
  return changed;
}

export function ignoreRules(ctx: Context): IgnoreRules {
  const n = native()!;
  const user = userGitFile(ctx.config, "core.excludesfile", "ignore", ctx.env);
  if (user === "relative") throw new Fallback("core.excludesFile is not an absolute path");
  const files = [n.readFile(bytes(`${ctx.repo.commonDir}/info/exclude`)), user ? n.readFile(bytes(user)) : null];
  return new IgnoreRules(ctx.repo.root, files, configBool(ctx.config, "core.ignorecase") === true);
}

/** The directory a wildcard spec's matches lie in: its literal part up to the last "/" ("" = the root). */
export function globDir(s: Spec): string {
  const literal = s.path.slice(0, s.glob!.literal);
  return literal.slice(0, Math.max(0, literal.lastIndexOf("/")));
}

/** git add fails when a pathspec is, or lies below, an ignored directory — tracked files or not. */
export function checkSpecsNotIgnored(ctx: Context, ignore: IgnoreRules): void {
  for (const s of ctx.specs) {
    const dirs = s.glob ? globDir(s) : s.isDir ? s.path : s.path.slice(0, Math.max(0, s.path.lastIndexOf("/")));
    if (dirs && ignore.excludedOnTheWay(dirs, true))
      throw new Fallback(`pathspec ${s.path} is in an ignored directory`);
  }
}
