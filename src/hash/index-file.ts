// Reading git's index file (versions 2-4) in-process, for the fast route. Only
// what `git add` compares is kept: each entry's stat data, mode, blob id,
// flags and path, plus the cache tree. Format: Documentation/gitformat-index.
// An index this reader does not fully understand (a split or sparse index, an
// unknown version) is reported as such and the caller falls back to git.
//
// Entries are sorted by path bytes, so the entries a pathspec can match are
// found by binary search (a literal path and the range below it, a wildcard's
// literal prefix), and the hot loops read fields by position — no object or
// string per entry.
import type { Stat } from "./native";

export interface IndexFile {
  version: number;
  count: number;
  /** The index file's mtime: entries modified at or after it are "racily clean". */
  mtimeSec: number;
  /** Why the fast route must not use this index, or null. */
  unsupported: string | null;
  /** Cache-tree: directory ("" = root, else "a/b") → tree id, or null where invalidated (parsed when first asked). */
  cacheTree(): Map<string, string | null>;
  /** The root's tree id from the cache tree (its first node, no full parse), or null. */
  rootTree(): string | null;
  /** The buffer holding every path: entry i's is paths[pathStart(i) .. pathStart(i) + pathLength(i)). */
  paths: Uint8Array;
  pathStart(i: number): number;
  pathLength(i: number): number;
  mode(i: number): number;
  sha(i: number): string;
  /** The index file's bytes: entry i's blob id is the 20 bytes at data[idAt(i)]. */
  data: Uint8Array;
  idAt(i: number): number;
  stage(i: number): number;
  /** assume-unchanged, skip-worktree or intent-to-add: git add treats these specially. */
  special(i: number): boolean;
  /**
   * Whether st still describes entry i's file: git's ie_match_stat, made stricter
   * (nanoseconds always compared; an entry modified in the second the index was
   * written, or smudged, counts as changed).
   */
  statClean(i: number, st: Stat): boolean;
  /** The entries a literal pathspec matches (root-relative bytes, "" = all; dirOnly: it ended in "/"), in order. */
  matching(spec: Uint8Array, dirOnly: boolean): Int32Array;
  /** [lo, hi): the entries (within [from, to)) whose paths start with prefix. */
  prefixRange(prefix: Uint8Array, from?: number, to?: number): [number, number];
  /**
   * Among entries [lo, hi), all below one directory whose path with its "/" is
   * `base` bytes long: whether it holds name (data[start .. start + len)) as a
   * file (its position), as a directory with entries below (CHILD_DIR), or not
   * (NOT_TRACKED).
   */
  child(lo: number, hi: number, base: number, data: Uint8Array, start: number, len: number): number;
}

const NOT_TRACKED = -1;
export const CHILD_DIR = -2;
const EMPTY_BLOB = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";

// Uint8Array.prototype.toHex: native in Bun, cheaper than a Buffer per call.
const hex = (b: Uint8Array, off: number, len = 20): string =>
  (b.subarray(off, off + len) as Uint8Array & { toHex(): string }).toHex();

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

interface EntryTables {
  /** Where each entry's stat data starts. */
  statOff: Int32Array;
  /** Where each entry's path is in paths, and its length. */
  pathOff: Int32Array;
  pathLen: Int32Array;
  paths: Uint8Array;
  /** Where the extensions start. */
  end: number;
}

/** Index v4's entries: each path compressed against the previous one, the full paths rebuilt here. */
function compressedEntries(buf: Uint8Array, count: number, end: number): EntryTables | string {
  const statOff = new Int32Array(count);
  const pathOff = new Int32Array(count);
  const pathLen = new Int32Array(count);
  let off = 12;
  let paths = new Uint8Array(Math.max(1024, buf.length * 2));
  let used = 0;
  for (let i = 0; i < count; i++) {
    if (off + 62 > end) return "truncated index";
    statOff[i] = off;
    let p = off + 62 + (buf[off + 60] & 0x40 ? 2 : 0);
    let c = buf[p++];
    let strip = c & 127;
    while (c & 128) {
      c = buf[p++];
      strip = ((strip + 1) << 7) | (c & 127);
    }
    const nul = buf.indexOf(0, p);
    const prevLen = i > 0 ? pathLen[i - 1] : 0;
    if (nul < 0 || strip > prevLen) return "bad path compression";
    const keep = prevLen - strip;
    const len = keep + (nul - p);
    if (used + len > paths.length) {
      const bigger = new Uint8Array((used + len) * 2);
      bigger.set(paths.subarray(0, used));
      paths = bigger;
    }
    if (i > 0) paths.copyWithin(used, pathOff[i - 1], pathOff[i - 1] + keep);
    paths.set(buf.subarray(p, nul), used + keep);
    pathOff[i] = used;
    pathLen[i] = len;
    used += len;
    off = nul + 1;
  }
  return { statOff, pathOff, pathLen, paths, end: off };
}

/** Index v2 and v3's entries, paths in place. */
function plainEntries(buf: Uint8Array, count: number, end: number): EntryTables | string {
  const statOff = new Int32Array(count);
  const pathOff = new Int32Array(count);
  const pathLen = new Int32Array(count);
  let off = 12;
  // Run once per index file, over every entry (100,000 in the big benchmark), mostly
  // before the JIT has compiled it: byte reads and three stores per entry — where its
  // stat data and its path are, which every binary search and walk then reads. The
  // name length is in the flags unless it is 0xFFF or more.
  for (let i = 0; i < count; i++) {
    statOff[i] = off;
    const hi = buf[off + 60];
    let len = ((hi & 0x0f) << 8) | buf[off + 61];
    const p = off + (hi & 0x40 ? 64 : 62);
    if (len === 0xfff) {
      len = buf.indexOf(0, p + len) - p;
      if (len < 0) return "truncated index";
    }
    pathOff[i] = p;
    pathLen[i] = len;
    off += (p - off + len + 8) & ~7; // entries are padded with NULs to a multiple of 8
  }
  if (off > end) return "truncated index";
  return { statOff, pathOff, pathLen, paths: buf, end: off };
}

/**
 * Whether entry i still holds for a file lstat gave st. git keeps the low 32 bits of each stat field; so does
 * the comparison.
 */
function statCleaner(buf: Uint8Array, statOff: Int32Array, mtimeSec: number, sha: (i: number) => string) {
  const u32 = (o: number) => ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
  return (i: number, st: Stat): boolean => {
    const o = statOff[i];
    const size = u32(o + 36);
    return (
      u32(o + 8) === st.mtimeSec >>> 0 &&
      u32(o + 12) === st.mtimeNsec &&
      u32(o) === st.ctimeSec >>> 0 &&
      u32(o + 4) === st.ctimeNsec &&
      u32(o + 20) === st.ino >>> 0 &&
      u32(o + 28) === st.uid &&
      u32(o + 32) === st.gid &&
      size === st.size >>> 0 &&
      // Modified in the second the index was written: git re-reads it, so do we.
      u32(o + 8) < mtimeSec >>> 0 &&
      // A "smudged" entry (size 0 for a non-empty blob) is always re-read.
      !(size === 0 && sha(i) !== EMPTY_BLOB)
    );
  };
}

/** The extensions after the entries: the cache tree's data, and one git requires us to understand, if any. */
function extensions(buf: Uint8Array, view: DataView, start: number, end: number) {
  let off = start;
  let unsupported: string | null = null;
  let treeData: Uint8Array | null = null;
  while (off + 8 <= end) {
    const sig = String.fromCharCode(buf[off], buf[off + 1], buf[off + 2], buf[off + 3]);
    const size = view.getUint32(off + 4);
    const data = buf.subarray(off + 8, off + 8 + size);
    if (sig === "TREE") treeData = data;
    // An extension whose name does not start with a capital letter must be understood
    // ("link": split index, "sdir": sparse index).
    else if (!(buf[off] >= 65 && buf[off] <= 90)) unsupported = `index extension ${sig}`;
    off += 8 + size;
  }
  return { unsupported, treeData };
}

/** Binary searches over the entries' sorted paths: by prefix, by pathspec, one name below a directory. */
function pathSearch(paths: Uint8Array, pOff: (i: number) => number, pLen: (i: number) => number, count: number) {
  /** Compares entry i's path from byte `skip` on with key[from .. from + len), looking only at its first len bytes. */
  const comparePrefix = (i: number, skip: number, key: Uint8Array, from: number, len: number): number => {
    const o = pOff(i) + skip;
    const have = pLen(i) - skip;
    const n = Math.min(have, len);
    for (let k = 0; k < n; k++) if (paths[o + k] !== key[from + k]) return paths[o + k] - key[from + k];
    return have < len ? -1 : 0;
  };
  /**
   * The first entry in [lo, hi) whose path from byte skip on is not below key's bytes as a prefix (cmp >= 0, or > 0
   * with after).
   */
  const search = (
    lo: number,
    hi: number,
    skip: number,
    key: Uint8Array,
    from: number,
    len: number,
    after: boolean,
  ): number => {
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = comparePrefix(mid, skip, key, from, len);
      if (c < 0 || (after && c === 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  const prefixRange = (prefix: Uint8Array, from = 0, to = count): [number, number] => {
    const lo = search(from, to, 0, prefix, 0, prefix.length, false);
    return [lo, search(lo, to, 0, prefix, 0, prefix.length, true)];
  };

  const matching = (spec: Uint8Array, dirOnly: boolean): Int32Array => {
    if (spec.length === 0) return Int32Array.from({ length: count }, (_, i) => i);
    // The entry named spec itself (all its stages) comes first among those starting
    // with spec's bytes; the ones below it ("spec/...") are contiguous after
    // siblings such as "spec-x" or "spec.txt", which the pathspec does not match.
    const [lo, hi] = prefixRange(spec);
    let exact = lo;
    if (!dirOnly) while (exact < hi && pLen(exact) === spec.length) exact++;
    const below = new Uint8Array(spec.length + 1);
    below.set(spec);
    below[spec.length] = 47; // "/"
    const [dlo, dhi] = prefixRange(below, exact, hi);
    const out = new Int32Array(exact - lo + dhi - dlo);
    let k = 0;
    for (let i = lo; i < exact; i++) out[k++] = i;
    for (let i = dlo; i < dhi; i++) out[k++] = i;
    return out;
  };

  const child = (lo: number, hi: number, base: number, data: Uint8Array, start: number, len: number): number => {
    lo = search(lo, hi, base, data, start, len, false);
    if (lo >= hi || comparePrefix(lo, base, data, start, len) !== 0) return NOT_TRACKED;
    if (pLen(lo) === base + len) return lo;
    // The entries starting with name are sorted by the byte after it: siblings such
    // as "name.x" (below "/"), then "name/..." (the directory), then "name0...".
    const end = search(lo, hi, base, data, start, len, true);
    const at = base + len;
    let a = lo;
    let b = end;
    while (a < b) {
      const mid = (a + b) >> 1;
      if (paths[pOff(mid) + at] < 47) a = mid + 1;
      else b = mid;
    }
    return a < end && paths[pOff(a) + at] === 47 ? CHILD_DIR : NOT_TRACKED;
  };
  return { matching, prefixRange, child };
}

export function parseIndex(buf: Uint8Array, mtimeSec: number): IndexFile | string {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 32 || view.getUint32(0) !== 0x44495243 /* DIRC */) return "not an index file";
  const version = view.getUint32(4);
  if (version < 2 || version > 4) return `index version ${version}`;
  const count = view.getUint32(8);
  const end = buf.length - 20; // the trailing checksum
  const entries = version === 4 ? compressedEntries(buf, count, end) : plainEntries(buf, count, end);
  if (typeof entries === "string") return entries;
  const { statOff, pathOff, pathLen, paths } = entries;
  const pOff = (i: number) => pathOff[i];
  const pLen = (i: number) => pathLen[i];

  const { unsupported, treeData } = extensions(buf, view, entries.end, end);

  const u32 = (o: number) => ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
  const flags = (i: number) => (buf[statOff[i] + 60] << 8) | buf[statOff[i] + 61];
  const mode = (i: number) => u32(statOff[i] + 24);
  const sha = (i: number) => hex(buf, statOff[i] + 40);
  const stage = (i: number) => (flags(i) >> 12) & 3;
  const special = (i: number) => {
    const f = flags(i);
    const o = statOff[i];
    return (f & 0x8000) !== 0 || (f & 0x4000 ? ((buf[o + 62] << 8) | buf[o + 63]) & 0x6000 : 0) !== 0;
  };

  const statClean = statCleaner(buf, statOff, mtimeSec, sha);

  const { matching, prefixRange, child } = pathSearch(paths, pOff, pLen, count);

  let tree: Map<string, string | null> | null = null;
  const cacheTree = () => {
    if (!tree) {
      tree = new Map();
      if (treeData) parseCacheTree(treeData, tree);
    }
    return tree;
  };

  const rootTree = () => {
    // The root node comes first: "\0<entries> <subtrees>\n<id>", entries -1 when invalidated.
    if (treeData?.[0] !== 0 || treeData[1] === 45 /* - */) return null;
    const nl = treeData.indexOf(10);
    return nl > 0 && nl + 21 <= treeData.length ? hex(treeData, nl + 1) : null;
  };

  return {
    version,
    count,
    mtimeSec,
    unsupported,
    cacheTree,
    rootTree,
    paths,
    pathStart: pOff,
    pathLength: pLen,
    mode,
    sha,
    data: buf,
    idAt: (i: number) => statOff[i] + 40,
    stage,
    special,
    statClean,
    matching,
    prefixRange,
    child,
  };
}

function parseCacheTree(data: Uint8Array, into: Map<string, string | null>): void {
  // Pre-order nodes: "<name>\0<entry count> <subtree count>\n" then, when the
  // count is not -1 (invalidated), the tree id.
  let off = 0;
  const number = () => {
    let neg = false;
    let v = 0;
    if (data[off] === 45) {
      neg = true;
      off++;
    }
    while (data[off] >= 48 && data[off] <= 57) v = v * 10 + data[off++] - 48;
    off++; // the space or newline after it
    return neg ? -v : v;
  };
  const node = (prefix: string) => {
    const nul = data.indexOf(0, off);
    if (nul < 0) throw new Error("bad cache tree");
    let name = "";
    for (let i = off; i < nul; i++) name += String.fromCharCode(data[i]);
    off = nul + 1;
    const entries = number();
    const subtrees = number();
    const path = prefix === "" ? name : `${prefix}/${name}`;
    if (entries >= 0) {
      into.set(path, hex(data, off));
      off += 20;
    } else into.set(path, null);
    for (let i = 0; i < subtrees; i++) node(path);
  };
  try {
    if (data.length > 0) node("");
  } catch {
    into.clear(); // damaged: as if there were no cache tree, which only costs a git call
  }
}
