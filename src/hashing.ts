// Input hashing (SPEC §7 step 2). The hash must equal, byte for byte, what the
// established tool computes — teams share caches between the two:
//
//   cp "$(git rev-parse --git-dir)/index" $tmp; export GIT_INDEX_FILE=$tmp
//   tree=$(git add <pathspecs> && git write-tree)
//   git ls-tree -r --full-name $tree <pathspecs>     → trimmed, + raw inputs
//
// That reference route spawns four git processes and rewrites a copy of the
// index for every task. The fast route gets the same listing from three
// read-only git calls run in parallel (rev-parse, ls-files, diff-files): index
// entries as they are, plus the files that `git add` would change (modified,
// deleted, untracked-not-ignored), whose blob ids it computes itself. It covers literal pathspecs in a plain
// checkout; anything it cannot vouch for goes the reference way.
import { unquoteCPath } from "./git-quote";
import { pathExists } from "./sys";

export type HashResult = { ok: true; hash: string; hashInput: string } | { ok: false; error: string };

interface GitRun {
  code: number;
  stdout: string;
  stderr: string;
}

async function git(cwd: string, args: string[], env?: Record<string, string>): Promise<GitRun> {
  try {
    const p = Bun.spawn(["git", ...args], {
      cwd,
      env: env ? { ...process.env, ...env } : undefined,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { code, stdout, stderr };
  } catch (e) {
    return { code: -1, stdout: "", stderr: `cannot run git: ${(e as Error).message}` };
  }
}

function sha1(data: string | Uint8Array): string {
  return new Bun.CryptoHasher("sha1").update(data).digest("hex");
}

/** git's own words for what went wrong, as one line. */
function gitError(run: GitRun, cwd: string): string {
  const text = run.stderr.trim();
  if (/not a git repository/i.test(text)) return `not a git repository: ${cwd} (file inputs are git pathspecs)`;
  const first = text.split("\n").find((l) => /^(fatal|error):/.test(l)) ?? text.split("\n")[0] ?? "";
  return first.replace(/^(fatal|error):\s*/, "") || `git exited with code ${run.code}`;
}

export function hashOf(fileListing: string, raw: string[]): { hash: string; hashInput: string } {
  const hashInput = fileListing.trim() + raw.join("\n");
  return { hash: sha1(hashInput), hashInput };
}

export async function hashInputs(
  cwd: string,
  pathspecs: string[],
  raw: string[],
  opts: { route?: "fast" | "reference" } = {},
): Promise<HashResult> {
  if (pathspecs.length === 0) return { ok: true, ...hashOf("", raw) };
  if (opts.route !== "reference") {
    const fast = await fastListing(cwd, pathspecs);
    if (fast !== null) return { ok: true, ...hashOf(fast, raw) };
  }
  const listing = await referenceListing(cwd, pathspecs);
  return "error" in listing ? { ok: false, error: listing.error } : { ok: true, ...hashOf(listing.text, raw) };
}

/** The established computation, step by step, on a temporary copy of the index. */
export async function referenceListing(cwd: string, pathspecs: string[]): Promise<{ text: string } | { error: string }> {
  const where = await git(cwd, ["rev-parse", "--git-path", "index"]);
  if (where.code !== 0) return { error: gitError(where, cwd) };
  const indexPath = where.stdout.trim();
  const { tmpdir } = await import("node:os");
  const tmp = `${tmpdir()}/taskrunner-index-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    const indexFile = indexPath.startsWith("/") ? indexPath : `${cwd}/${indexPath}`;
    const index = Bun.file(indexFile);
    if (await index.exists()) {
      await Bun.write(tmp, index);
      // Keep the index's own mtime: git compares it with the entries' to spot
      // "racily clean" files (rewritten within the same clock tick). A fresh
      // copy's mtime hides them — the old tool's `cp` missed such edits.
      const { statSync, utimesSync } = await import("node:fs");
      const st = statSync(indexFile);
      utimesSync(tmp, st.atime, st.mtime);
    }
    const env = { GIT_INDEX_FILE: tmp };
    const add = await git(cwd, ["add", ...pathspecs], env);
    if (add.code !== 0) return { error: gitError(add, cwd) };
    const tree = await git(cwd, ["write-tree"], env);
    if (tree.code !== 0) return { error: gitError(tree, cwd) };
    const ls = await git(cwd, ["ls-tree", "-r", "--full-name", tree.stdout.trim(), ...pathspecs], env);
    if (ls.code !== 0) return { error: gitError(ls, cwd) };
    return { text: ls.stdout };
  } finally {
    const { rmSync } = await import("node:fs");
    rmSync(tmp, { force: true });
  }
}

const LITERAL = /^[^*?[\\:]+$/;
const OVERRIDES = ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR"];

interface Entry {
  raw: Buffer; // the path's bytes, for sorting and reading
  quoted: string; // as git prints it (quoting honours core.quotePath)
  mode: string;
  sha: string;
}

/**
 * ls-tree's listing computed from the index as it is plus the files `git add`
 * would look at again, or null where the
 * fast route cannot be sure to match the reference (the caller falls back).
 */
export async function fastListing(cwd: string, pathspecs: string[]): Promise<string | null> {
  if (!pathspecs.every((p) => LITERAL.test(p))) return null;
  if (OVERRIDES.some((v) => process.env[v])) return null;
  // Three cheap reads in parallel. Not `ls-files -m`: it stats the whole index
  // whatever the pathspec; not --error-unmatch: with it, git 2.39 drops -m lines.
  const known = repoPrefix(cwd);
  const [prefixRun, ls, diff] = await Promise.all([
    known !== null ? { code: 0, stdout: known, stderr: "" } : git(cwd, ["rev-parse", "--show-prefix"]),
    git(cwd, ["ls-files", "-s", "-o", "-t", "--exclude-standard", "--full-name", "--", ...pathspecs]),
    git(cwd, ["diff-files", "--name-status", "--", ...pathspecs]),
  ]);
  if (prefixRun.code !== 0 || ls.code !== 0 || diff.code !== 0) return null; // no repository: the reference says it exactly
  const wanted = rootRelative(prefixRun.stdout.trim(), pathspecs);
  if (wanted === null) return null;
  const matched = new Set<string>();

  const entries = new Map<string, Entry>();
  const rehash: string[] = [];
  for (const line of ls.stdout.split("\n")) {
    if (line === "") continue;
    const tag = line[0];
    if (tag === "?") {
      const quoted = line.slice(2);
      if (quoted.endsWith("/")) return null; // a nested repository: git add makes it a gitlink
      noteMatches(wanted, unquoteCPath(quoted), matched);
      rehash.push(quoted);
      continue;
    }
    if (tag !== "H") return null; // S (skip-worktree) or a tag this version does not know
    const tab = line.indexOf("\t");
    const [mode, sha, stage] = line.slice(2, tab).split(" ");
    const quoted = line.slice(tab + 1);
    if (stage !== "0" || mode === "160000") return null; // unmerged, submodule
    noteMatches(wanted, unquoteCPath(quoted), matched);
    entries.set(quoted, { raw: unquoteCPath(quoted), quoted, mode, sha });
  }
  // Tracked files whose stat differs from the index (modified, touched, deleted,
  // changed type): `git add` would look at them again, and so do we.
  for (const line of diff.stdout.split("\n")) {
    if (line === "") continue;
    const [status, quoted] = [line.slice(0, line.indexOf("\t")), line.slice(line.indexOf("\t") + 1)];
    if (status === "D") entries.delete(quoted);
    else if (status === "M" || status === "T") rehash.push(quoted);
    else return null;
  }

  // A pathspec that matches nothing is an error; the reference route words it.
  if (matched.size < wanted.length) return null;

  if (rehash.length > 0) {
    const hashed = await hashWorktreeFiles(cwd, rehash);
    if (hashed === null) return null;
    for (const e of hashed) {
      if (e === "gone") continue;
      entries.set(e.quoted, e);
    }
  }
  const sorted = [...entries.values()].sort((a, b) => Buffer.compare(a.raw, b.raw));
  return sorted.map((e) => `${e.mode} blob ${e.sha}\t${e.quoted}`).join("\n");
}

/**
 * cwd relative to the top of its work tree ("" at the top, "a/b/" below), found
 * by looking for .git upwards — a git process saved per task. null when unsure
 * (no .git found): git is asked instead.
 */
function repoPrefix(cwd: string): string | null {
  const parts = cwd.split("/").filter(Boolean);
  for (let i = parts.length; i >= 0; i--) {
    if (pathExists(`/${parts.slice(0, i).join("/")}${i ? "/" : ""}.git`)) {
      const below = parts.slice(i).join("/");
      return below ? `${below}/` : "";
    }
  }
  return null;
}

/** The pathspecs as root-relative byte strings ("" = the whole repository), or null if one leaves it. */
function rootRelative(prefix: string, pathspecs: string[]): string[] | null {
  const out: string[] = [];
  for (const spec of pathspecs) {
    const parts: string[] = [];
    for (const part of `${prefix}${spec}`.split("/")) {
      if (part === "" || part === ".") continue;
      if (part === "..") {
        if (parts.length === 0) return null;
        parts.pop();
      } else parts.push(part);
    }
    out.push(Buffer.from(parts.join("/"), "utf8").toString("latin1"));
  }
  return out;
}

function noteMatches(wanted: string[], path: Buffer, matched: Set<string>): void {
  if (matched.size === wanted.length) return;
  const p = path.toString("latin1");
  for (const w of wanted) if (w === "" || p === w || p.startsWith(`${w}/`)) matched.add(w);
}

/**
 * Blob ids of worktree files as `git add` would store them — only where no
 * content filter can apply (no attributes, no autocrlf, plain file modes).
 */
async function hashWorktreeFiles(cwd: string, quotedPaths: string[]): Promise<(Entry | "gone")[] | null> {
  const [top, config] = await Promise.all([
    git(cwd, ["rev-parse", "--show-toplevel", "--git-dir"]),
    git(cwd, ["config", "--get-regexp", "^(core\\.(autocrlf|filemode|symlinks|ignorecase|attributesfile|precomposeunicode|sparsecheckout|eol)|filter\\..*)$"]),
  ]);
  if (top.code !== 0) return null;
  const [root, gitDirRel] = top.stdout.trim().split("\n");
  const settings = new Map<string, string>();
  for (const line of config.stdout.split("\n")) {
    const sp = line.indexOf(" ");
    if (sp > 0) settings.set(line.slice(0, sp).toLowerCase(), line.slice(sp + 1).toLowerCase());
    else if (line) settings.set(line.toLowerCase(), "true");
  }
  const plain =
    [...settings.keys()].every((k) => ["core.filemode", "core.symlinks", "core.ignorecase"].includes(k)) &&
    settings.get("core.filemode") !== "false" &&
    settings.get("core.symlinks") !== "false" &&
    settings.get("core.ignorecase") !== "true";
  if (!plain) return null;

  const fs = await import("node:fs");
  const gitDir = gitDirRel.startsWith("/") ? gitDirRel : `${cwd}/${gitDirRel}`;
  if (fs.existsSync(`${gitDir}/info/attributes`)) return null;
  const checkedDirs = new Set<string>();
  const out: (Entry | "gone")[] = [];
  for (const quoted of quotedPaths) {
    const raw = unquoteCPath(quoted);
    const rel = raw.toString("latin1");
    // Any .gitattributes on the way to the file could filter it.
    const parts = rel.split("/");
    for (let i = 0; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (checkedDirs.has(dir)) continue;
      checkedDirs.add(dir);
      if (fs.existsSync(Buffer.from(`${root}/${dir ? `${dir}/` : ""}.gitattributes`, "latin1"))) return null;
    }
    const path = Buffer.concat([Buffer.from(`${root}/`), raw]);
    let st;
    try {
      st = fs.lstatSync(path);
    } catch {
      out.push("gone");
      continue;
    }
    let content: Buffer;
    let mode: string;
    if (st.isSymbolicLink()) {
      content = fs.readlinkSync(path, { encoding: "buffer" });
      mode = "120000";
    } else if (st.isFile()) {
      content = fs.readFileSync(path);
      mode = st.mode & 0o100 ? "100755" : "100644";
    } else {
      return null; // a directory where a file was: let git decide
    }
    const blob = new Bun.CryptoHasher("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");
    out.push({ raw, quoted, mode, sha: blob });
  }
  return out;
}

/** Uncommitted changes to tracked files under the pathspecs (staged or not). */
export async function hasUncommittedChanges(cwd: string, pathspecs: string[]): Promise<boolean> {
  if (pathspecs.length === 0) return false;
  // --no-optional-locks: a status check must not rewrite the user's index.
  const r = await git(cwd, ["--no-optional-locks", "status", "--porcelain", "--untracked-files=no", "--", ...pathspecs]);
  return r.code !== 0 || r.stdout.trim() !== "";
}

async function oneLine(cwd: string, args: string[]): Promise<string | null> {
  const r = await git(cwd, args);
  const v = r.stdout.trim();
  return r.code === 0 && v ? v : null;
}

export const currentBranch = (cwd: string) => oneLine(cwd, ["symbolic-ref", "--short", "HEAD"]);
export const mainBranchCommit = (cwd: string, branch: string) => oneLine(cwd, ["merge-base", "HEAD", `origin/${branch}`]);
export const headCommit = (cwd: string) => oneLine(cwd, ["rev-parse", "HEAD"]);
