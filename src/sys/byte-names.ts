// File names are bytes (as git and GNU tar treat them), and most are UTF-8.
// A name that is not travels as a string all the same, its stray bytes as lone
// surrogates (bytes.ts), and must reach the file system as bytes: Bun and Node
// encode a string path as UTF-8, which would turn each escaped byte into
// U+FFFD ("caf\xe9.txt" → "caf\357\277\275.txt"). This file: names read from
// the file system or from tar headers, and names handed to it.
import { decodeBytes, encodeBytes } from "./bytes";

/** The name these bytes spell (bytes.ts); decoded natively when they are UTF-8, nearly always. */
export function decodeName(bytes: Uint8Array): string {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("utf8");
  // Decoding puts U+FFFD where bytes are not UTF-8 (or where the name holds U+FFFD itself).
  return text.includes("\ufffd") ? decodeBytes(bytes) : text;
}

/** Whether name holds an escaped byte (it is not UTF-8 on disk); with the u flag, a surrogate pair is not one. */
export const hasEscapedBytes = (name: string): boolean => /[\u{dc80}-\u{dcff}]/u.test(name);

/** The bytes a name stands for. */
export function encodeName(name: string): Buffer {
  const bytes = encodeBytes(name);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

/**
 * What to hand a file-system call: the string itself when it is UTF-8, else
 * its bytes (as encodeBytes makes them).
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
