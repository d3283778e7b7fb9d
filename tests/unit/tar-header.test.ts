// The fast header decoder (src/cache/tar-header.ts) against node-tar's Header,
// block by block, on archives GNU tar writes in each of its formats and on ours.
import { afterAll, describe, expect, test } from "bun:test";
import { linkSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Header } from "tar";
import { decodeHeader } from "../../src/cache/tar-header";
import { packArchive } from "../../src/cache/tar-writer";
import { checkOutputs, snapshotOutputs } from "../../src/cache/archive";
import { removeScratch, scratch } from "../fakes/cache-backends";
import { makeOutputTree } from "../fakes/trees";

afterAll(() => removeScratch());

const hasGnuTar = Bun.spawnSync(["tar", "--version"]).stdout.toString().includes("GNU tar");

/** A tree with what makes headers differ: long names (prefix, long-name members), links, an empty file, a big mode. */
function tree(): { root: string; outputs: string[] } {
  const root = scratch();
  const { outputs } = makeOutputTree(root);
  const deep = `out/${"p".repeat(90)}/${"q".repeat(60)}`;
  mkdirSync(join(root, deep), { recursive: true });
  writeFileSync(join(root, deep, "short.txt"), "in a directory whose name needs the ustar prefix\n");
  writeFileSync(join(root, deep, `${"n".repeat(120)}.txt`), "a name over 100 bytes\n");
  writeFileSync(join(root, "out/empty.txt"), "");
  writeFileSync(join(root, "out/ünïcödé.txt"), "utf-8 name\n");
  symlinkSync(`${"t".repeat(120)}`, join(root, "out/long-link"));
  linkSync(join(root, deep, "short.txt"), join(root, "out/hard"));
  return { root, outputs };
}

/** Each header block of a tar stream (the 512-byte blocks that are not member data). */
function headerBlocks(tar: Buffer): Buffer[] {
  const blocks: Buffer[] = [];
  for (let off = 0; off + 512 <= tar.length; ) {
    const block = tar.subarray(off, off + 512);
    blocks.push(block);
    const h = new Header(block);
    const size = h.nullBlock ? 0 : (h.size ?? 0);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return blocks;
}

function nodeTar(block: Buffer) {
  const h = new Header(block);
  return {
    nullBlock: h.nullBlock,
    cksumValid: h.cksumValid,
    type: h.type,
    path: h.path ?? "",
    linkpath: h.linkpath ?? "",
    mode: h.mode,
    size: h.size ?? 0,
    mtime: h.mtime,
  };
}

describe("header blocks decode as node-tar decodes them", () => {
  for (const format of ["gnu", "oldgnu", "ustar", "posix", "v7"]) {
    test.skipIf(!hasGnuTar)(`GNU tar --format=${format}${hasGnuTar ? "" : " (skipped: GNU tar not installed)"}`, () => {
      const { root, outputs } = tree();
      const p = Bun.spawnSync(["tar", `--format=${format}`, "-cf", "-", ...outputs], { cwd: root, stderr: "pipe" });
      const blocks = headerBlocks(p.stdout);
      // v7 cannot store long names or the directory prefix: GNU tar skips those members with a warning.
      expect(blocks.length).toBeGreaterThan(15);
      for (const block of blocks) expect(decodeHeader(block)).toEqual(nodeTar(block));
    });
  }

  test("our archives, a corrupted checksum, an unknown type, an old-style directory, a newline after the NUL", async () => {
    const { root, outputs } = tree();
    const checked = await checkOutputs(root, outputs);
    if (!checked.ok) throw new Error(checked.message);
    const chunks: Buffer[] = [];
    for await (const c of packArchive(root, snapshotOutputs(root, checked.members))) chunks.push(c);
    const tar = Bun.zstdDecompressSync(Buffer.concat(chunks));
    const blocks = headerBlocks(Buffer.from(tar));
    const odd = (edit: (b: Buffer) => void) => {
      const h = new Header({ path: "x/y", type: "File", mode: 0o644, size: 3, mtime: new Date(1e12) });
      h.encode();
      const b = Buffer.from(h.block!);
      edit(b);
      return b;
    };
    blocks.push(
      odd((b) => (b[0] ^= 1)), // checksum no longer matches
      odd((b) => {
        b[156] = "Z".charCodeAt(0); // not a type node-tar knows
      }),
      odd((b) => {
        b.write("old/dir/\0", 0); // a v7 directory: a file whose name ends in "/"
        b[156] = 0;
      }),
      odd((b) => {
        b.write("kept\0dropped\nafter\0", 0); // node-tar keeps what follows a newline after the NUL
      }),
      Buffer.alloc(512),
    );
    for (const block of blocks) expect(decodeHeader(block)).toEqual(nodeTar(block));
  });
});
