// TEMPORARY until src/hash lands.
export type HashResult = { ok: true; hash: string; hashInput: string } | { ok: false; error: string };
export async function hashInputs(cwd: string, pathspecs: string[], raw: string[]): Promise<HashResult> {
  const hashInput = raw.join("\n");
  if (pathspecs.length) return { ok: false, error: "file inputs not supported yet" };
  const h = new Bun.CryptoHasher("sha1").update(hashInput).digest("hex");
  return { ok: true, hash: h, hashInput };
}
export async function mainBranchCommit(_cwd: string, _b: string): Promise<string | null> { return null; }
