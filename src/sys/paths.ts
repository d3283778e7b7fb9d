// node:path costs start-up time; these are all the path helpers the hot path needs.
export function dirname(path: string): string {
  const i = path.replace(/\/+$/, "").lastIndexOf("/");
  return i <= 0 ? (path.startsWith("/") ? "/" : ".") : path.slice(0, i);
}

export function basename(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1) || trimmed;
}

export function joinPath(...parts: string[]): string {
  return parts.join("/").replace(/\/{2,}/g, "/");
}

/** p made absolute against base, with `.` and `..` resolved. */
export function resolvePath(base: string, p: string): string {
  const parts: string[] = [];
  for (const part of (p.startsWith("/") ? p : `${base}/${p}`).split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}

/**
 * Whether path is root or lies below it: the one "inside the root" check
 * (outputs in the cache root, restored members, store keys). Both absolute
 * and normalised (resolvePath, realpath); a trailing slash on root is allowed.
 */
export function isInside(path: string, root: string): boolean {
  const r = root.length > 1 ? root.replace(/\/+$/, "") : root;
  return path === r || path.startsWith(r === "/" ? "/" : `${r}/`);
}

/** path relative to root, `/`-separated (`.` for root itself), or null when path is not inside root. */
export function relativeTo(root: string, path: string): string | null {
  if (!isInside(path, root)) return null;
  const rest = path.slice(root.replace(/\/+$/, "").length).replace(/^\/+/, "");
  return rest === "" ? "." : rest;
}

/**
 * Restores stage an archive in a directory named so (cache/restore.ts), out of
 * the work tree when they can. Input hashes never count one (hash/), wherever
 * a crash may have left it.
 */
export const RESTORE_STAGING_PREFIX = ".taskrunner-restore-";
