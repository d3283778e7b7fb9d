// Which paths git ignores (dir.c, wildmatch.c), for the fast route: `git add`
// skips ignored untracked files, and fails outright when a pathspec names an
// ignored directory. Sources, highest precedence first: .gitignore files from
// the path's directory up to the root, $GIT_DIR/info/exclude, core.excludesFile.
// Within one file the last matching pattern wins; nothing below an ignored
// directory can be re-included. Constructs this module does not reproduce
// ([:class:] sets, case folding with [...]) throw Unsure, and the caller falls back.
import { native, S_IFLNK, S_IFMT } from "./native";
import { bytes } from "./repo";

export class Unsure extends Error {}

interface Pattern {
  text: Uint8Array; // without "!" and the trailing "/"
  negative: boolean;
  mustBeDir: boolean;
  basenameOnly: boolean; // no "/" in it: matched against the last path component
  base: string; // directory of the .gitignore, "" or "a/b/"
}

const MATCH = 0;
const NOMATCH = 1;
const ABORT_ALL = -1;
const ABORT_TO_STARSTAR = -2;
const SLASH = 47;
const isGlobSpecial = (c: number) => c === 42 || c === 63 || c === 91 || c === 92; // * ? [ \

/** git's wildmatch (dowild), on bytes; `pathname` = WM_PATHNAME. A byte past the end reads as 0. */
function dowild(p: Uint8Array, pi: number, t: Uint8Array, ti: number, pathname: boolean): number {
  const at = (a: Uint8Array, i: number) => (i < a.length ? a[i] : 0);
  for (; pi < p.length; ti++, pi++) {
    let pc = p[pi];
    let tc = at(t, ti);
    if (tc === 0 && pc !== 42) return ABORT_ALL;
    switch (pc) {
      case 92: // backslash: the next byte literally
        pc = at(p, ++pi);
        if (tc !== pc) return NOMATCH;
        continue;
      case 63: // ?
        if (pathname && tc === SLASH) return NOMATCH;
        continue;
      case 42: {
        let matchSlash: boolean;
        if (at(p, ++pi) === 42) {
          const prev = pi - 2;
          while (at(p, ++pi) === 42) {}
          if (
            (prev < 0 || p[prev] === SLASH) &&
            (at(p, pi) === 0 || at(p, pi) === SLASH || (at(p, pi) === 92 && at(p, pi + 1) === SLASH))
          ) {
            if (at(p, pi) === SLASH && dowild(p, pi + 1, t, ti, pathname) === MATCH) return MATCH;
            matchSlash = true;
          } else matchSlash = false;
        } else matchSlash = !pathname;
        if (pi >= p.length) {
          if (!matchSlash && t.indexOf(SLASH, ti) >= 0) return NOMATCH;
          return MATCH;
        }
        if (!matchSlash && p[pi] === SLASH) {
          const slash = t.indexOf(SLASH, ti);
          if (slash < 0) return NOMATCH;
          ti = slash;
          break; // the slash is consumed by the loop
        }
        for (;;) {
          if (tc === 0) break;
          if (!isGlobSpecial(p[pi])) {
            const want = p[pi];
            while ((tc = at(t, ti)) !== 0 && (matchSlash || tc !== SLASH)) {
              if (tc === want) break;
              ti++;
            }
            if (tc !== want) return NOMATCH;
          }
          const m = dowild(p, pi, t, ti, pathname);
          if (m !== NOMATCH) {
            if (!matchSlash || m !== ABORT_TO_STARSTAR) return m;
          } else if (!matchSlash && tc === SLASH) return ABORT_TO_STARSTAR;
          tc = at(t, ++ti);
        }
        return ABORT_ALL;
      }
      case 91: {
        pc = at(p, ++pi);
        if (pc === 94) pc = 33; // ^ → !
        const negated = pc === 33;
        if (negated) pc = at(p, ++pi);
        let prev = 0;
        let matched = false;
        do {
          if (!pc) return ABORT_ALL;
          if (pc === 92) {
            pc = at(p, ++pi);
            if (!pc) return ABORT_ALL;
            if (tc === pc) matched = true;
          } else if (pc === 45 && prev && at(p, pi + 1) && at(p, pi + 1) !== 93) {
            pc = at(p, ++pi);
            if (pc === 92) {
              pc = at(p, ++pi);
              if (!pc) return ABORT_ALL;
            }
            if (tc <= pc && tc >= prev) matched = true;
            pc = 0;
          } else if (pc === 91 && at(p, pi + 1) === 58) {
            throw new Unsure("a [:class:] in an ignore pattern");
          } else if (tc === pc) matched = true;
          prev = pc;
          pc = at(p, ++pi);
        } while (pc !== 93);
        if (matched === negated || (pathname && tc === SLASH)) return NOMATCH;
        continue;
      }
      default:
        if (tc !== pc) return NOMATCH;
    }
  }
  return ti < t.length ? NOMATCH : MATCH;
}

export function wildmatch(pattern: Uint8Array, text: Uint8Array, pathname: boolean): boolean {
  return dowild(pattern, 0, text, 0, pathname) === MATCH;
}

/** Patterns of one ignore file (add_patterns_from_buffer, trim_trailing_spaces, parse_path_pattern). */
export function parsePatterns(data: Uint8Array, base: string, foldCase: boolean): Pattern[] {
  let start = data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf ? 3 : 0;
  const out: Pattern[] = [];
  while (start < data.length) {
    let end = data.indexOf(10, start);
    if (end < 0) end = data.length;
    let line = data.subarray(start, end > start && data[end - 1] === 13 ? end - 1 : end);
    start = end + 1;
    if (line.length === 0 || line[0] === 35 /* # */) continue;
    let lastSpace = -1;
    for (let i = 0; i < line.length; i++) {
      if (line[i] === 32) {
        if (lastSpace < 0) lastSpace = i;
      } else if (line[i] === 92) {
        i++;
        lastSpace = -1;
      } else lastSpace = -1;
    }
    if (lastSpace >= 0) line = line.subarray(0, lastSpace);
    const negative = line[0] === 33;
    if (negative) line = line.subarray(1);
    const mustBeDir = line.length > 0 && line[line.length - 1] === SLASH;
    if (mustBeDir) line = line.subarray(0, line.length - 1);
    if (foldCase) {
      if (line.includes(91)) throw new Unsure("a [...] set with core.ignoreCase");
      line = lowerAscii(line);
    }
    out.push({ text: line, negative, mustBeDir, basenameOnly: !line.includes(SLASH), base });
  }
  return out;
}

function lowerAscii(b: Uint8Array): Uint8Array {
  return b.map((c) => (c >= 65 && c <= 90 ? c + 32 : c));
}

export class IgnoreRules {
  private perDir = new Map<string, Pattern[]>();
  private global: Pattern[][];

  /** globalFiles: info/exclude, then core.excludesFile (contents, or null when absent). */
  private readonly rootPrefix: Uint8Array;

  constructor(
    root: string,
    globalFiles: (Uint8Array | null)[],
    private readonly foldCase: boolean,
  ) {
    this.rootPrefix = bytes(`${root}/`);
    this.global = globalFiles.filter((f): f is Uint8Array => f !== null).map((f) => parsePatterns(f, "", foldCase));
  }

  private dirPatterns(dir: string): Pattern[] {
    let list = this.perDir.get(dir);
    if (!list) {
      const file = Buffer.concat([this.rootPrefix, Buffer.from(`${dir}.gitignore`, "latin1")]);
      const n = native()!;
      // git does not follow a symlinked .gitignore inside the work tree (2.32+).
      if (((n.lstat(file)?.mode ?? 0) & S_IFMT) === S_IFLNK) throw new Unsure(`${dir}.gitignore is a symbolic link`);
      const data = n.readFile(file);
      list = data ? parsePatterns(data, dir, this.foldCase) : [];
      this.perDir.set(dir, list);
    }
    return list;
  }

  /**
   * Whether `path` ("a/b/c", latin1-decoded bytes) is ignored by its own patterns —
   * the caller checks its leading directories first, as git's walk does.
   */
  excluded(path: string, isDir: boolean): boolean {
    const raw = Buffer.from(path, "latin1");
    const text = this.foldCase ? lowerAscii(raw) : raw;
    const slash = path.lastIndexOf("/");
    const name = text.subarray(slash + 1);
    // Deepest .gitignore first, then info/exclude, then core.excludesFile.
    const lists: Pattern[][] = [];
    for (let i = slash; i > 0; i = path.lastIndexOf("/", i - 1)) lists.push(this.dirPatterns(path.slice(0, i + 1)));
    lists.push(this.dirPatterns(""), ...this.global);
    for (const list of lists) {
      for (let i = list.length - 1; i >= 0; i--) {
        const p = list[i];
        if (p.mustBeDir && !isDir) continue;
        let hit: boolean;
        if (p.basenameOnly) hit = wildmatch(p.text, name, false);
        else {
          const rest = text.subarray(p.base.length);
          const pat = p.text[0] === SLASH ? p.text.subarray(1) : p.text;
          hit = wildmatch(pat, rest, true);
        }
        if (hit) return !p.negative;
      }
    }
    return false;
  }

  /** `excluded` for path and every leading directory of it, as git's directory walk meets them. */
  excludedOnTheWay(path: string, isDir: boolean): boolean {
    for (let i = path.indexOf("/"); i >= 0; i = path.indexOf("/", i + 1)) {
      if (this.excluded(path.slice(0, i), true)) return true;
    }
    return this.excluded(path, isDir);
  }
}
