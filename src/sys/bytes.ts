// Byte strings. File names, pathspecs and --raw values are bytes, and need not
// be UTF-8 (`caf\xe9.txt` from a Latin-1 system). They travel through this
// program as JavaScript strings that keep every byte: valid UTF-8 decodes as
// usual, and each byte of anything else becomes the lone surrogate U+DC80 +
// (byte - 0x80) — as Python's "surrogateescape" does. No valid UTF-8 decodes to
// a lone surrogate, so encodeBytes(decodeBytes(b)) is b, and text that is
// UTF-8 (nearly all) is the same string either way.

const strict = new TextDecoder("utf-8", { fatal: true });
const lenient = new TextDecoder("utf-8");
const ESCAPED = /[\udc80-\udcff]/;

/** bytes as a string that keeps them all (see above). */
export function decodeBytes(bytes: Uint8Array): string {
  try {
    return strict.decode(bytes);
  } catch {
    return decodeEscaping(bytes); // not UTF-8: the rare case, done by hand
  }
}

/** The bytes a string from decodeBytes came from (plain UTF-8 for any other string). */
export function encodeBytes(s: string): Uint8Array {
  if (!ESCAPED.test(s)) return Buffer.from(s, "utf8");
  const parts: Uint8Array[] = [];
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc80 || c > 0xdcff || isHighSurrogate(s.charCodeAt(i - 1))) continue;
    parts.push(Buffer.from(s.slice(run, i), "utf8"), Uint8Array.of(c - 0xdc00));
    run = i + 1;
  }
  parts.push(Buffer.from(s.slice(run), "utf8"));
  return Buffer.concat(parts);
}

/** Whether s holds bytes that are not UTF-8. */
export const hasRawBytes = (s: string): boolean => ESCAPED.test(s);

/**
 * s with each invalid UTF-8 sequence replaced by U+FFFD, by jq's rule
 * (jvp_utf8_next): a lead byte and the continuation bytes that follow it, up
 * to the length it announces, are one sequence — replaced once if it is
 * overlong, a surrogate or beyond U+10FFFF; a stray byte is replaced alone.
 * The established tool's `snapshot` function built its request with jq, so
 * this is the text it hashed for a --raw value that is not UTF-8.
 */
export function replacingInvalid(s: string): string {
  if (!ESCAPED.test(s)) return s;
  return decodeReplacing(encodeBytes(s), (b, i) => ["\ufffd", jqSequenceLength(b, i)]);
}

/** How many bytes jq takes as one (invalid) sequence at b[i]. */
function jqSequenceLength(b: Uint8Array, i: number): number {
  const c = b[i];
  const length = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 1;
  let n = 1;
  while (n < length && i + n < b.length && b[i + n] >= 0x80 && b[i + n] <= 0xbf) n++;
  return n;
}

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;

function decodeEscaping(b: Uint8Array): string {
  return decodeReplacing(b, (bytes, i) => [String.fromCharCode(0xdc00 + bytes[i]), 1]);
}

/** b decoded, each invalid sequence at b[i] replaced by what `invalid` makes of it: its text, and the bytes it took. */
function decodeReplacing(b: Uint8Array, invalid: (b: Uint8Array, i: number) => [string, number]): string {
  let out = "";
  let run = 0;
  for (let i = 0; i < b.length; ) {
    const n = validSequence(b, i);
    if (n > 0) {
      i += n;
      continue;
    }
    const [text, taken] = invalid(b, i);
    out += lenient.decode(b.subarray(run, i)) + text;
    i += taken;
    run = i;
  }
  return out + lenient.decode(b.subarray(run));
}

/** The length of the valid UTF-8 sequence at b[i], 0 if none (RFC 3629: no overlongs, surrogates, > U+10FFFF). */
function validSequence(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/**
 * How to start argv when it holds bytes that are not UTF-8, or null when it
 * does not. Bun encodes every argument of a process it starts as UTF-8 (a
 * byte string's escapes would arrive as U+FFFD), so such an argv goes through
 * bash: NUL-separated on its stdin, read byte-wise (LC_ALL=C: in a UTF-8 locale
 * bash's `read` takes a NUL after a stray lead byte for part of a character),
 * then exec'd with /dev/null as its stdin. In POSIX mode, so that no BASH_ENV
 * file runs before the command. Only those rare starts pay for it.
 */
export function argvThroughBash(argv: string[]): { cmd: string[]; stdin: Uint8Array } | null {
  if (!argv.some(hasRawBytes)) return null;
  const script = 'a=(); while IFS= LC_ALL=C read -r -d "" x; do a+=("$x"); done; exec "${a[@]}" </dev/null';
  const stdin = Buffer.concat(argv.flatMap((a) => [encodeBytes(a), Uint8Array.of(0)]));
  return { cmd: ["bash", "--posix", "-c", script], stdin };
}

/**
 * This process's arguments after the program (process.argv.slice(2)) with their
 * bytes kept: Bun decodes argv as UTF-8, replacing what is not. Read from
 * /proc/self/cmdline only when an argument holds a U+FFFD (the rare case);
 * the arguments as Bun gave them where that cannot be read.
 */
export function ownArguments(): string[] {
  const given = process.argv.slice(2);
  if (!given.some((a) => a.includes("\ufffd"))) return given;
  let cmdline: Uint8Array;
  try {
    cmdline = require("node:fs").readFileSync("/proc/self/cmdline");
  } catch {
    return given; // no /proc: what Bun gave
  }
  const words: Uint8Array[] = [];
  for (let start = 0; start < cmdline.length; ) {
    let end = cmdline.indexOf(0, start);
    if (end < 0) end = cmdline.length;
    words.push(cmdline.subarray(start, end));
    start = end + 1;
  }
  if (words.length < given.length) return given;
  return words.slice(words.length - given.length).map(decodeBytes);
}
