// Input hashing (docs/contract.md §7 step 2) and the git facts the snapshot decision needs.
//
// The hash must equal the established tool's byte for byte — teams share
// remote caches between the two. Two routes compute the same listing:
//  - reference.ts runs the old pipeline itself (a temporary index copy, git add,
//    write-tree, ls-tree): always right, ~16 ms and more;
//  - fast.ts computes it in-process from the index file, stat data and the few
//    files that changed, and falls back to the reference route for anything it
//    cannot vouch for (see fast.ts for the list).
// tests/unit/hash-matrix.test.ts runs the whole case matrix through both routes and
// compares them with the old pipeline run by bash.
import { Fallback, fastListing, fastUncommitted } from "./fast";
import { git, oneLine, type GitEnv } from "./git";
import { environmentIsPlain, findRepo } from "./repo";
import { referenceListing, referenceUncommitted } from "./reference";
import { hashOf, quotePath } from "./text";

export type HashResult = { ok: true; hash: string; hashInput: string } | { ok: false; error: string };

export type { GitEnv };

export interface HashOptions {
  /** The environment git runs with and is read as from: the task's (git.ts GitEnv). */
  env: GitEnv;
  /** "reference" forces the old pipeline (tests, and comparing routes when debugging). */
  route?: "auto" | "reference" | "fast";
  /** Told why the fast route fell back (a debug line for the task's log). */
  onFallback?: (reason: string) => void;
  /**
   * The caller's umask, when not this process's (a nested task the toplevel
   * hashes for): the reference route's git writes objects into the repository
   * (`.git/objects/xx/`, made 0777 & ~umask). Other git runs here only read
   * (`--no-optional-locks status`, `diff-index --quiet`, `config -l`).
   */
  umask?: number | null;
}

/** cwd: the task's cwd. pathspecs: git pathspecs relative to cwd, as given. raw: the --raw strings. */
export async function hashInputs(
  cwd: string,
  pathspecs: string[],
  raw: string[],
  opts: HashOptions,
): Promise<HashResult> {
  if (pathspecs.length === 0) return { ok: true, ...hashOf("", raw) };
  if (opts.route !== "reference") {
    try {
      return { ok: true, ...hashOf(await fastListing(cwd, pathspecs, opts.env), raw) };
    } catch (e) {
      if (opts.route === "fast") {
        if (e instanceof Fallback) return { ok: false, error: `fast route unavailable: ${e.message}` };
        throw e;
      }
      // Not only Fallback: an unexpected failure of the fast route (a file it may not
      // read, say) still has a right answer, git's own.
      opts.onFallback?.(e instanceof Fallback ? e.message : `unexpected: ${(e as Error).message}`);
    }
  }
  try {
    const listing = await referenceListing(cwd, pathspecs, opts.env, opts.umask ?? null);
    return listing.ok ? { ok: true, ...hashOf(listing.listing, raw) } : listing;
  } catch (e) {
    // No temporary directory, say: still an outcome to report, not a crash.
    return { ok: false, error: `cannot hash inputs: ${(e as Error).message}` };
  }
}

/** `git status --porcelain --untracked-files=no -- <pathspecs>` is not empty: uncommitted changes to tracked files. */
export async function hasUncommittedChanges(cwd: string, pathspecs: string[], opts: HashOptions): Promise<boolean> {
  if (pathspecs.length === 0) return false;
  if (opts.route !== "reference") {
    try {
      return await fastUncommitted(cwd, pathspecs, opts.env);
    } catch (e) {
      if (opts.route === "fast") throw e;
      opts.onFallback?.(e instanceof Fallback ? e.message : `unexpected: ${(e as Error).message}`);
    }
  }
  return referenceUncommitted(cwd, pathspecs, opts.env);
}

/**
 * The tracked files under the pathspecs with uncommitted changes, from the
 * work tree's top and quoted as ls-tree quotes them: what `git status
 * --porcelain --untracked-files=no` names. Asked only once hasUncommittedChanges
 * said there are some, to say which; none when git cannot tell.
 */
export async function uncommittedPaths(cwd: string, pathspecs: string[], env: GitEnv): Promise<string[]> {
  const args = ["--no-optional-locks", "status", "--porcelain", "-z", "--untracked-files=no", "--", ...pathspecs];
  const r = await git(cwd, args, env);
  if (r.code !== 0) return [];
  const fields = Buffer.from(r.stdout).toString("latin1").split("\0");
  const paths: string[] = [];
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    if (f.length < 4) continue;
    paths.push(quotePath(Buffer.from(f.slice(3), "latin1"), true));
    // A rename or copy: "XY new\0old\0"; the old path is not a change of its own.
    if (f[0] === "R" || f[0] === "C") i++;
  }
  return paths;
}

/** `git rev-parse --show-toplevel`: the work tree's top (physical), null outside one. */
export const workTreeTop = (cwd: string, env: GitEnv) => oneLine(cwd, ["rev-parse", "--show-toplevel"], env);
/** `git symbolic-ref --short HEAD`: null when detached or not a repository. */
export const currentBranch = (cwd: string, env: GitEnv) => oneLine(cwd, ["symbolic-ref", "--short", "HEAD"], env);
/** `git merge-base HEAD origin/<branch>`. */
export const mainBranchCommit = (cwd: string, branch: string, env: GitEnv) =>
  oneLine(cwd, ["merge-base", "HEAD", `origin/${branch}`], env);
/** `git rev-parse HEAD`. */
export const headCommit = (cwd: string, env: GitEnv) => oneLine(cwd, ["rev-parse", "HEAD"], env);
/**
 * `git rev-parse --absolute-git-dir`: null outside a repository. Found without
 * a git process (~10 ms of every restore, which stages there) when repo.ts can
 * vouch for the answer; git is asked otherwise.
 */
export async function absoluteGitDir(cwd: string, env: GitEnv): Promise<string | null> {
  const repo = environmentIsPlain(env) ? findRepo(cwd) : null;
  return repo ? repo.gitDir : oneLine(cwd, ["rev-parse", "--absolute-git-dir"], env);
}
