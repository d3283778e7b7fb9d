// src/sys/bytes.ts: strings that keep every byte of a name that is not UTF-8.
import { test, expect } from "bun:test";
import { decodeBytes, encodeBytes, hasRawBytes, replacingInvalid } from "../../src/sys/bytes";

test("any bytes survive decodeBytes → JSON → encodeBytes, UTF-8 text is left as it is", () => {
  let seed = 1;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
  for (let k = 0; k < 2000; k++) {
    const b = Uint8Array.from({ length: 1 + (k % 40) }, random);
    const s = decodeBytes(b);
    expect(Buffer.from(encodeBytes(JSON.parse(JSON.stringify(s)))).equals(Buffer.from(b))).toBe(true);
  }
  for (const text of ["plain", "é日本🎉", "", "a\u0000b"]) {
    expect(decodeBytes(Buffer.from(text))).toBe(text);
    expect(hasRawBytes(text)).toBe(false);
    expect(replacingInvalid(text)).toBe(text);
  }
  expect(decodeBytes(Uint8Array.of(0x63, 0xe9))).toBe("c\udce9");
  expect(hasRawBytes("c\udce9")).toBe(true);
  // A real astral character next to an escaped byte stays itself.
  expect([...encodeBytes("🎉\udcff")]).toEqual([0xf0, 0x9f, 0x8e, 0x89, 0xff]);
});

test("replacingInvalid: jq's rule, one U+FFFD per sequence its lead byte announces", () => {
  const r = (bytes: number[]) => replacingInvalid(decodeBytes(Uint8Array.from(bytes)));
  expect(r([0x63, 0xe9])).toBe("c\ufffd");
  expect(r([0x74, 0xe2, 0x82, 0x78])).toBe("t\ufffdx"); // truncated
  expect(r([0xed, 0xa0, 0x80, 0x78])).toBe("\ufffdx"); // an encoded surrogate: one sequence
  expect(r([0xc0, 0xaf])).toBe("\ufffd\ufffd"); // C0 is never a lead byte
  expect(r([0x80, 0x80])).toBe("\ufffd\ufffd");
});
