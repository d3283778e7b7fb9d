// The fast route: the reference pipeline's answers computed in-process — no
// git process in the common case (see worktree.ts for what `git add` would do,
// objects.ts for HEAD's trees). Covered: literal pathspecs (".", "..", "./x",
// "dir/" included) in a plain checkout or linked worktree, with untracked and
// ignored files (.gitignore, info/exclude, core.excludesFile), symlinks,
// executable bits, deletions, stale or racy stat data, index versions 2-4,
// core.quotePath. Everything else throws Fallback and goes git's way: GIT_*
// overrides, pathspec magic and wildcards, pathspecs matching no tracked file
// (untracked-only, or an error git words), submodules and nested repositories,
// unmerged / assume-unchanged / skip-worktree / intent-to-add entries, split or
// sparse indexes, core.fileMode=false and other unusual core settings, and a
// file to re-read where a filter, encoding or CRLF conversion could apply.
import { ConversionUnsure } from "./attributes";
import { git } from "./git";
import { Unsure } from "./ignore";
import { compareBytes } from "./index-file";
import { ObjectReader } from "./objects";
import { configBool } from "./repo";
import { quotePath } from "./text";
import { type Blob, type Context, checkSpecsNotIgnored, conversions, Fallback, ignoreRules, latin1, prepare, trackedAfterAdd, untrackedFiles } from "./worktree";

export { Fallback };

/** Rethrows the "cannot tell" of a helper as a Fallback. */
function unsure(e: unknown): never {
  if (e instanceof Unsure || e instanceof ConversionUnsure) throw new Fallback(e.message);
  throw e;
}

/** What `git ls-tree -r --full-name` prints after the reference's `git add`; throws Fallback. */
export async function fastListing(cwd: string, pathspecs: string[]): Promise<string> {
  const ctx = await prepare(cwd, pathspecs);
  const quoteAll = configBool(ctx.config, "core.quotepath");
  if (quoteAll === null) throw new Fallback("core.quotePath is not a boolean");
  const blobs: Blob[] = [];
  try {
    const conv = conversions(ctx);
    const ignore = ignoreRules(ctx);
    checkSpecsNotIgnored(ctx, ignore);
    for (const b of trackedAfterAdd(ctx, conv)) if (b) blobs.push(b);
    const untracked = untrackedFiles(ctx, conv, ignore);
    if (untracked.length > 0) {
      for (const b of untracked) blobs.push(b);
      // ls-tree's order is the index's: paths compared as bytes.
      blobs.sort((a, b) => compareBytes(a.path, b.path));
    }
  } catch (e) {
    unsure(e);
  }
  let listing = "";
  for (const b of blobs) {
    listing += `${listing ? "\n" : ""}${b.mode === 0o100644 ? "100644" : b.mode.toString(8).padStart(6, "0")} blob ${b.sha}\t${quotePath(b.path, quoteAll !== false)}`;
  }
  return listing;
}

/**
 * Whether `git status --porcelain --untracked-files=no -- <pathspecs>` would
 * print anything: a tracked file under them differs between the index and the
 * work tree (unstaged), or between HEAD and the index (staged).
 */
export async function fastUncommitted(cwd: string, pathspecs: string[]): Promise<boolean> {
  const ctx = await prepare(cwd, pathspecs);
  try {
    const after = trackedAfterAdd(ctx, conversions(ctx));
    for (let i = 0; i < after.length; i++) {
      const b = after[i];
      if (!b || b.mode !== ctx.entries[i].mode || b.sha !== ctx.entries[i].sha) return true;
    }
  } catch (e) {
    unsure(e);
  }
  const staged = stagedFromCacheTree(ctx);
  if (staged !== null) return staged;
  const r = await git(cwd, ["diff-index", "--cached", "--quiet", "HEAD", "--", ...pathspecs]);
  if (r.code === 0 || r.code === 1) return r.code === 1;
  throw new Fallback("git diff-index failed");
}

/**
 * Staged changes from the index's cache tree (tree ids of the directories it
 * holds, kept by git until an entry below changes) against HEAD's trees; null
 * when it cannot tell (an invalidated node, an object not found).
 */
function stagedFromCacheTree(ctx: Context): boolean | null {
  const reader = new ObjectReader(ctx.repo);
  try {
    const head = reader.head();
    if (head === null) return null;
    if (head === "unborn") return true; // every matched entry is a staged addition
    const tree = reader.headTree(head);
    if (tree === null) return null;
    if (ctx.index.rootTree() === tree) return false; // the index holds HEAD's tree: nothing staged
    const cacheTree = ctx.index.cacheTree();
    for (const s of ctx.specs) {
      let expected: { sha: string | null | undefined; mode: number };
      if (s.isDir) expected = { sha: cacheTree.get(s.path), mode: 0o40000 };
      else {
        const e = ctx.entries.find((x) => latin1(x.path) === s.path);
        expected = { sha: e?.sha, mode: e?.mode ?? 0 };
      }
      if (!expected.sha) return null;
      const inHead = reader.lookup(tree, s.raw);
      if (inHead === null) return null;
      if (inHead === "absent" || inHead.sha !== expected.sha || inHead.mode !== expected.mode) return true;
    }
    return false;
  } finally {
    reader.close();
  }
}
