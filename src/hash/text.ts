import { replacingInvalid } from "../sys/bytes";

// Text rules the hash depends on, byte for byte: how git prints a path, and how
// the established tool trimmed git's output before hashing it.

/**
 * A path as `git ls-tree` prints it (quote.c, quote_c_style): in double quotes
 * with C escapes when it holds a control character, `"` or `\`, or — unless
 * core.quotePath is false — any byte ≥ 0x80 (as octal).
 */
export function quotePath(path: Uint8Array, quoteHighBytes: boolean): string {
  const latin1 = Buffer.from(path.buffer, path.byteOffset, path.byteLength).toString("latin1");
  if (!UNUSUAL.test(latin1)) return latin1; // printable ASCII, no quote or backslash: the common case
  if (!quoteHighBytes && !NEEDS_QUOTES.test(latin1)) return Buffer.from(path).toString("utf8");
  return quoted(path, quoteHighBytes);
}

/** The path a `git ls-tree` line names, quotePath undone (as UTF-8 text): a quoted path always starts with `"`. */
export function unquotePath(listed: string): string {
  if (listed.length < 2 || !listed.startsWith('"') || !listed.endsWith('"')) return listed;
  const body = Buffer.from(listed.slice(1, -1), "utf8");
  const out: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const b = body[i];
    if (b !== 0x5c) out.push(b);
    else if (body[i + 1] >= 0x30 && body[i + 1] <= 0x37) {
      out.push(((body[i + 1] - 0x30) << 6) | ((body[i + 2] - 0x30) << 3) | (body[i + 3] - 0x30));
      i += 3;
    } else {
      const c = body[++i];
      out.push(UNESCAPED[c] ?? c);
    }
  }
  return Buffer.from(out).toString("utf8");
}

const UNESCAPED: Record<number, number> = Object.fromEntries(
  [..."abtnvfr"].map((c, k) => [c.charCodeAt(0), [7, 8, 9, 10, 11, 12, 13][k]]),
);

const UNUSUAL = /[^\x20-\x21\x23-\x5b\x5d-\x7e]/;
const NEEDS_QUOTES = /[\x00-\x1f"\\\x7f]/;

function quoted(path: Uint8Array, quoteHighBytes: boolean): string {
  const out: number[] = [0x22];
  const named: Record<number, string> = {
    7: "a",
    8: "b",
    9: "t",
    10: "n",
    11: "v",
    12: "f",
    13: "r",
    34: '"',
    92: "\\",
  };
  for (const b of path) {
    if (named[b]) out.push(0x5c, named[b].charCodeAt(0));
    else if (b < 0x20 || b === 0x7f || (b >= 0x80 && quoteHighBytes)) {
      out.push(0x5c, 0x30 + (b >> 6), 0x30 + ((b >> 3) & 7), 0x30 + (b & 7));
    } else out.push(b);
  }
  out.push(0x22);
  return Buffer.from(out).toString("utf8");
}

const HEX = new TextEncoder().encode("0123456789abcdef");
const MODES = new Map(
  [0o100644, 0o100755, 0o120000].map((m) => [m, new TextEncoder().encode(`${m.toString(8).padStart(6, "0")} blob `)]),
);

/**
 * `git ls-tree` output built line by line into one byte buffer: the listing of
 * a 5,000-file input is 300 KB, and a string or two per line cost more than
 * the rest of the work on a clean entry.
 */
export class ListingWriter {
  private buf: Uint8Array;
  private used = 0;

  /** lines: how many are expected (the buffer is sized for them: ~70 bytes a line). */
  constructor(
    private readonly quoteHighBytes: boolean,
    lines = 0,
  ) {
    this.buf = new Uint8Array(Math.max(4096, lines * 72));
  }

  /** A blob line: its mode, its id (20 bytes at id[idAt]), its path (path[start..end)). */
  add(mode: number, id: Uint8Array, idAt: number, path: Uint8Array, start: number, end: number): void {
    this.reserve(64 + end - start);
    const b = this.buf;
    let o = this.used;
    if (o > 0) b[o++] = 10;
    const head = MODES.get(mode) ?? new TextEncoder().encode(`${mode.toString(8).padStart(6, "0")} blob `);
    b.set(head, o);
    o += head.length;
    for (let k = 0; k < 20; k++) {
      const v = id[idAt + k];
      b[o++] = HEX[v >> 4];
      b[o++] = HEX[v & 15];
    }
    b[o++] = 9;
    const pathAt = o;
    for (let k = start; k < end; k++) {
      const c = path[k];
      // Printable ASCII but for `"` and `\`: written as it is; anything else is quoted.
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
        this.used = pathAt;
        this.text(quotePath(path.subarray(start, end), this.quoteHighBytes));
        return;
      }
      b[o++] = c;
    }
    this.used = o;
  }

  /** A blob line for an id given in hex. */
  addHex(mode: number, sha: string, path: Uint8Array): void {
    this.add(mode, Buffer.from(sha, "hex"), 0, path, 0, path.length);
  }

  /** The listing so far, as the string the hash is computed over. */
  toString(): string {
    return Buffer.from(this.buf.buffer, 0, this.used).toString("utf8");
  }

  private text(s: string): void {
    const bytes = Buffer.from(s, "utf8");
    this.reserve(bytes.length);
    this.buf.set(bytes, this.used);
    this.used += bytes.length;
  }

  private reserve(n: number): void {
    if (this.used + n <= this.buf.length) return;
    const bigger = new Uint8Array((this.used + n) * 2);
    bigger.set(this.buf.subarray(0, this.used));
    this.buf = bigger;
  }
}

// The old tool trimmed with Haskell's Data.Text.strip, whose notion of space
// (Data.Char.isSpace) is ASCII whitespace plus the Unicode Zs characters — not
// U+FEFF, U+2028 or U+2029, which JavaScript's trim() also removes. It can only
// matter with core.quotePath=false and such a character ending a file name.
const SPACE =
  "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000";

export function haskellStrip(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && SPACE.includes(s[start])) start++;
  while (end > start && SPACE.includes(s[end - 1])) end--;
  return s.slice(start, end);
}

export function sha1Hex(text: string): string {
  return new Bun.CryptoHasher("sha1").update(text).digest("hex");
}

/**
 * hashInput = trimmed `ls-tree` listing + raw inputs joined with "\n" (no separator between the two).
 * A raw value that is not UTF-8 counts as the old tool hashed it: its `snapshot`
 * passed the words through jq, which replaced each invalid sequence with U+FFFD.
 */
export function hashOf(listing: string, raw: string[]): { hash: string; hashInput: string } {
  const hashInput = haskellStrip(listing) + raw.map(replacingInvalid).join("\n");
  return { hash: sha1Hex(hashInput), hashInput };
}
