// The reference route: the established tool's pipeline, step by step, with the
// same argv (pathspecs passed without `--`, so a pathspec that looks like an
// option behaves as it did there):
//
//   GIT_INDEX_FILE="$(mktemp)"; export GIT_INDEX_FILE
//   cp "$(git rev-parse --git-dir)/index" "$GIT_INDEX_FILE"
//   tree="$(git add "$@" && git write-tree)" || exit 1
//   git ls-tree -r --full-name "$tree" "$@"
//
// Four git processes and a rewritten copy of the index: the slow, always-right
// answer the fast route is tested against and falls back to. One difference:
// `git add` leaves out restore staging folders (stagingExcludes).
import { git, gitError, text, type GitEnv } from "./git";
import { RESTORE_STAGING_PREFIX } from "../sys/paths";

/**
 * Exclude pathspecs for a restore's staging folder and what is in it, at any
 * depth, as the fast route's walk skips them. Not with GIT_LITERAL_PATHSPECS,
 * under which git would take them for file names that match nothing.
 */
function stagingExcludes(env: GitEnv): string[] {
  if (env.GIT_LITERAL_PATHSPECS) return [];
  const name = `**/${RESTORE_STAGING_PREFIX}*`;
  return [`:(top,exclude,glob)${name}`, `:(top,exclude,glob)${name}/**`];
}

export type Listing = { ok: true; listing: string } | { ok: false; error: string };

/** umask: the caller's, for the objects `git add` and `write-tree` write into the repository (null: this process's). */
export async function referenceListing(
  cwd: string,
  pathspecs: string[],
  env: GitEnv,
  umask: number | null = null,
): Promise<Listing> {
  const where = await git(cwd, ["rev-parse", "--git-dir"], env);
  if (where.code !== 0) return { ok: false, error: gitError(where, cwd) };
  const gitDir = text(where.stdout).replace(/\n$/, "");
  const { mkdtempSync, copyFileSync, rmSync, existsSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const tmp = mkdtempSync(`${tmpdir()}/taskrunner-index-`);
  try {
    const index = `${tmp}/index`;
    const real = `${gitDir.startsWith("/") ? "" : `${cwd}/`}${gitDir}/index`;
    // A repository with no index yet (nothing ever added): the old pipeline failed
    // here (`cp` of a missing file); we hash as from an empty index instead.
    if (existsSync(real)) copyFileSync(real, index);
    const opts = { add: { GIT_INDEX_FILE: index }, umask };
    const add = await git(cwd, ["add", ...pathspecs, ...stagingExcludes(env)], env, opts);
    if (add.code !== 0) return { ok: false, error: gitError(add, cwd) };
    const tree = await git(cwd, ["write-tree"], env, opts);
    if (tree.code !== 0) return { ok: false, error: gitError(tree, cwd) };
    const ls = await git(cwd, ["ls-tree", "-r", "--full-name", text(tree.stdout).trim(), ...pathspecs], env, opts);
    if (ls.code !== 0) return { ok: false, error: gitError(ls, cwd) };
    return { ok: true, listing: text(ls.stdout) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** `git status --porcelain --untracked-files=no -- <pathspecs>` is not empty. */
export async function referenceUncommitted(cwd: string, pathspecs: string[], env: GitEnv): Promise<boolean> {
  // --no-optional-locks: a status check must not rewrite the user's index.
  const r = await git(
    cwd,
    ["--no-optional-locks", "status", "--porcelain", "--untracked-files=no", "--", ...pathspecs],
    env,
  );
  return r.code !== 0 || r.stdout.some((b) => b !== 10 && b !== 32);
}
