// Extracting a tar stream into a fresh, empty directory: the decisions. The
// system calls are write-pool.ts's, on worker threads for all but small archives.
//
// node-tar's unpacker spent more main-thread time than GNU tar's whole run
// (an mkdir and lstat per member to guard against what may already be on
// disk, a stream hop per piece); restores were at 0.4–0.5× of
// `zstd -dc | tar -x`. Here the directory is new and only we write to it, so
// what exists is exactly what we made: a map of member kinds answers every
// safety question without a system call. Headers are decoded by node-tar's
// rules (tar-header.ts, Pax), so the formats read are node-tar's: ustar, pax,
// GNU long names.
//
// Refused, as errors (never skipped): names with "..", absolute names,
// anything written below a symlink or a file, hard links to anything but an
// earlier member, devices, FIFOs and other special types. A symlink's target
// is data: kept as archived (absolute, or leaving the tree), never followed.
// Setuid/setgid bits are dropped.
import { Pax } from "tar";
import { ArchiveError } from "./store";
import { decodeHeader } from "./tar-header";
import { decodeName } from "../sys/byte-names";
import type { WritePool } from "./write-pool";

/** What extraction cannot get right by itself, reapplied once everything is in place (restore.ts). */
export interface EntryMeta {
  type: "Directory" | "SymbolicLink" | "File";
  mode: number;
  mtime: Date | undefined;
  /** mkdir gave the directory exactly this mode in staging: restore.ts skips its chmod if it moves in whole. */
  modeMade?: boolean;
}

type Kind = "dir" | "file" | "symlink";
type State = "header" | "data" | "meta" | "skip";

/** Pax and GNU long-name bodies larger than this are refused. */
const MAX_META = 1 << 20;

export class TarExtractor {
  /** Members whose mode or mtime restoreInto must reapply, by normalised path ("" = the root). */
  readonly meta = new Map<string, EntryMeta>();
  private readonly kinds = new Map<string, Kind>();
  private readonly umask = process.umask();
  private state: State = "header";
  private header = Buffer.alloc(512);
  private headerLen = 0;
  private offset = 0; // of the next byte in the tar stream, for messages
  private remaining = 0; // bytes left in the current member (data, meta or padding)
  private pad = 0;
  private mtime: Date | undefined;
  private metaType = "";
  private metaParts: Buffer[] = [];
  private ex: Record<string, unknown> | undefined;
  private gex: Record<string, unknown> | undefined;
  private zeroBlocks = 0;
  private ended = false;
  /** A directory whose every part is known to be a directory we made (prepare). */
  private checkedDir: string | null = null;

  /** `stamp`: every member's mtime, in place of the archived ones (restore.ts). */
  constructor(
    private readonly dir: string,
    private readonly files: WritePool,
    private readonly stamp?: Date,
  ) {}

  /** Extracts the next piece of the tar stream. Throws ArchiveError for a bad or hostile archive. */
  write(piece: Buffer): void {
    let off = 0;
    while (off < piece.length && !this.ended) {
      if (this.state === "header") {
        const n = Math.min(512 - this.headerLen, piece.length - off);
        let block: Buffer;
        if (this.headerLen === 0 && n === 512) {
          block = piece.subarray(off, off + 512);
        } else {
          piece.copy(this.header, this.headerLen, off, off + n);
          this.headerLen += n;
          if (this.headerLen < 512) return;
          block = this.header;
        }
        off += n;
        this.headerLen = 0;
        this.onHeader(block);
        this.offset += 512;
        continue;
      }
      const n = Math.min(this.remaining, piece.length - off);
      if (this.state === "data") this.writeData(piece.subarray(off, off + n));
      else if (this.state === "meta") this.metaParts.push(Buffer.from(piece.subarray(off, off + n)));
      off += n;
      this.offset += n;
      this.remaining -= n;
      if (this.remaining === 0) this.endOfMember();
    }
  }

  /** After the last piece: throws unless the archive ended properly (two zero blocks). */
  end(): Map<string, EntryMeta> {
    if (!this.ended) throw new ArchiveError("archive is truncated (no end-of-archive marker)");
    return this.meta;
  }

  // onHeader runs for every member: it stays small (each kind of member in a
  // method of its own, the rare ones never compiled with it), which halved the
  // time JavaScriptCore spends optimising it (bench/README.md).
  private onHeader(block: Buffer): void {
    const h = decodeHeader(block, this.ex, this.gex);
    if (h.nullBlock) {
      if (++this.zeroBlocks === 2) this.ended = true;
      return;
    }
    this.zeroBlocks = 0;
    if (!h.cksumValid) throw new ArchiveError(`bad archive: header checksum mismatch at byte ${this.offset}`);
    const type = h.type;
    if (
      type === "ExtendedHeader" ||
      type === "GlobalExtendedHeader" ||
      type === "NextFileHasLongPath" ||
      type === "OldGnuLongPath" ||
      type === "NextFileHasLongLinkpath"
    ) {
      return this.onMetaHeader(type, h.size);
    }
    // Pax and GNU long names describe this member only.
    const ex = this.ex as { path?: string; linkpath?: string } | undefined;
    const rawPath = ex?.path ?? h.path;
    const linkpath = ex?.linkpath ?? (this.gex as { linkpath?: string } | undefined)?.linkpath ?? h.linkpath;
    this.ex = undefined;
    // No file name holds one: the system calls would take the name as ending there.
    if (rawPath.includes("\0") || linkpath.includes("\0")) throw nulInName(rawPath);
    const rel = memberPath(rawPath);
    const mode = (h.mode ?? 0o644) & 0o7777 & ~0o6000;
    const mtime = this.stamp ?? h.mtime;
    switch (type) {
      case "File":
      case "OldFile":
      case "ContiguousFile":
        return this.onFile(rawPath, rel, mode, mtime, h.size);
      case "Directory":
      case "GNUDumpDir":
        return this.onDirectory(rel, mode, mtime, type === "GNUDumpDir" ? h.size : 0);
      case "SymbolicLink":
        return this.onSymlink(rawPath, rel, linkpath, mode, mtime, h.size);
      case "Link":
        return this.onLink(rawPath, rel, linkpath, h.size);
      default:
        throw refused(rawPath, `unsupported member type ${type ?? "unknown"}`);
    }
  }

  private onMetaHeader(type: string, size: number): void {
    if (size > MAX_META) throw new ArchiveError(`bad archive: ${size}-byte ${type} at byte ${this.offset}`);
    this.startMember("meta", size);
    this.metaType = type;
  }

  private onFile(rawPath: string, rel: string, mode: number, mtime: Date | undefined, size: number): void {
    if (!rel) throw refused(rawPath, "a file in place of the extraction directory");
    this.prepare(rel, "file");
    this.files.openFile(this.path(rel), mode);
    this.kinds.set(rel, "file");
    this.mtime = mtime;
    if ((mode & this.umask) !== 0) this.meta.set(rel, { type: "File", mode, mtime });
    this.startMember("data", size);
  }

  private onDirectory(rel: string, mode: number, mtime: Date | undefined, size: number): void {
    if (rel) {
      this.prepare(rel, "dir");
      if (this.kinds.get(rel) !== "dir") this.files.mkdir(this.path(rel), mode | 0o700);
      this.kinds.set(rel, "dir");
    }
    this.meta.set(rel, { type: "Directory", mode, mtime, modeMade: rel !== "" && this.makesMode(mode) });
    this.startMember("skip", size);
  }

  private onSymlink(
    rawPath: string,
    rel: string,
    linkpath: string,
    mode: number,
    mtime: Date | undefined,
    size: number,
  ): void {
    if (!rel) throw refused(rawPath, "a symlink in place of the extraction directory");
    this.prepare(rel, "symlink");
    this.files.symlink(this.path(rel), linkpath);
    this.kinds.set(rel, "symlink");
    this.meta.set(rel, { type: "SymbolicLink", mode, mtime });
    this.startMember("skip", size);
  }

  private onLink(rawPath: string, rel: string, linkpath: string, size: number): void {
    if (!rel) throw refused(rawPath, "a hard link in place of the extraction directory");
    if (linkpath.startsWith("/") || linkpath.split("/").includes(".."))
      throw refused(rawPath, `hard link to ${linkpath} leaves the archive`);
    const target = memberPath(linkpath);
    const targetKind = this.kinds.get(target);
    if (targetKind !== "file" && targetKind !== "symlink")
      throw refused(rawPath, `hard link to ${linkpath}, which is not an earlier member`);
    // A member linked to itself: `tar -c out out/f` archives out/f twice, the second time so
    // when it has other links. GNU tar takes it as done (the file is there); so do we.
    if (target === rel) return this.startMember("skip", size);
    this.prepare(rel, targetKind);
    this.files.link(this.path(target), this.path(rel));
    this.kinds.set(rel, targetKind);
    this.startMember("skip", size);
  }

  /**
   * Whether a directory of this mode comes out of mkdir with exactly it: made
   * by its own member (mode | 0o700, less the umask) or, on several workers,
   * first by a worker that needed it for a member inside (0o777 less the umask;
   * write-pool.ts). Most are 0o755 under the umask 022.
   */
  private makesMode(mode: number): boolean {
    return mode === (0o777 & ~this.umask) && ((mode | 0o700) & ~this.umask) === mode;
  }

  private startMember(state: State, size: number): void {
    this.state = size > 0 ? state : "header";
    this.remaining = size;
    this.pad = (512 - (size % 512)) % 512;
    if (size === 0 && state === "data") this.finishFile();
  }

  private endOfMember(): void {
    if (this.state === "data") this.finishFile();
    else if (this.state === "meta") this.applyMeta();
    if (this.pad > 0) {
      this.state = "skip";
      this.remaining = this.pad;
      this.pad = 0;
      return;
    }
    this.pad = 0;
    this.state = "header";
  }

  private writeData(bytes: Buffer): void {
    this.files.write(bytes);
  }

  private finishFile(): void {
    this.files.closeFile(this.mtime);
  }

  private applyMeta(): void {
    const body = Buffer.concat(this.metaParts);
    this.metaParts = [];
    const ex = (this.ex ?? {}) as Record<string, unknown>;
    if (this.metaType === "ExtendedHeader") this.ex = parsePax(body, ex, false);
    else if (this.metaType === "GlobalExtendedHeader") this.gex = parsePax(body, this.gex, true);
    else if (this.metaType === "NextFileHasLongLinkpath") this.ex = { ...ex, linkpath: untilNul(body) };
    else this.ex = { ...ex, path: untilNul(body) };
    for (const bag of [this.ex, this.gex]) {
      // Pax.parse returns every field, most of them undefined: keep only the set ones.
      if (bag) for (const k of Object.keys(bag)) if (bag[k] === undefined) delete bag[k];
    }
  }

  /**
   * Makes room for a member of `kind` at `rel`: every parent must be a
   * directory we made (created now if the archive only implies it), and
   * whatever an earlier member put at `rel` itself goes, unless both are
   * directories.
   */
  private prepare(rel: string, kind: Kind): void {
    const dir = rel.slice(0, Math.max(0, rel.lastIndexOf("/")));
    // Members come directory by directory: most have the last one's parent, checked already.
    if (dir !== this.checkedDir) {
      for (let end = rel.indexOf("/"); end > 0; end = rel.indexOf("/", end + 1)) {
        const parent = rel.slice(0, end);
        const k = this.kinds.get(parent);
        if (k === "dir") continue;
        if (k === "symlink")
          throw new ArchiveError(`bad archive: member ${rel} would be written through the symlink ${parent}`);
        if (k === "file") throw new ArchiveError(`bad archive: member ${rel} is below the file ${parent}`);
        this.files.mkdir(this.path(parent), 0o777);
        this.kinds.set(parent, "dir");
      }
      this.checkedDir = dir;
    }
    const existing = this.kinds.get(rel);
    if (existing === undefined || (existing === "dir" && kind === "dir")) return;
    // A later member with the same name replaces the earlier one, as with tar -x.
    this.files.remove(this.path(rel));
    for (const key of [...this.kinds.keys()]) if (key === rel || key.startsWith(`${rel}/`)) this.kinds.delete(key);
    for (const key of [...this.meta.keys()]) if (key === rel || key.startsWith(`${rel}/`)) this.meta.delete(key);
    this.checkedDir = null;
  }

  /** The member's path on disk; `rel` is normalised (memberPath). */
  private path(rel: string): string {
    return rel ? `${this.dir}/${rel}` : this.dir;
  }
}

function refused(rawPath: string, why: string): ArchiveError {
  return new ArchiveError(`bad archive: member ${rawPath}: ${why}`);
}

function nulInName(rawPath: string): ArchiveError {
  return new ArchiveError(`bad archive: member ${JSON.stringify(rawPath)}: a NUL byte in its name or link target`);
}

/** A GNU long name: its bytes up to the first NUL (sys/byte-names.ts). */
function untilNul(body: Buffer): string {
  const nul = body.indexOf(0);
  return decodeName(nul < 0 ? body : body.subarray(0, nul));
}

/**
 * A pax header's fields, over `base`. node-tar's Pax.parse takes text, and
 * drops a record whose length in UTF-8 is not the length it states — every
 * path that is not UTF-8, as GNU tar writes them: path and linkpath are read
 * here as bytes, the other records by Pax.parse.
 */
function parsePax(body: Buffer, base: Record<string, unknown> | undefined, global: boolean): Record<string, unknown> {
  const names: Record<string, string> = {};
  let rest = "";
  for (let at = 0; at < body.length; ) {
    const space = body.indexOf(0x20, at);
    const len = space < 0 ? NaN : Number(body.toString("latin1", at, space));
    if (!(len > 0) || at + len > body.length) break;
    const record = body.subarray(space + 1, at + len - 1);
    const eq = record.indexOf(0x3d);
    const key = eq < 0 ? "" : record.toString("latin1", 0, eq);
    // Whole, NULs included: a name holding one is refused (onHeader), never cut short.
    if (key === "path" || key === "linkpath") names[key] = decodeName(record.subarray(eq + 1));
    else rest += body.toString("utf8", at, at + len);
    at += len;
  }
  return { ...Pax.parse(rest, base as never, global), ...names };
}

/** Names that memberPath would change or refuse: a "", "." or ".." part, or an absolute name. */
const UNUSUAL = /(^|\/)\.{0,2}(\/|$)/;

/** "./a//b/" → "a/b"; "./" → "" (the extraction directory). Refuses absolute names and "..". */
export function memberPath(p: string): string {
  // Most names are plain "a/b/c" (or "a/b/" for a directory): nothing to do.
  const name = p.endsWith("/") ? p.slice(0, -1) : p;
  if (!UNUSUAL.test(name)) return name;
  if (p.startsWith("/")) throw new ArchiveError(`bad archive: member ${p}: absolute path refused`);
  const parts = p.split("/").filter((x) => x !== "" && x !== ".");
  if (parts.includes("..")) throw new ArchiveError(`bad archive: member ${p}: path contains '..'`);
  return parts.join("/");
}
