// Where a declared output (`snapshot -o PATH`) lives and what it is called in
// the archive. As in the old tool, PATH is relative to the directory the task
// was started in (the runner's cwd, where input pathspecs resolve too) — not
// to the cache root, and not to a `cd` inside the script — and is archived
// under its path relative to the cache root, which must contain it. Saving,
// restoring and the missing-output check all place outputs here, so they
// agree on every path; the member names are what the old tool's `tar -c`
// wrote, so old and new binaries share archives.
// No node:path: the skip path (the missing-output check) runs this.
import { resolvePath } from "./paths";

export interface PlacedOutput {
  /** As the script wrote it, for messages. */
  declared: string;
  /** Absolute, with `.` and `..` resolved. */
  path: string;
  /** Relative to the cache root, `/`-separated (`.` for the root itself): the archive member name. */
  member: string;
}

export type Placed = { ok: true; outputs: PlacedOutput[] } | { ok: false; error: string };

/** `--cache-root DIR`, else TASKRUNNER_ROOT_DIRECTORY (which defaults to cwd); a relative one is taken from the start directory. */
export function cacheRootOf(startDir: string, cacheRootArg: string | null, rootDirectory: string): string {
  return resolvePath(startDir, cacheRootArg ?? rootDirectory);
}

/** Every declared output placed (cacheRoot absolute), or the first one outside the cache root as a one-line error. */
export function placeOutputs(startDir: string, cacheRoot: string, declared: string[]): Placed {
  const root = resolvePath("/", cacheRoot);
  const prefix = root === "/" ? "/" : `${root}/`;
  const outputs: PlacedOutput[] = [];
  for (const d of declared) {
    const path = resolvePath(startDir, d);
    if (path === root) outputs.push({ declared: d, path, member: "." });
    else if (path.startsWith(prefix)) outputs.push({ declared: d, path, member: path.slice(prefix.length) });
    else {
      return { ok: false, error: `output ${d}${path === d ? "" : ` (${path})`} is outside the cache root ${root}` };
    }
  }
  return { ok: true, outputs };
}
