// Finding the repository and reading its configuration the way git would, for
// the fast route — without a git process. Anything this module cannot vouch
// for (environment overrides, bare or unusual layouts, another user's
// repository, config includes) makes it answer null, and the caller falls back
// to asking git.
import { native, S_IFDIR, S_IFMT, S_IFREG } from "./native";
import { realPath } from "../sys/libc";
import { encodeBytes } from "../sys/bytes";
import { dirname, joinPath as join } from "../sys/paths";

export interface Repo {
  /** The work tree's top, physical path, no trailing slash. */
  root: string;
  /** cwd below root: "" at the top, else "a/b/". */
  prefix: string;
  gitDir: string;
  commonDir: string;
}

/** A path or pathspec as the bytes it names (sys/bytes.ts). */
export const bytes = encodeBytes;

/**
 * Environment variables that change what git add / ls-tree / status compute
 * (or where git looks): with any of them set, hashing goes to git itself.
 * Looked up one by one — enumerating process.env (what env is, in a
 * taskrunner process of its own) costs a third of a millisecond in a fresh process.
 */
const GIT_OVERRIDES = [
  "GIT_DIR",
  "GIT_WORK_TREE",
  "GIT_INDEX_FILE",
  "GIT_COMMON_DIR",
  "GIT_OBJECT_DIRECTORY",
  "GIT_ALTERNATE_OBJECT_DIRECTORIES",
  "GIT_CEILING_DIRECTORIES",
  "GIT_DISCOVERY_ACROSS_FILESYSTEM",
  "GIT_NAMESPACE",
  "GIT_QUARANTINE_PATH",
  "GIT_SHALLOW_FILE",
  "GIT_CONFIG",
  "GIT_CONFIG_GLOBAL",
  "GIT_CONFIG_SYSTEM",
  "GIT_CONFIG_PARAMETERS",
  "GIT_CONFIG_COUNT",
  "GIT_LITERAL_PATHSPECS",
  "GIT_GLOB_PATHSPECS",
  "GIT_NOGLOB_PATHSPECS",
  "GIT_ICASE_PATHSPECS",
  "GIT_ATTR_NOSYSTEM",
  "GIT_ATTR_SOURCE",
  "GIT_REPLACE_REF_BASE",
  "GIT_NO_REPLACE_OBJECTS",
  "GIT_DEFAULT_HASH",
  "GIT_TEST_SPLIT_INDEX",
  "GIT_TEST_INDEX_VERSION",
  "GIT_INDEX_VERSION",
  "GIT_TEST_SPARSE_INDEX",
  "GIT_TEST_CHECKOUT_WORKERS",
  "GIT_PROTECT_NTFS",
];

export function environmentIsPlain(env: Readonly<Record<string, string | undefined>>): boolean {
  for (const k of GIT_OVERRIDES) if (env[k] !== undefined) return false;
  return true;
}

/** git's repository discovery from cwd, for the plain cases only. */
export function findRepo(cwd: string): Repo | null {
  const n = native();
  if (!n) return null;
  const start = realPath(cwd); // git works from the physical cwd, not a path through symlinks
  if (start === null || start.split("/").includes(".git")) return null;
  const startStat = n.lstat(bytes(start));
  if (!startStat) return null;
  for (let dir = start; ; dir = dirname(dir)) {
    const dirStat = n.lstat(bytes(dir));
    // git stops at a file-system boundary; so do we, by not answering.
    if (!dirStat || dirStat.dev !== startStat.dev) return null;
    const dotGit = n.lstat(bytes(join(dir, ".git")));
    if (dotGit) {
      const repo = repoAt(dir, dotGit.mode & S_IFMT, start);
      if (!repo) return null;
      const euid = n.geteuid();
      // git refuses another user's repository (safe.directory): let it say so.
      for (const p of [repo.root, repo.gitDir]) if (n.lstat(bytes(p))?.uid !== euid) return null;
      return repo;
    }
    // A bare repository as an ancestor: git would treat it as GIT_DIR.
    if (n.lstat(bytes(join(dir, "HEAD")))) return null;
    if (dir === "/") return null;
  }
}

function repoAt(root: string, type: number, start: string): Repo | null {
  const n = native()!;
  const prefix = start === root ? "" : `${start.slice(root === "/" ? 1 : root.length + 1)}/`;
  if (type === S_IFDIR) {
    const gitDir = join(root, ".git");
    return { root, prefix, gitDir, commonDir: gitDir };
  }
  if (type !== S_IFREG) return null;
  // A linked worktree or a submodule: `.git` is a file naming the git dir.
  const text = readText(join(root, ".git"));
  const m = text?.match(/^gitdir: (.+?)\r?\n?$/);
  if (!m) return null;
  const gitDir = absolute(root, m[1]);
  const common = readText(join(gitDir, "commondir"));
  const commonDir = common === null ? gitDir : absolute(gitDir, common.replace(/\r?\n$/, ""));
  if (((n.lstat(bytes(gitDir))?.mode ?? 0) & S_IFMT) !== S_IFDIR) return null;
  return { root, prefix, gitDir: realPath(gitDir) ?? gitDir, commonDir: realPath(commonDir) ?? commonDir };
}

function absolute(base: string, p: string): string {
  return p.startsWith("/") ? p : join(base, p);
}

export function readText(path: string): string | null {
  const data = native()?.readFile(bytes(path));
  return data ? Buffer.from(data).toString() : null;
}

// ---------------------------------------------------------------- config

/**
 * Where git looks for its system-wide files (gitconfig, gitattributes) depends on
 * how it was built: Linux packages use /etc; Homebrew and source builds a prefix.
 * Every usual place is read, which can only make the fast route more careful.
 */
export const SYSTEM_DIRS =
  process.platform === "darwin" ? ["/etc", "/usr/local/etc", "/opt/homebrew/etc"] : ["/etc", "/usr/local/etc"];

/**
 * Configuration as git would see it: lower-case "section[.subsection].key" →
 * values in the order read (the last one wins). A key given without "= value"
 * is stored as IMPLICIT_TRUE.
 */
export type Config = Map<string, string[]>;
const IMPLICIT_TRUE = "\u0000true";

/**
 * The config files git reads (system, global, repository), parsed in-process;
 * null when one uses includes or cannot be parsed — then `git config -l -z`
 * is asked instead (worktree.ts).
 */
export function readConfig(repo: Repo, env: Readonly<Record<string, string | undefined>>): Config | null {
  const home = env.HOME;
  const xdg = env.XDG_CONFIG_HOME || (home ? `${home}/.config` : null);
  const files: string[] = [];
  if (!env.GIT_CONFIG_NOSYSTEM) files.push(...SYSTEM_DIRS.map((d) => `${d}/gitconfig`));
  if (xdg) files.push(`${xdg}/git/config`);
  if (home) files.push(`${home}/.gitconfig`);
  files.push(`${repo.commonDir}/config`);
  const config: Config = new Map();
  for (const f of files) {
    const text = readText(f);
    if (text !== null && !parseConfig(text, config)) return null;
  }
  return config;
}

/** Parses one config file into `into`; false for includes or syntax this parser does not know. */
export function parseConfig(text: string, into: Config): boolean {
  let section = "";
  for (const line of text.split("\n")) {
    let rest = line.trim();
    if (/(^|[^\\])(\\\\)*\\$/.test(rest)) return false; // a continued line: rare, left to git
    if (rest.startsWith("[")) {
      const h = rest.match(/^\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]/);
      if (!h) return false;
      const name = h[1].toLowerCase();
      section = h[2] === undefined ? name : `${name}.${h[2].replace(/\\(.)/g, "$1")}`;
      if (name === "include" || name === "includeif") return false;
      rest = rest.slice(h[0].length).trim();
    }
    if (rest === "" || rest.startsWith("#") || rest.startsWith(";")) continue;
    const kv = rest.match(/^([A-Za-z][A-Za-z0-9-]*)\s*(?:=(.*))?$/);
    if (!kv || section === "") return false;
    const value = kv[2] === undefined ? null : parseValue(kv[2]);
    if (value === false) return false;
    const key = `${section}.${kv[1].toLowerCase()}`;
    const list = into.get(key) ?? [];
    list.push(value === null ? IMPLICIT_TRUE : value);
    into.set(key, list);
  }
  return true;
}

function parseValue(raw: string): string | false {
  let out = "";
  let quoted = false;
  let spaces = "";
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (!quoted && (c === "#" || c === ";")) break;
    if (!quoted && (c === " " || c === "\t" || c === "\r")) {
      if (out) spaces += " ";
      continue;
    }
    out += spaces;
    spaces = "";
    if (c === '"') quoted = !quoted;
    else if (c === "\\") {
      const e = raw[++i];
      const map: Record<string, string> = { n: "\n", t: "\t", b: "\b", '"': '"', "\\": "\\" };
      if (!(e in map)) return false;
      out += map[e];
    } else out += c;
  }
  return quoted ? false : out;
}

/** What `git config -l -z` says: the exact answer when includes or -c options are in play. */
export function parseConfigList(z: string): Config {
  const config: Config = new Map();
  for (const item of z.split("\0")) {
    if (!item) continue;
    const nl = item.indexOf("\n");
    const key = (nl < 0 ? item : item.slice(0, nl)).toLowerCase();
    const list = config.get(key) ?? [];
    list.push(nl < 0 ? IMPLICIT_TRUE : item.slice(nl + 1));
    config.set(key, list);
  }
  return config;
}

export function configValue(config: Config, key: string): string | undefined {
  const v = config.get(key);
  return v?.[v.length - 1];
}

/** git's boolean: undefined when unset, null when not a boolean. */
export function configBool(config: Config, key: string): boolean | undefined | null {
  const v = configValue(config, key);
  if (v === undefined) return undefined;
  if (v === IMPLICIT_TRUE) return true;
  const s = v.toLowerCase();
  if (["true", "yes", "on"].includes(s)) return true;
  if (["false", "no", "off", ""].includes(s)) return false;
  return /^-?\d+$/.test(s) ? Number(s) !== 0 : null;
}

/**
 * Why the fast route cannot answer for this repository's configuration, or
 * null when it can. Settings that only matter when a file must be re-read
 * (autocrlf, attributes) are checked there, not here.
 */
const HARMLESS_INDEX_SETTINGS = [
  "index.threads",
  "index.version",
  "index.recordendofindexentries",
  "index.recordoffsettable",
];

export function unsupportedConfig(config: Config): string | null {
  for (const key of config.keys()) {
    if (key.startsWith("extensions.")) return key; // sha256, worktreeConfig, partial clones ...
    // index.* settings other than these change the index format or what it holds.
    if (key.startsWith("index.") && !HARMLESS_INDEX_SETTINGS.includes(key)) return key;
  }
  const checks: [string, boolean | undefined][] = [
    ["core.bare", false],
    ["core.filemode", true],
    ["core.symlinks", true],
    ["core.trustctime", true],
    ["core.sparsecheckout", false],
    ["core.splitindex", false],
  ];
  for (const [key, expected] of checks) {
    const v = configBool(config, key);
    if (v !== undefined && v !== expected) return key;
  }
  if (configValue(config, "core.worktree") !== undefined) return "core.worktree";
  const checkStat = configValue(config, "core.checkstat");
  if (checkStat !== undefined && checkStat !== "default") return "core.checkstat";
  const version = configValue(config, "core.repositoryformatversion");
  if (version !== undefined && version !== "0" && version !== "1") return "core.repositoryformatversion";
  return null;
}

/**
 * The user-level file git reads for a setting such as core.excludesFile or
 * core.attributesFile: the configured path (with ~/ expanded), else
 * $XDG_CONFIG_HOME/git/<xdgName> (or ~/.config/git/<xdgName>). "relative"
 * when the configured path is one git would resolve in ways we do not copy.
 */
export function userGitFile(
  config: Config,
  key: string,
  xdgName: string,
  env: Readonly<Record<string, string | undefined>>,
): string | null | "relative" {
  const home = env.HOME;
  const configured = configValue(config, key);
  if (configured !== undefined) {
    if (configured.startsWith("~/") && home) return `${home}${configured.slice(1)}`;
    if (configured.startsWith("/")) return configured;
    return "relative";
  }
  const xdg = env.XDG_CONFIG_HOME || (home ? `${home}/.config` : null);
  return xdg ? `${xdg}/git/${xdgName}` : null;
}
