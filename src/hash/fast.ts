// The fast route: the reference pipeline's answers computed in-process — no
// git process in the common case (see worktree.ts for what `git add` would do,
// walk.ts for the files it would look at, objects.ts for HEAD's trees).
// Covered: literal pathspecs (".", "..", "./x", "dir/" included) and wildcards
// ('pkg0*', 'src/*.ts': what git add matches, listed as ls-tree lists them) in
// a plain checkout or linked worktree, with untracked and ignored files
// (.gitignore, info/exclude, core.excludesFile), symlinks, executable bits,
// deletions, stale or racy stat data, index versions 2-4, core.quotePath.
// Everything else throws Fallback and goes git's way: GIT_* overrides,
// pathspec magic and escapes, pathspecs matching no tracked file
// (untracked-only, or an error git words), submodules and nested repositories,
// unmerged / assume-unchanged / skip-worktree / intent-to-add entries, split or
// sparse indexes, core.fileMode=false and other unusual core settings, and a
// file to re-read where a filter, encoding or CRLF conversion could apply.
import { git, type GitEnv } from "./git";
import { compareBytes } from "./index-file";
import { ObjectReader } from "./objects";
import { configBool } from "./repo";
import { ListingWriter } from "./text";
import { type Walked, walkWorktree } from "./walk";
import {
  type Context,
  checkSpecsNotIgnored,
  conversions,
  Fallback,
  ignoreRules,
  prepare,
  trackedAfterAdd,
  unsure,
} from "./worktree";

export { Fallback };

/** What `git ls-tree -r --full-name` prints after the reference's `git add`; throws Fallback. */
export async function fastListing(cwd: string, pathspecs: string[], env: GitEnv): Promise<string> {
  const ctx = await prepare(cwd, pathspecs, env);
  const quoteAll = configBool(ctx.config, "core.quotepath");
  if (quoteAll === null) throw new Fallback("core.quotePath is not a boolean");
  let walked: Walked;
  try {
    const conv = conversions(ctx);
    const ignore = ignoreRules(ctx);
    checkSpecsNotIgnored(ctx, ignore);
    walked = walkWorktree(ctx, conv, ignore);
  } catch (e) {
    unsure(e);
  }
  const { changed, untracked } = walked;
  const { index, listed } = ctx;
  const out = new ListingWriter(quoteAll !== false, listed.length + untracked.length);
  if (untracked.length === 0) {
    for (let k = 0; k < listed.length; k++) {
      const i = listed[k];
      const b = changed.get(i);
      const start = index.pathStart(i);
      if (b === undefined)
        out.add(index.mode(i), index.data, index.idAt(i), index.paths, start, start + index.pathLength(i));
      else if (b) out.addHex(b.mode, b.sha, b.path);
    }
  } else {
    // ls-tree's order is the index's: paths compared as bytes.
    const blobs = untracked;
    for (let k = 0; k < listed.length; k++) {
      const i = listed[k];
      const b = changed.get(i);
      const start = index.pathStart(i);
      if (b === undefined)
        blobs.push({
          path: index.paths.subarray(start, start + index.pathLength(i)),
          mode: index.mode(i),
          sha: index.sha(i),
        });
      else if (b) blobs.push(b);
    }
    blobs.sort((a, b) => compareBytes(a.path, b.path));
    for (const b of blobs) out.addHex(b.mode, b.sha, b.path);
  }
  return out.toString();
}

/**
 * Whether `git status --porcelain --untracked-files=no -- <pathspecs>` would
 * print anything: a tracked file under them differs between the index and the
 * work tree (unstaged), or between HEAD and the index (staged).
 */
export async function fastUncommitted(cwd: string, pathspecs: string[], env: GitEnv): Promise<boolean> {
  const ctx = await prepare(cwd, pathspecs, env);
  try {
    for (const [i, b] of trackedAfterAdd(ctx, conversions(ctx))) {
      if (!b || b.mode !== ctx.index.mode(i) || b.sha !== ctx.index.sha(i)) return true;
    }
  } catch (e) {
    unsure(e);
  }
  const staged = stagedFromCacheTree(ctx);
  if (staged !== null) return staged;
  const r = await git(cwd, ["diff-index", "--cached", "--quiet", "HEAD", "--", ...pathspecs], env);
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
      // A wildcard spans directories: git diff-index answers for it.
      if (s.glob) return null;
      let expected: { sha: string | null | undefined; mode: number };
      if (s.isDir) expected = { sha: cacheTree.get(s.path), mode: 0o40000 };
      else {
        // Not a directory: the spec matches its own entry only.
        const i = ctx.index.matching(s.raw, false)[0];
        expected = {
          sha: i === undefined ? undefined : ctx.index.sha(i),
          mode: i === undefined ? 0 : ctx.index.mode(i),
        };
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
