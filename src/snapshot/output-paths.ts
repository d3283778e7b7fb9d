// Where a declared output (`snapshot -o PATH`) lives and what it is called in
// the archive. As in the old tool, PATH is relative to the directory the task
// was started in (the runner's cwd, where input pathspecs resolve too) — not
// to the cache root, and not to a `cd` inside the script — and is archived
// under its path relative to the cache root, which must contain it. Saving,
// restoring and the missing-output check all place outputs here, so they
// agree on every path; the member names are what the old tool's `tar -c`
// wrote, so old and new binaries share archives.
// No node:path: the skip path (the missing-output check) runs this.
import { basename, dirname, joinPath, relativeTo, resolvePath } from "../sys/paths";
import { realPath } from "../sys/libc";

export interface PlacedOutput {
  /** As the script wrote it, for messages. */
  declared: string;
  /** Absolute, with `.` and `..` resolved. */
  path: string;
  /** Relative to the cache root, `/`-separated (`.` for the root itself): the archive member name. */
  member: string;
}

export type Placed = { ok: true; outputs: PlacedOutput[] } | { ok: false; error: string };

/**
 * `--cache-root DIR`, else TASKRUNNER_ROOT_DIRECTORY (which defaults to cwd); a relative one is taken from the start
 * directory.
 */
export function cacheRootOf(startDir: string, cacheRootArg: string | null, rootDirectory: string): string {
  return resolvePath(startDir, cacheRootArg ?? rootDirectory);
}

/** Every declared output placed (cacheRoot absolute), or the first one outside the cache root as a one-line error. */
export function placeOutputs(startDir: string, cacheRoot: string, declared: string[]): Placed {
  const root = resolvePath("/", cacheRoot);
  const outputs: PlacedOutput[] = [];
  for (const d of declared) {
    const path = resolvePath(startDir, d);
    const member = relativeTo(root, path) ?? physicallyRelativeTo(root, path);
    if (member === null)
      return { ok: false, error: `output ${d}${path === d ? "" : ` (${path})`} is outside the cache root ${root}` };
    outputs.push({ declared: d, path, member });
  }
  return { ok: true, outputs };
}

/**
 * The start directory is physical (getcwd), while a root may be named through
 * a symlink (TASKRUNNER_ROOT_DIRECTORY=$PWD in a linked checkout, /tmp on
 * macOS): compared again with symlinks resolved in the root and in the
 * output's directories.
 */
function physicallyRelativeTo(root: string, path: string): string | null {
  const realRoot = realPath(root);
  const real = physicalPath(path);
  return realRoot === null || real === null ? null : relativeTo(realRoot, real);
}

/**
 * path with symlinks resolved in its directories, as far as they exist yet
 * (an output may not exist yet; and it may be a symlink itself: it is
 * archived as one, not followed). Null when not even / resolves.
 */
export function physicalPath(path: string): string | null {
  const rest = [basename(path)];
  let existing = dirname(path);
  let real = realPath(existing);
  while (real === null && existing !== "/") {
    rest.unshift(basename(existing));
    existing = dirname(existing);
    real = realPath(existing);
  }
  return real === null ? null : joinPath(real, ...rest);
}
