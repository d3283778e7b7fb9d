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

const UNUSUAL = /[^\x20-\x21\x23-\x5b\x5d-\x7e]/;
const NEEDS_QUOTES = /[\x00-\x1f"\\\x7f]/;

function quoted(path: Uint8Array, quoteHighBytes: boolean): string {
  const out: number[] = [0x22];
  const named: Record<number, string> = { 7: "a", 8: "b", 9: "t", 10: "n", 11: "v", 12: "f", 13: "r", 0x22: '"', 0x5c: "\\" };
  for (const b of path) {
    if (named[b]) out.push(0x5c, named[b].charCodeAt(0));
    else if (b < 0x20 || b === 0x7f || (b >= 0x80 && quoteHighBytes)) {
      out.push(0x5c, 0x30 + (b >> 6), 0x30 + ((b >> 3) & 7), 0x30 + (b & 7));
    } else out.push(b);
  }
  out.push(0x22);
  return Buffer.from(out).toString("utf8");
}

// The old tool trimmed with Haskell's Data.Text.strip, whose notion of space
// (Data.Char.isSpace) is ASCII whitespace plus the Unicode Zs characters — not
// U+FEFF, U+2028 or U+2029, which JavaScript's trim() also removes. It can only
// matter with core.quotePath=false and such a character ending a file name.
const SPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000";

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

/** hashInput = trimmed `ls-tree` listing + raw inputs joined with "\n" (no separator between the two). */
export function hashOf(listing: string, raw: string[]): { hash: string; hashInput: string } {
  const hashInput = haskellStrip(listing) + raw.join("\n");
  return { hash: sha1Hex(hashInput), hashInput };
}
