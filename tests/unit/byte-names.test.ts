// Names as bytes (src/sys/byte-names.ts): every byte string comes back exactly,
// and a name that is UTF-8 stays the plain string it always was.
import { expect, test } from "bun:test";
import { decodeName, encodeName, fsPath, hasEscapedBytes } from "../../src/sys/byte-names";

test("UTF-8 names decode to themselves and reach the file system as strings", () => {
  for (const name of ["plain.txt", "café.txt", "日本語", "emoji 😀", "replacement \ufffd char", "a\u{10080}b", ""]) {
    const bytes = Buffer.from(name, "utf8");
    expect(decodeName(bytes)).toBe(name);
    expect(hasEscapedBytes(name)).toBe(false);
    expect(fsPath(name)).toBe(name);
    expect(encodeName(name).equals(bytes)).toBe(true);
  }
});

test("bytes that are not UTF-8 round-trip: every single byte, truncated and overlong sequences, encoded surrogates", () => {
  const cases: number[][] = [
    [0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74],
    [0xc0, 0xaf],
    [0xe0, 0x80, 0xaf],
    [0xed, 0xb0, 0x80],
    [0xf4, 0x90, 0x80, 0x80],
    [0xe2, 0x82],
    [0xf0, 0x9f, 0x98],
  ];
  for (let b = 0; b < 256; b++) cases.push([0x61, b, 0x62]);
  for (const c of cases) {
    const bytes = Buffer.from(c);
    const name = decodeName(bytes);
    expect({ c, back: [...encodeName(name)] }).toEqual({ c, back: c });
    const valid = (() => {
      try {
        new TextDecoder("utf-8", { fatal: true }).decode(bytes);
        return true;
      } catch {
        return false;
      }
    })();
    expect({ c, escaped: hasEscapedBytes(name) }).toEqual({ c, escaped: !valid });
  }
});

test("random byte strings round-trip", () => {
  for (let i = 0; i < 2000; i++) {
    const bytes = Buffer.from(Array.from({ length: 1 + (i % 40) }, () => Math.floor(Math.random() * 256)));
    expect(encodeName(decodeName(bytes)).equals(bytes)).toBe(true);
  }
});
