// What `git add <pathspecs>` would do to (a copy of) the index, worked out
// in-process for the fast route:
//  - a tracked file whose stat data still matches its index entry, and is not
//    "racily clean", keeps the index's blob id — git add does not re-read it;
//  - a changed, touched or racy one is read and its blob id computed; a
//    deleted one is dropped;
//  - untracked files below directory pathspecs, minus ignored ones, are added.
// Anything it cannot vouch for throws Fallback (the caller takes git's route).
//
// This runs once per task process, mostly before the JIT has warmed up: hot
// paths use plain loops rather than map/filter/sort/spread, whose first use in
// a fresh process costs more than the work itself.
import { Conversions } from "./attributes";
import { git } from "./git";
import { IgnoreRules } from "./ignore";
import { type IndexEntry, type IndexFile, parseIndex } from "./index-file";
import { DT_DIR, DT_LNK, DT_REG, DT_UNKNOWN, native, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, type Stat } from "./native";
import { bytes, type Config, configBool, userGitFile, environmentIsPlain, findRepo, parseConfigList, readConfig, type Repo, unsupportedConfig } from "./repo";
import { RESTORE_STAGING_PREFIX } from "../sys/paths";

export class Fallback extends Error {}

export interface Spec {
  path: string; // root-relative, bytes as latin1 ("" = the whole tree)
  raw: Uint8Array;
  dirOnly: boolean; // written with a trailing "/" (or "." / ".."): matches below it only
  isDir: boolean; // matches entries below it (not a file of that name)
}

export interface Context {
  repo: Repo;
  config: Config;
  index: IndexFile;
  specs: Spec[];
  entries: IndexEntry[]; // the tracked entries the pathspecs match, in index order
  rootPrefix: Uint8Array; // "<root>/"
}

export interface Blob {
  path: Uint8Array;
  mode: number;
  sha: string;
}

const EMPTY_BLOB = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";
// Literal pathspecs only: no magic (":"), nothing git would parse as an option
// ("-"), no wildcard or escape (git's glob specials * ? [ \).
const LITERAL = /^[^:\-*?[\\][^*?[\\]*$/;

export const latin1 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
const fromLatin1 = (s: string) => Buffer.from(s, "latin1");

function resolveSpec(prefix: string, spec: string): Omit<Spec, "isDir"> {
  const parts: string[] = [];
  for (const part of `${prefix}${spec}`.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length === 0) throw new Fallback(`${spec} is outside the repository`);
      parts.pop();
    } else parts.push(part);
  }
  const raw = Buffer.from(parts.join("/"), "utf8");
  return { path: latin1(raw), raw, dirOnly: /(^|\/)(\.\.?)?$/.test(spec) };
}

export async function prepare(cwd: string, pathspecs: string[]): Promise<Context> {
  if (!environmentIsPlain()) throw new Fallback("GIT_* environment variables");
  if (pathspecs.length === 0) throw new Fallback("no pathspecs");
  for (const p of pathspecs) if (!LITERAL.test(p)) throw new Fallback(`pathspec ${JSON.stringify(p)} is not a literal path`);
  if (!native()) throw new Fallback("no native file-system bindings on this platform");
  const repo = findRepo(cwd);
  if (!repo) throw new Fallback("repository not found in-process");

  let config = readConfig(repo);
  if (!config) {
    // Includes or unusual syntax: git says what the configuration is.
    const r = await git(repo.root, ["config", "-l", "-z"]);
    if (r.code !== 0) throw new Fallback("git config failed");
    config = parseConfigList(Buffer.from(r.stdout).toString("utf8"));
  }
  const why = unsupportedConfig(config);
  if (why) throw new Fallback(`config ${why}`);

  const index = readIndex(repo);
  const specs: Spec[] = [];
  let hitsOfAll: number[] = [];
  for (const p of pathspecs) {
    const s = resolveSpec(repo.prefix, p);
    const hits = index.matching(s.raw, s.dirOnly);
    // No tracked file: the pathspec may name untracked files only, or nothing (an error git words).
    if (hits.length === 0) throw new Fallback(`pathspec ${p} matches no tracked file`);
    let isDir = false;
    for (const i of hits) if (index.pathLength(i) > s.raw.length) isDir = true;
    specs.push({ ...s, isDir });
    hitsOfAll = specs.length === 1 ? hits : hitsOfAll.concat(hits);
  }
  if (specs.length > 1) hitsOfAll = uniqueSorted(hitsOfAll, index.count);
  const entries: IndexEntry[] = [];
  for (const i of hitsOfAll) {
    const e = index.entry(i);
    if (e.stage !== 0) throw new Fallback("unmerged entries");
    if (e.special) throw new Fallback("assume-unchanged, skip-worktree or intent-to-add entries");
    if (e.mode === 0o160000) throw new Fallback("submodules");
    entries.push(e);
  }
  return { repo, config, index, specs, entries, rootPrefix: bytes(`${repo.root}/`) };
}

function uniqueSorted(xs: number[], bound: number): number[] {
  const seen = new Uint8Array(bound);
  let lo = bound;
  let hi = -1;
  for (const x of xs) {
    seen[x] = 1;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  const out: number[] = [];
  for (let i = lo; i <= hi; i++) if (seen[i]) out.push(i);
  return out;
}

// The last index parsed, by the identity of its file: a task asks for its hash and
// then for uncommitted changes, and a 10,000-entry index is worth reading once.
let lastIndex: { key: string; index: IndexFile } | null = null;

function readIndex(repo: Repo): IndexFile {
  const n = native()!;
  const path = bytes(`${repo.gitDir}/index`);
  const before = n.lstat(path);
  if (!before) throw new Fallback("no index file");
  const key = `${repo.gitDir}\0${before.mtimeSec}.${before.mtimeNsec}\0${before.ctimeSec}.${before.ctimeNsec}\0${before.size}\0${before.ino}`;
  if (lastIndex?.key === key) return lastIndex.index;
  const data = n.readFile(path, before.size);
  const after = n.lstat(path);
  if (!data || !after || after.mtimeNsec !== before.mtimeNsec || after.mtimeSec !== before.mtimeSec || after.ino !== before.ino || after.size !== data.length) {
    throw new Fallback("index rewritten while being read");
  }
  const index = parseIndex(data, before.mtimeSec);
  if (typeof index === "string") throw new Fallback(index);
  if (index.unsupported) throw new Fallback(index.unsupported);
  lastIndex = { key, index };
  return index;
}

export function absolute(ctx: Context, rel: Uint8Array): Uint8Array {
  const out = new Uint8Array(ctx.rootPrefix.length + rel.length);
  out.set(ctx.rootPrefix);
  out.set(rel, ctx.rootPrefix.length);
  return out;
}

function worktreeMode(st: Stat): number | null {
  const type = st.mode & S_IFMT;
  if (type === S_IFREG) return st.mode & 0o100 ? 0o100755 : 0o100644;
  if (type === S_IFLNK) return 0o120000;
  return null;
}

/** The stat comparison of git's ie_match_stat, made stricter (nanoseconds always, any racy entry). */
function statClean(e: IndexEntry, st: Stat, indexMtimeSec: number): boolean {
  return (
    e.mtimeSec === st.mtimeSec >>> 0 &&
    e.mtimeNsec === st.mtimeNsec &&
    e.ctimeSec === st.ctimeSec >>> 0 &&
    e.ctimeNsec === st.ctimeNsec &&
    e.ino === st.ino >>> 0 &&
    e.uid === st.uid &&
    e.gid === st.gid &&
    e.size === st.size >>> 0 &&
    // Modified in the second the index was written: git re-reads it, so do we.
    e.mtimeSec < indexMtimeSec >>> 0 &&
    // A "smudged" entry (size 0 for a non-empty blob) is always re-read.
    !(e.size === 0 && e.sha !== EMPTY_BLOB)
  );
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
function hashFile(ctx: Context, conv: Conversions, path: Uint8Array, mode: number, st: Stat): Blob {
  const key = `${latin1(ctx.rootPrefix)}${latin1(path)}\0${mode}\0${st.mtimeSec}.${st.mtimeNsec}\0${st.ctimeSec}.${st.ctimeNsec}\0${st.size}\0${st.ino}`;
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
  return new Conversions(ctx.repo, ctx.config, (p) => ctx.index.matching(fromLatin1(p), false).length > 0);
}

/** Each matched tracked entry as git add would leave it: its blob, or null when deleted. */
export function trackedAfterAdd(ctx: Context, conv: Conversions): (Blob | null)[] {
  const n = native()!;
  const seenDirs = new Set<string>();
  const out: (Blob | null)[] = [];
  for (const e of ctx.entries) {
    // git treats a path below a symbolic link as gone; rather than follow it there, fall back.
    const path = latin1(e.path);
    for (let i = path.indexOf("/"); i >= 0; i = path.indexOf("/", i + 1)) {
      const dir = path.slice(0, i);
      if (seenDirs.has(dir)) continue;
      seenDirs.add(dir);
      const st = n.lstat(absolute(ctx, fromLatin1(dir)));
      if (st && (st.mode & S_IFMT) === S_IFLNK) throw new Fallback(`${dir} is a symbolic link`);
    }
    const st = n.lstat(absolute(ctx, e.path));
    if (!st) {
      out.push(null);
      continue;
    }
    const mode = worktreeMode(st);
    if (mode === null) throw new Fallback(`${path} is no longer a file`);
    if (mode === e.mode && statClean(e, st, ctx.index.mtimeSec)) out.push({ path: e.path, mode, sha: e.sha });
    else out.push(hashFile(ctx, conv, e.path, mode, st));
  }
  return out;
}

export function ignoreRules(ctx: Context): IgnoreRules {
  const n = native()!;
  const user = userGitFile(ctx.config, "core.excludesfile", "ignore");
  if (user === "relative") throw new Fallback("core.excludesFile is not an absolute path");
  const files = [n.readFile(bytes(`${ctx.repo.commonDir}/info/exclude`)), user ? n.readFile(bytes(user)) : null];
  return new IgnoreRules(ctx.repo.root, files, configBool(ctx.config, "core.ignorecase") === true);
}

/** git add fails when a pathspec is, or lies below, an ignored directory — tracked files or not. */
export function checkSpecsNotIgnored(ctx: Context, ignore: IgnoreRules): void {
  for (const s of ctx.specs) {
    const dirs = s.isDir ? s.path : s.path.slice(0, Math.max(0, s.path.lastIndexOf("/")));
    if (dirs && ignore.excludedOnTheWay(dirs, true)) throw new Fallback(`pathspec ${s.path} is in an ignored directory`);
  }
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

/** Untracked, not ignored files below the directory pathspecs, hashed (in walk order). */
export function untrackedFiles(ctx: Context, conv: Conversions, ignore: IgnoreRules): Blob[] {
  const n = native()!;
  const trackedFiles = new Set<string>();
  const trackedDirs = new Set<string>();
  for (const e of ctx.entries) {
    const p = latin1(e.path);
    trackedFiles.add(p);
    for (let i = p.indexOf("/"); i >= 0; i = p.indexOf("/", i + 1)) trackedDirs.add(p.slice(0, i));
  }
  // On macOS git may see decomposed names from readdir as the composed ones it tracks.
  const precompose = configBool(ctx.config, "core.precomposeunicode") === true;
  let folded: Set<string> | null = null;
  if (configBool(ctx.config, "core.ignorecase") === true) {
    folded = new Set();
    for (const p of trackedFiles) folded.add(p.toLowerCase());
  }
  const found: Blob[] = [];
  const walk = (dir: string) => {
    const list = n.readdir(absolute(ctx, fromLatin1(dir)));
    if (!list) return;
    for (const [nameBytes, type] of list) {
      const name = latin1(nameBytes);
      // A restore's staging folder is never an input (reference.ts excludes it alike).
      if (name === ".git" || name.startsWith(RESTORE_STAGING_PREFIX)) continue;
      const child = dir === "" ? name : `${dir}/${name}`;
      if (trackedFiles.has(child)) continue;
      let kind = type;
      let st: Stat | null = null;
      if (type !== DT_DIR) {
        st = n.lstat(absolute(ctx, fromLatin1(child)));
        if (!st) continue;
        const t = st.mode & S_IFMT;
        kind = t === S_IFDIR ? DT_DIR : t === S_IFREG ? DT_REG : t === S_IFLNK ? DT_LNK : DT_UNKNOWN;
      }
      if (kind === DT_DIR) {
        if (ignore.excluded(child, true)) continue;
        // An untracked directory holding a repository: git add would add it as a gitlink.
        if (!trackedDirs.has(child) && n.lstat(absolute(ctx, fromLatin1(`${child}/.git`)))) throw new Fallback(`${child} is a nested repository`);
        walk(child);
      } else if ((kind === DT_REG || kind === DT_LNK) && st) {
        if (ignore.excluded(child, false)) continue;
        if (refusedName(child, kind === DT_LNK)) throw new Fallback(`git add refuses the name ${child}`);
        if (folded?.has(child.toLowerCase())) throw new Fallback(`${child} differs from a tracked path only by case`);
        if (precompose && /[\x80-\xff]/.test(child)) throw new Fallback(`${child}: non-ASCII name with core.precomposeUnicode`);
        found.push(hashFile(ctx, conv, fromLatin1(child), worktreeMode(st)!, st));
      }
      // Sockets, FIFOs, devices: git add skips them.
    }
  };
  // Each directory pathspec once, not one inside another already walked.
  const walked: string[] = [];
  for (const s of ctx.specs) {
    if (!s.isDir) continue;
    let covered = false;
    for (const w of walked) if (w === "" || w === s.path || s.path.startsWith(`${w}/`)) covered = true;
    if (covered) continue;
    for (let i = walked.length - 1; i >= 0; i--) if (s.path === "" || walked[i].startsWith(`${s.path}/`)) walked.splice(i, 1);
    walked.push(s.path);
  }
  for (const w of walked) {
    // A directory pathspec whose directory became a file: git add would add that file.
    const st = w === "" ? null : n.lstat(absolute(ctx, fromLatin1(w)));
    if (st && (st.mode & S_IFMT) !== S_IFDIR) throw new Fallback(`${w} is no longer a directory`);
    walk(w);
  }
  return found;
}
