// The release build for macOS on Intel, which build.ts must re-sign: macOS kills
// a program whose pages do not match its code signature, and no Mac runs here,
// so the signature is checked the way the kernel checks it — every page's
// SHA-256 against the CodeDirectory — and the Mach-O layout around it.
// (darwin-arm64 keeps the signature Bun writes; build.ts checks it the same way.)
import { test, expect } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");

interface Layout {
  linkedit: { vmsize: bigint; fileoff: bigint; filesize: bigint };
  signature: { offset: number; size: number };
}

function layout(buf: Buffer): Layout {
  expect(buf.readUInt32LE(0)).toBe(0xfeedfacf); // 64-bit Mach-O
  let linkedit: Layout["linkedit"] | null = null;
  let signature: Layout["signature"] | null = null;
  let off = 32;
  for (let i = buf.readUInt32LE(16); i > 0; i--) {
    const cmd = buf.readUInt32LE(off);
    if (cmd === 0x19 && buf.toString("latin1", off + 8, off + 24).replace(/\0+$/, "") === "__LINKEDIT") {
      linkedit = {
        vmsize: buf.readBigUInt64LE(off + 32),
        fileoff: buf.readBigUInt64LE(off + 40),
        filesize: buf.readBigUInt64LE(off + 48),
      };
    }
    if (cmd === 0x1d) signature = { offset: buf.readUInt32LE(off + 8), size: buf.readUInt32LE(off + 12) };
    off += buf.readUInt32LE(off + 4);
  }
  if (!linkedit || !signature) throw new Error("no __LINKEDIT or LC_CODE_SIGNATURE");
  return { linkedit, signature };
}

// The first build of the target downloads its Bun runtime (~40 MB) from the npm registry.
test("the darwin-x64 release binary carries a signature that covers every page", async () => {
  const p = Bun.spawn([process.execPath, "build.ts", "--target", "darwin-x64"], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  expect(err).toBe("");
  expect(out).toMatch(/built dist\/taskrunner-darwin-x64 \(.*(re-signed ad hoc|signature valid)/);
  expect(code).toBe(0);

  const buf = readFileSync(join(ROOT, "dist", "taskrunner-darwin-x64"));
  const { linkedit, signature } = layout(buf);
  // The signature ends the file, inside __LINKEDIT, which covers it in memory too.
  expect(signature.offset + signature.size).toBe(buf.length);
  expect(linkedit.fileoff + linkedit.filesize).toBe(BigInt(buf.length));
  expect(linkedit.vmsize >= linkedit.filesize).toBe(true);
  expect(linkedit.vmsize % 0x1000n).toBe(0n);

  // SuperBlob → CodeDirectory (big-endian): every 4 KiB page up to the signature, hashed.
  const sb = signature.offset;
  expect(buf.readUInt32BE(sb)).toBe(0xfade0cc0);
  const cd = sb + buf.readUInt32BE(sb + 16);
  expect(buf.readUInt32BE(cd)).toBe(0xfade0c02);
  const hashOffset = buf.readUInt32BE(cd + 16);
  const slots = buf.readUInt32BE(cd + 28);
  const codeLimit = buf.readUInt32BE(cd + 32);
  expect(buf.readUInt8(cd + 37)).toBe(2); // SHA-256
  expect(codeLimit).toBe(sb);
  expect(slots).toBe(Math.ceil(codeLimit / 4096));
  let wrong = 0;
  for (let i = 0; i < slots; i++) {
    const page = buf.subarray(i * 4096, Math.min((i + 1) * 4096, codeLimit));
    const want = buf.subarray(cd + hashOffset + i * 32, cd + hashOffset + (i + 1) * 32);
    if (!createHash("sha256").update(page).digest().equals(want)) wrong++;
  }
  expect(wrong).toBe(0);
}, 300_000);
