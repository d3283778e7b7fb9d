// Decoding a tar header block: the fields the extractor uses, the way
// node-tar's Header decodes them.
//
// Header decodes every field of every block into an object (owner names,
// device numbers, access times) at ~4 µs a block: ~100 ms of main-thread time
// for a node_modules of 25,000 members, a tenth of a restore. A plain block —
// no pax or GNU long-name header before it, no base-256 number — is decoded
// here with node-tar's own rules, in a fraction of that; any other goes to
// Header. tests/unit/tar-header.test.ts compares the two on GNU tar's formats.
import { Header, types } from "tar";
import { decodeName } from "../sys/byte-names";

export interface HeaderFields {
  /** An all-zero block (half of the end-of-archive marker). */
  nullBlock: boolean;
  cksumValid: boolean;
  /** node-tar's type name ("File", "Directory", …), undefined for an unknown type. */
  type: string | undefined;
  path: string;
  linkpath: string;
  mode: number | undefined;
  size: number;
  mtime: Date | undefined;
}

/** `ex`/`gex`: pending pax (or GNU long-name) fields, which apply to this block. */
export function decodeHeader(block: Buffer, ex?: Record<string, unknown>, gex?: Record<string, unknown>): HeaderFields {
  if (ex || gex || (block[100] | block[124] | block[136] | block[148]) & 0x80) {
    const h = new Header(block, 0, ex as never, gex as never);
    // Header decodes the name fields as UTF-8 (a byte that is not becomes U+FFFD): they are read
    // here, as bytes; pending pax or GNU long names replace them (tar-reader.ts).
    const path = blockPath(block);
    const linkpath = text(block, 157, 100);
    return {
      nullBlock: h.nullBlock,
      cksumValid: h.cksumValid,
      type: h.type,
      path,
      linkpath,
      mode: h.mode,
      size: h.size ?? 0,
      mtime: h.mtime,
    };
  }
  let sum = 8 * 0x20;
  for (let i = 0; i < 148; i++) sum += block[i];
  for (let i = 156; i < 512; i++) sum += block[i];
  const cksum = octal(block, 148, 12);
  if (cksum === undefined && sum === 8 * 0x20) {
    return {
      nullBlock: true,
      cksumValid: false,
      type: "File",
      path: "",
      linkpath: "",
      mode: undefined,
      size: 0,
      mtime: undefined,
    };
  }
  const path = blockPath(block);
  const flag = text(block, 156, 1);
  let code: types.EntryTypeCode | null = types.isCode(flag) ? flag || "0" : null;
  // Old tars marked a directory as a file whose name ends in "/".
  if (code === "0" && path.endsWith("/")) code = "5";
  const size = code === "5" ? 0 : octal(block, 124, 12);
  const mtime = octal(block, 136, 12);
  return {
    nullBlock: false,
    cksumValid: sum === cksum,
    type: code === null ? "Unsupported" : types.name.get(code),
    path,
    linkpath: text(block, 157, 100),
    mode: octal(block, 100, 8),
    size: size === undefined || size < 0 ? 0 : size,
    mtime: mtime === undefined ? undefined : new Date(mtime * 1000),
  };
}

/** The member's name: the name field, after the ustar prefix if there is one. */
function blockPath(block: Buffer): string {
  const path = text(block, 0, 100);
  if (block.toString("latin1", 257, 265) !== "ustar\u000000") return path;
  const prefix = block[475] !== 0 ? text(block, 345, 155) : text(block, 345, 130);
  return block[475] !== 0 || prefix ? `${prefix}/${path}` : path;
}

/**
 * A NUL-terminated string field, its bytes kept (sys/byte-names.ts). Cut as
 * node-tar cuts it (at a NUL, up to a newline): a name with a NUL left in it
 * is refused by the extractor rather than shortened.
 */
function text(block: Buffer, off: number, size: number): string {
  const end = off + size;
  const nul = block.indexOf(0, off);
  const cut = nul < 0 || nul > end ? end : nul;
  // A newline after the NUL: node-tar keeps what follows it (its regular expression
  // stops at the line's end). The usual field is its text, then NULs: no expression.
  const newline = block.indexOf(0x0a, cut);
  const odd = newline >= 0 && newline < end;
  const stop = odd ? end : cut;
  const utf8 = block.toString("utf8", off, stop);
  // U+FFFD: bytes that are not UTF-8 (rare; decodeName decodes the same way when they are).
  const decoded = utf8.includes("\ufffd") ? decodeName(block.subarray(off, stop)) : utf8;
  return odd ? decoded.replace(/\0.*/, "") : decoded;
}

/** An octal number field; undefined when it holds none. */
function octal(block: Buffer, off: number, size: number): number | undefined {
  // The common field, digits padded by spaces or NULs, read from the bytes: a
  // string per field cost ~4% of a restore's main thread.
  let i = off;
  const end = off + size;
  while (i < end && block[i] === 0x20) i++;
  let n = 0;
  let digits = 0;
  for (; i < end && block[i] >= 0x30 && block[i] <= 0x37; i++, digits++) n = n * 8 + block[i] - 0x30;
  if (digits > 0 && (i === end || block[i] === 0 || block[i] === 0x20)) return n;
  const slow = parseInt(block.toString("utf8", off, end).replace(/\0.*$/, "").trim(), 8);
  return Number.isNaN(slow) ? undefined : slow;
}
