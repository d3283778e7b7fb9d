// git prints a path with unusual bytes as a C-style quoted string
// ("d/\303\274n"); this turns it back into the path's bytes.
const ESCAPES: Record<string, number> = { a: 7, b: 8, t: 9, n: 10, v: 11, f: 12, r: 13, '"': 34, "\\": 92 };

export function unquoteCPath(s: string): Buffer {
  if (!s.startsWith('"') || !s.endsWith('"') || s.length < 2) return Buffer.from(s, "utf8");
  const bytes: number[] = [];
  const body = Buffer.from(s.slice(1, -1), "utf8");
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== 92) {
      bytes.push(c);
      continue;
    }
    const next = String.fromCharCode(body[++i]);
    if (next in ESCAPES) bytes.push(ESCAPES[next]);
    else if (/[0-7]/.test(next)) {
      bytes.push(Number.parseInt(String.fromCharCode(body[i], body[i + 1], body[i + 2]), 8));
      i += 2;
    } else bytes.push(body[i]);
  }
  return Buffer.from(bytes);
}
