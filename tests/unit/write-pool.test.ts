// Restores through the write pool (src/cache/write-pool.ts) as a restore uses
// it by default: small archives on the main thread, larger ones handed to
// worker threads part-way. The contract suite (cache-store.test.ts) runs every
// case on the workers from the first file; here: the switch, a file system
// error inside a worker, and a stop in the middle — each leaving no
// descriptor open and no worker running.
import { afterAll, expect, test } from "bun:test";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { Header, Pax } from "tar";
import { checkOutputs, snapshotOutputs, unpackArchive } from "../../src/cache/archive";
import { packArchive } from "../../src/cache/tar-writer";
import { restoreInto } from "../../src/cache/restore";
import { removeScratch, scratch } from "../fakes/cache-backends";
import { forgeArchive, type ForgedEntry } from "../fakes/trees";

afterAll(() => removeScratch());

/** This process's descriptors open on files under `dir` (a worker, or a failure, left one open). */
function openIn(dir: string): string[] {
  const targets: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      targets.push(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // closed between the listing and the look
    }
  }
  return targets.filter((t) => t.startsWith(dir));
}

/** 40 directories of 10 files, then what needs every earlier member on disk: hard links, a replaced member. */
function bigArchive(): { archive: Buffer; entries: ForgedEntry[] } {
  const entries: ForgedEntry[] = [{ path: "out/", type: "Directory" }];
  for (let d = 0; d < 40; d++) {
    entries.push({ path: `out/d${d}/`, type: "Directory", mode: d === 7 ? 0o700 : d === 8 ? 0o775 : 0o755 });
    for (let f = 0; f < 10; f++)
      entries.push({
        path: `out/d${d}/f${f}.js`,
        body: `module.exports = ${d * 10 + f};\n`.repeat(f * 40 + 1),
        mode: f === 3 ? 0o755 : 0o644,
      });
  }
  entries.push(
    { path: "out/d39/link-to-d0-f1", type: "Link", linkpath: "out/d0/f1.js" },
    { path: "out/implied/deeper/file.txt", body: "its directories are not members\n" },
    { path: "out/d1/f2.js", body: "a later member replaces the earlier one\n" },
    { path: "out/d2", type: "SymbolicLink", linkpath: "d1" },
  );
  return { archive: forgeArchive(entries), entries };
}

test("an archive of 400 files: the first 64 on the main thread, the rest on workers; every member as archived", async () => {
  const dir = join(scratch(), "tree");
  mkdirSync(dir);
  await unpackArchive(Readable.from([bigArchive().archive]), dir);
  expect(readFileSync(join(dir, "out/d0/f0.js"), "utf8")).toBe("module.exports = 0;\n");
  expect(readFileSync(join(dir, "out/d38/f9.js"), "utf8")).toBe("module.exports = 389;\n".repeat(361));
  expect(statSync(join(dir, "out/d38/f3.js")).mode & 0o777).toBe(0o755);
  expect(statSync(join(dir, "out/d39/link-to-d0-f1")).ino).toBe(statSync(join(dir, "out/d0/f1.js")).ino);
  expect(readFileSync(join(dir, "out/implied/deeper/file.txt"), "utf8")).toBe("its directories are not members\n");
  expect(readFileSync(join(dir, "out/d1/f2.js"), "utf8")).toBe("a later member replaces the earlier one\n");
  expect(readlinkSync(join(dir, "out/d2"))).toBe("d1");
  expect(readdirSync(join(dir, "out/d20")).sort()).toEqual(Array.from({ length: 10 }, (_, f) => `f${f}.js`).sort());
  expect(statSync(join(dir, "out/d5/f5.js")).mtime.getTime()).toBe(statSync(join(dir, "out/d0/f0.js")).mtime.getTime());
  expect(openIn(dir)).toEqual([]);
});

test("a file the file system refuses, inside a worker: the restore fails with its error, the root is untouched, nothing stays open", async () => {
  const { entries } = bigArchive();
  // A 300-byte name (in a pax header): ENAMETOOLONG from open(2), on a worker, after the switch.
  const long = `out/d30/${"n".repeat(300)}.js`;
  const blocks = [Bun.zstdDecompressSync(forgeArchive(entries.slice(0, 300), { endMarker: false }))];
  blocks.push(new Pax({ path: long }).encode());
  const h = new Header({ path: long.slice(0, 99), type: "File", mode: 0o644, size: 1, mtime: new Date(0) });
  h.encode();
  blocks.push(h.block!, Buffer.from("x"), Buffer.alloc(511), Buffer.alloc(1024));
  const archive = Bun.zstdCompressSync(Buffer.concat(blocks.map((b) => Buffer.from(b))));
  const root = join(scratch(), "root");
  mkdirSync(join(root, "out"), { recursive: true });
  const failed = restoreInto(Readable.from([archive]), root, { outputs: ["out"], stagingParents: [] });
  await expect(failed).rejects.toThrow("ENAMETOOLONG");
  expect(readdirSync(root)).toEqual(["out"]);
  expect(readdirSync(join(root, "out"))).toEqual([]);
  expect(openIn(root)).toEqual([]);
});

test("stopped in the middle (the signal aborts): rejects at once, the staging folder goes, nothing stays open", async () => {
  const { archive } = bigArchive();
  const raw = Buffer.from(Bun.zstdDecompressSync(archive));
  const root = join(scratch(), "root");
  const staging = join(scratch(), "staging");
  mkdirSync(staging);
  const controller = new AbortController();
  // The first 100 KB of the tar, then nothing until the signal: the extraction waits with files written.
  async function* slow() {
    yield Bun.zstdCompressSync(raw.subarray(0, 200 * 512));
    await new Promise((r) => controller.signal.addEventListener("abort", r));
  }
  const restoring = restoreInto(Readable.from(slow()), root, {
    stagingParents: [staging],
    signal: controller.signal,
    parallelFrom: 0,
  });
  await new Promise((r) => setTimeout(r, 300));
  const t = performance.now();
  controller.abort(new Error("interrupted"));
  await expect(restoring).rejects.toThrow();
  expect(performance.now() - t).toBeLessThan(5000);
  expect(readdirSync(staging)).toEqual([]);
  expect(existsSync(join(root, "out"))).toBe(false);
  expect(openIn(staging)).toEqual([]);
});

test("on three workers (however many cores this machine has): directories shared out among them, every member and mode as archived", async () => {
  // The default is one worker per core but the main thread's: on two cores, one. Three here, from the first
  // file, so that a worker meets members whose directory another worker has yet to make.
  const root = join(scratch(), "root");
  // Merged into: an existing directory takes the archive's mode.
  mkdirSync(join(root, "out/d5"), { recursive: true, mode: 0o700 });
  const { archive, entries } = bigArchive();
  await restoreInto(Readable.from([archive]), root, { stagingParents: [], workers: 3, parallelFrom: 0 });
  // Each file as archived, but for the one replaced later and those of d2, which a symlink to d1 replaces.
  for (const e of entries.filter(
    (e) => e.type === undefined && e.path !== "out/d1/f2.js" && !e.path.startsWith("out/d2/"),
  ))
    expect(readFileSync(join(root, e.path), "utf8")).toBe(String(e.body));
  expect(readlinkSync(join(root, "out/d2"))).toBe("d1");
  expect(readFileSync(join(root, "out/d1/f2.js"), "utf8")).toBe("a later member replaces the earlier one\n");
  expect(statSync(join(root, "out/d39/link-to-d0-f1")).ino).toBe(statSync(join(root, "out/d0/f1.js")).ino);
  expect(statSync(join(root, "out/d38/f3.js")).mode & 0o777).toBe(0o755);
  const modes = Object.fromEntries(
    ["d4", "d5", "d7", "d8"].map((d) => [d, statSync(join(root, "out", d)).mode & 0o777]),
  );
  expect(modes).toEqual({ d4: 0o755, d5: 0o755, d7: 0o700, d8: 0o775 });
  expect(readdirSync(join(root, "out")).length).toBe(41);
  expect(openIn(root)).toEqual([]);
});

test("names as bytes, on the main thread and on a worker: not UTF-8, a link target that is not, names too long for a batch's first buffer", async () => {
  // Names travel to the threads as their bytes, in batches that grow as needed: the main
  // thread's own (the first 64 files) starts at 256 bytes, a worker's at 64 KB.
  const src = join(scratch(), "src");
  const b = (s: string) => Buffer.from(s, "latin1"); // one byte per character: \xe9 is not UTF-8
  const under = (dir: string, name: Buffer) => Buffer.concat([b(`${dir}/`), name]);
  const deep = `${"d".repeat(200)}/${"e".repeat(200)}/${"f".repeat(200)}`;
  const files: Buffer[] = [b("out/caf\xe9.txt"), b(`out/${deep}/long-${"n".repeat(200)}.txt`)];
  for (let i = 0; i < 600; i++) files.push(b(`out/many/${i % 2 ? "\xff" : "plain"}-${"x".repeat(240)}-${i}.js`));
  // The same names again, after the first 64 (members are archived sorted): on the worker.
  files.push(b("out/zz/caf\xe9.txt"), b(`out/zz/${deep}/long-${"n".repeat(200)}.txt`));
  for (const f of files) {
    mkdirSync(under(src, f.subarray(0, f.lastIndexOf(0x2f))), { recursive: true });
    writeFileSync(under(src, f), f);
  }
  symlinkSync(b("caf\xe9.txt"), under(src, b("out/link-\xe9")));
  const checked = await checkOutputs(src, ["out"]);
  if (!checked.ok) throw new Error(checked.message);
  const chunks: Buffer[] = [];
  for await (const c of packArchive(src, snapshotOutputs(src, checked.members))) chunks.push(c);

  const dir = join(scratch(), "tree");
  mkdirSync(dir);
  await unpackArchive(Readable.from([Buffer.concat(chunks)]), dir);
  for (const f of files) expect(readFileSync(under(dir, f)).toString("latin1")).toBe(f.toString("latin1"));
  expect(readlinkSync(under(dir, b("out/link-\xe9")), { encoding: "buffer" })).toEqual(b("caf\xe9.txt"));
  expect(readdirSync(join(dir, "out/many")).length).toBe(600);
  expect(openIn(dir)).toEqual([]);
});
