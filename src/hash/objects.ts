// Reading HEAD's trees in-process (loose objects and pack files, with deltas),
// so that "are there staged changes under these paths?" needs no git process
// when the index's cache tree can answer it. Format: Documentation/gitformat-pack.
// Any surprise (alternates, a missing object, a bad pack) → null, and the
// caller asks git.
import { entryName, native } from "./native";
import { bytes, readText, type Repo } from "./repo";

export interface TreeEntry {
  mode: number;
  sha: string;
}

interface Pack {
  idx: number;
  pack: number;
  fanout: DataView;
}

export class ObjectReader {
  private packs: Pack[] | null = null;

  constructor(private readonly repo: Repo) {}

  /** HEAD's commit id; "unborn" on a branch with no commits; null when unsure. */
  head(): string | "unborn" | null {
    const head = readText(`${this.repo.gitDir}/HEAD`)?.trim();
    if (!head) return null;
    if (/^[0-9a-f]{40}$/.test(head)) return head;
    const ref = head.match(/^ref: (refs\/heads\/\S+)$/)?.[1];
    if (!ref) return null;
    const packed = readText(`${this.repo.commonDir}/packed-refs`) ?? "";
    // Replacement objects (git replace) would change which commit git reads.
    if (
      packed.includes(" refs/replace/") ||
      (native()!.readdir(bytes(`${this.repo.commonDir}/refs/replace`))?.count ?? 0) > 0
    )
      return null;
    const loose = readText(`${this.repo.commonDir}/${ref}`)?.trim();
    if (loose) return /^[0-9a-f]{40}$/.test(loose) ? loose : null;
    for (const line of packed.split("\n")) if (line.endsWith(` ${ref}`)) return line.slice(0, 40);
    return "unborn";
  }

  /** The tree of HEAD's commit, or null. */
  headTree(commit: string): string | null {
    const obj = this.read(commit);
    if (obj?.type !== "commit") return null;
    const m = Buffer.from(obj.data.subarray(0, 64))
      .toString("latin1")
      .match(/^tree ([0-9a-f]{40})\n/);
    return m ? m[1] : null;
  }

  /** The entry at path (bytes, root-relative, "" = the root tree itself) below tree; "absent" if there is none. */
  lookup(tree: string, path: Uint8Array): TreeEntry | "absent" | null {
    let current: TreeEntry = { mode: 0o40000, sha: tree };
    let start = 0;
    while (start < path.length) {
      if (current.mode !== 0o40000) return "absent";
      let end = path.indexOf(47, start);
      if (end < 0) end = path.length;
      const obj = this.read(current.sha);
      if (obj?.type !== "tree") return null;
      const found = findInTree(obj.data, path.subarray(start, end));
      if (!found) return "absent";
      current = found;
      start = end + 1;
    }
    return current;
  }

  close(): void {
    const n = native();
    for (const p of this.packs ?? []) {
      n?.close(p.idx);
      n?.close(p.pack);
    }
    this.packs = null;
  }

  read(sha: string): { type: string; data: Uint8Array } | null {
    const n = native()!;
    const loose = n.readFile(bytes(`${this.repo.commonDir}/objects/${sha.slice(0, 2)}/${sha.slice(2)}`));
    if (loose) {
      const raw = inflate(loose);
      const nul = raw?.indexOf(0) ?? -1;
      if (!raw || nul < 0) return null;
      const type = Buffer.from(raw.subarray(0, nul)).toString("latin1").split(" ")[0];
      return { type, data: raw.subarray(nul + 1) };
    }
    const want = Buffer.from(sha, "hex");
    for (const pack of this.openPacks()) {
      const offset = findInIdx(pack, want);
      if (offset !== null) return readPacked(this, pack, offset, 0);
    }
    return null;
  }

  private openPacks(): Pack[] {
    if (this.packs) return this.packs;
    const n = native()!;
    const dir = `${this.repo.commonDir}/objects/pack`;
    this.packs = [];
    if (readText(`${this.repo.commonDir}/objects/info/alternates`) !== null) return this.packs;
    const list = n.readdir(bytes(dir));
    for (let i = 0; list && i < list.count; i++) {
      const file = entryName(list, i);
      if (!file.endsWith(".idx")) continue;
      const idx = n.open(bytes(`${dir}/${file}`));
      const pack = n.open(bytes(`${dir}/${file.slice(0, -4)}.pack`));
      const head = idx === null ? null : n.pread(idx, 8 + 1024, 0);
      const v = head && new DataView(head.buffer, head.byteOffset, head.byteLength);
      if (
        idx === null ||
        pack === null ||
        !head ||
        !v ||
        head.length < 1032 ||
        v.getUint32(0) !== 0xff744f63 ||
        v.getUint32(4) !== 2
      ) {
        // Not a version-2 index (or a pack being replaced): its objects are not found here.
        if (idx !== null) n.close(idx);
        if (pack !== null) n.close(pack);
        continue;
      }
      this.packs.push({ idx, pack, fanout: new DataView(head.buffer, head.byteOffset + 8, 1024) });
    }
    return this.packs;
  }
}

function inflate(data: Uint8Array): Uint8Array | null {
  try {
    return Bun.inflateSync(data as Uint8Array<ArrayBuffer>, { windowBits: 15 } as never);
  } catch {
    return null; // truncated or damaged: the caller reads more, or gives up
  }
}

function findInTree(tree: Uint8Array, name: Uint8Array): TreeEntry | null {
  let off = 0;
  while (off < tree.length) {
    const sp = tree.indexOf(32, off);
    const nul = tree.indexOf(0, sp);
    if (sp < 0 || nul < 0) return null;
    const len = nul - sp - 1;
    if (len === name.length && tree.subarray(sp + 1, nul).every((b, i) => b === name[i])) {
      const mode = Number.parseInt(Buffer.from(tree.subarray(off, sp)).toString("latin1"), 8);
      return { mode, sha: Buffer.from(tree.subarray(nul + 1, nul + 21)).toString("hex") };
    }
    off = nul + 21;
  }
  return null;
}

function findInIdx(pack: Pack, sha: Uint8Array): number | null {
  const n = native()!;
  const total = pack.fanout.getUint32(255 * 4);
  let lo = sha[0] === 0 ? 0 : pack.fanout.getUint32((sha[0] - 1) * 4);
  let hi = pack.fanout.getUint32(sha[0] * 4);
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const probe = n.pread(pack.idx, 20, 1032 + mid * 20);
    const c = Buffer.compare(probe, sha);
    if (c === 0) {
      const o = n.pread(pack.idx, 4, 1032 + total * 24 + mid * 4);
      const small = new DataView(o.buffer).getUint32(0);
      if (!(small & 0x80000000)) return small;
      const big = n.pread(pack.idx, 8, 1032 + total * 28 + (small & 0x7fffffff) * 8);
      return Number(new DataView(big.buffer).getBigUint64(0));
    }
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return null;
}

const TYPES = ["", "commit", "tree", "blob", "tag"];

function readPacked(
  reader: ObjectReader,
  pack: Pack,
  offset: number,
  depth: number,
): { type: string; data: Uint8Array } | null {
  if (depth > 100) return null;
  const n = native()!;
  const head = n.pread(pack.pack, 32, offset);
  let p = 0;
  let c = head[p++];
  const type = (c >> 4) & 7;
  let size = c & 15;
  for (let shift = 4; c & 0x80; shift += 7) {
    c = head[p++];
    size += (c & 0x7f) * 2 ** shift;
  }
  let base: { type: string; data: Uint8Array } | null = null;
  if (type === 6) {
    c = head[p++];
    let rel = c & 127;
    while (c & 128) {
      c = head[p++];
      rel = (rel + 1) * 128 + (c & 127);
    }
    base = readPacked(reader, pack, offset - rel, depth + 1);
  } else if (type === 7) {
    base = reader.read(Buffer.from(head.subarray(p, p + 20)).toString("hex"));
    p += 20;
  } else if (!TYPES[type]) return null;
  if ((type === 6 || type === 7) && !base) return null;
  // The compressed length is not stored; read generously, more if it was not enough.
  let data: Uint8Array | null = null;
  for (let want = size + 1024; !data && want < size * 8 + 65536; want *= 4) {
    data = inflate(n.pread(pack.pack, want, offset + p));
  }
  if (!data || data.length !== size) return null;
  if (!base) return { type: TYPES[type], data };
  const patched = applyDelta(base.data, data);
  return patched ? { type: base.type, data: patched } : null;
}

function applyDelta(base: Uint8Array, delta: Uint8Array): Uint8Array | null {
  let p = 0;
  const varint = () => {
    let v = 0;
    let shift = 0;
    let c: number;
    do {
      c = delta[p++];
      v += (c & 0x7f) * 2 ** shift;
      shift += 7;
    } while (c & 0x80);
    return v;
  };
  if (varint() !== base.length) return null;
  const out = new Uint8Array(varint());
  let o = 0;
  while (p < delta.length) {
    const op = delta[p++];
    if (op & 0x80) {
      let off = 0;
      let len = 0;
      for (let bit = 0; bit < 4; bit++) if (op & (1 << bit)) off += delta[p++] * 2 ** (8 * bit);
      for (let bit = 0; bit < 3; bit++) if (op & (0x10 << bit)) len += delta[p++] * 2 ** (8 * bit);
      if (len === 0) len = 0x10000;
      if (off + len > base.length || o + len > out.length) return null;
      out.set(base.subarray(off, off + len), o);
      o += len;
    } else if (op) {
      if (o + op > out.length) return null;
      out.set(delta.subarray(p, p + op), o);
      o += op;
      p += op;
    } else return null;
  }
  return o === out.length ? out : null;
}
