// File names are bytes (as git and GNU tar treat them), and most are UTF-8.
// A name that is not is carried in a string all the same: each byte that is
// not part of a valid UTF-8 sequence becomes a lone surrogate U+DC80–U+DCFF
// (what Python calls surrogateescape), which no valid UTF-8 decodes to, so
// the bytes come back exactly. Such a string must reach the file system as
// bytes (fsPath): Bun and Node encode a string path as UTF-8, which would turn
// each escaped byte into U+FFFD ("caf\xe9.txt" → "caf\357\277\275.txt").

/** A lone surrogate that stands for a byte (a pair is a real character, never matched with the u flag). */
const ESCAPED = /[\u{dc80}-\u{dcff}]/u;
const fatal = new TextDecoder("utf-8", { fatal: true });

/** The name these bytes spell: UTF-8 where they are, escaped bytes where not. */
export function decodeName(bytes: Uint8Array): string {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("utf8");
  // Decoding puts U+FFFD where bytes are not UTF-8 (or where the name holds U+FFFD itself).
  return text.includes("\ufffd") ? decodeEscaping(bytes) : text;
}

function decodeEscaping(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; ) {
    const n = sequenceLength(bytes, i);
    if (n === 0) {
      out += String.fromCharCode(0xdc00 + bytes[i]);
      i++;
    } else {
      out += fatal.decode(bytes.subarray(i, i + n));
      i += n;
    }
  }
  return out;
}

/** The length of the valid UTF-8 sequence at i (RFC 3629: no overlongs, no surrogates, up to U+10FFFF), or 0. */
function sequenceLength(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const [lo, hi] = c === 0xe0 ? [0xa0, 0xbf] : c === 0xed ? [0x80, 0x9f] : [0x80, 0xbf];
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const [lo, hi] = c === 0xf0 ? [0x90, 0xbf] : c === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/** Whether name holds an escaped byte (it is not UTF-8 on disk). */
export function hasEscapedBytes(name: string): boolean {
  return ESCAPED.test(name);
}

/** The bytes a name stands for. */
export function encodeName(name: string): Buffer {
  const p = fsPath(name);
  return typeof p === "string" ? Buffer.from(p, "utf8") : p;
}

/**
 * What to hand a file-system call: the string itself when it is UTF-8, else
 * its bytes. Self-contained (no outer names): it is also the restore's
 * file-writing threads' code, as text (cache/write-pool.ts).
 */
export function fsPath(name: string): string | Buffer {
  if (!/[\u{dc80}-\u{dcff}]/u.test(name)) return name;
  const parts: Buffer[] = [];
  for (const ch of name) {
    const cp = ch.codePointAt(0)!;
    parts.push(cp >= 0xdc80 && cp <= 0xdcff ? Buffer.of(cp - 0xdc00) : Buffer.from(ch, "utf8"));
  }
  return Buffer.concat(parts);
}
