// The archive format against the old tool's (GNU tar + zstd level 3) both
// ways; zstd decoding, and the reused pieces it reads from (pieces.ts); and how
// the cache module is opened: which store, and without loading the AWS SDK or
// tar until an operation needs them.
import { afterAll, describe, expect, test } from "bun:test";
import { linkSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config";
import zlib from "node:zlib";
import { archiveName, openRemoteCache } from "../../src/cache/index";
import { decompress } from "../../src/cache/zstd-frames";
import { PIECE, PiecePool, readPieces, recycle } from "../../src/cache/pieces";
import { RANGE_BYTES, rangedBody } from "../../src/cache/ranged-body";
import { open } from "node:fs/promises";
import { fsBackend, removeScratch, scratch } from "../fakes/cache-backends";
import { describeTree, makeOutputTree, type Member } from "../fakes/trees";

afterAll(() => removeScratch());

const hasGnuTar = Bun.spawnSync(["tar", "--version"]).stdout.toString().includes("GNU tar");
const hasZstd = Bun.spawnSync(["sh", "-c", "command -v zstd"]).exitCode === 0;
const cli = hasGnuTar && hasZstd;
const why = cli ? "" : ` (skipped: ${hasGnuTar ? "" : "GNU tar "}${hasZstd ? "" : "zstd CLI "}not installed)`;

/** GNU tar keeps exact modes for root only; a user gets them through the umask. */
const modeMask = process.getuid?.() === 0 ? 0o7777 : ~process.umask() & 0o7777;

function compatTree(root: string): string[] {
  const { outputs } = makeOutputTree(root);
  // GNU tar writes ././@LongLink members for names over 100 bytes, node-tar pax headers.
  const long = `out/${"d".repeat(120)}/${"f".repeat(140)}.txt`;
  mkdirSync(join(root, long, ".."), { recursive: true });
  writeFileSync(join(root, long), "long name\n");
  // Two names for one file: a hard-link member in either format.
  linkSync(join(root, "out/lib/a.txt"), join(root, "out/lib/a-hardlink.txt"));
  return outputs;
}

function comparable(members: Member[]): Member[] {
  return members
    .filter((m) => m.path.startsWith("out") || m.path === "single.txt")
    .map((m) => ({
      ...m,
      mode: m.type === "symlink" ? 0 : m.path === "out/bin/tool" ? 0o755 & modeMask : m.mode & modeMask,
    }));
}

function sh(script: string, cwd: string): void {
  const p = Bun.spawnSync(["sh", "-c", script], { cwd, stderr: "pipe" });
  if (p.exitCode !== 0 || p.stderr.length > 0) throw new Error(`${script}: exit ${p.exitCode}: ${p.stderr}`);
}

describe(`archives are interchangeable with the old tool's (GNU tar + zstd -3)${why}`, () => {
  test.skipIf(!cli)("an archive we make restores with tar --zstd -x, silently", async () => {
    const f = await fsBackend.fixture();
    const src = join(f.dir, "src");
    const outputs = compatTree(src);
    expect(await f.cache.saveArchive("ours.tar.zst", src, outputs)).toMatchObject({ kind: "saved" });
    const dest = join(f.dir, "dest");
    mkdirSync(dest);
    // sh() fails on any stderr output: GNU tar must not even warn about our headers.
    sh(`zstd -dcq '${join(f.dir, "store/taskrunner/bundles/ours.tar.zst")}' | tar -xf -`, dest);
    expect(comparable(describeTree(dest))).toEqual(comparable(describeTree(src)));
    expect(statSync(join(dest, "out/lib/a-hardlink.txt")).ino).toBe(statSync(join(dest, "out/lib/a.txt")).ino);
  });

  test.skipIf(!cli)("an archive made by tar | zstd -3 restores with ours", async () => {
    const f = await fsBackend.fixture();
    const src = join(f.dir, "src");
    const outputs = compatTree(src);
    // What the old tool runs: `tar -c <outputs>` in the cache root, zstd level 3.
    sh(`tar -c ${outputs.join(" ")} | zstd -3 -q > '${join(f.dir, "gnu.tar.zst")}'`, src);
    await f.writeRaw("taskrunner/bundles/gnu.tar.zst", readFileSync(join(f.dir, "gnu.tar.zst")));
    const dest = join(f.dir, "dest");
    expect(await f.cache.restoreArchive("gnu.tar.zst", dest)).toMatchObject({ kind: "restored" });
    // The old tool's archive carries the setuid bit; we drop it on the way in.
    expect(statSync(join(dest, "out/bin/tool")).mode & 0o7777).toBe(0o755);
    expect(comparable(describeTree(dest))).toEqual(comparable(describeTree(src)));
    expect(statSync(join(dest, "out/lib/a-hardlink.txt")).ino).toBe(statSync(join(dest, "out/lib/a.txt")).ino);
  });
});

describe("zstd decoding (frame by frame, streaming otherwise)", () => {
  async function decodeAll(input: Buffer, pieceSize = 65536): Promise<Buffer> {
    async function* pieces() {
      for (let i = 0; i < input.length; i += pieceSize) yield input.subarray(i, i + pieceSize);
    }
    const out: Buffer[] = [];
    // A piece is valid until the next is asked for: copied.
    for await (const b of decompress(pieces())) out.push(Buffer.from(b));
    return Buffer.concat(out);
  }
  const text = (n: number, seed: number) =>
    Buffer.from(Array.from({ length: n / 8 }, (_, i) => `${(i * seed) % 99991}`.padStart(8, "x")).join(""));
  /** One zstd frame that does not declare its size, as `tar | zstd` writes it. */
  const unknownSize = (data: Buffer) =>
    new Promise<Buffer>((resolve) => {
      const out: Buffer[] = [];
      const stream = zlib.createZstdCompress();
      stream.on("data", (b) => out.push(b)).on("end", () => resolve(Buffer.concat(out)));
      stream.end(data);
    });

  test("several frames, a skippable frame, small and large declared sizes, in 1-byte to 64 KB pieces", async () => {
    const parts = [
      text(100_000, 7),
      text(3_000_000, 13),
      text(20_000_000, 17) /* declared > 16 MB: streamed */,
      text(5000, 3),
    ];
    const skippable = Buffer.concat([Buffer.from([0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0]), Buffer.from("abc")]);
    const archive = Buffer.concat([
      Bun.zstdCompressSync(parts[0]),
      skippable,
      Bun.zstdCompressSync(parts[1]),
      Bun.zstdCompressSync(parts[2]),
      Bun.zstdCompressSync(parts[3]),
    ]);
    expect((await decodeAll(archive)).equals(Buffer.concat(parts))).toBe(true);
    const small = Buffer.concat([Bun.zstdCompressSync(parts[0]), skippable, Bun.zstdCompressSync(parts[3])]);
    expect((await decodeAll(small, 1)).equals(Buffer.concat([parts[0], parts[3]]))).toBe(true);
  });

  test("a frame of unknown size (what `tar | zstd` writes) is streamed", async () => {
    const data = text(2_000_000, 11);
    const z = await unknownSize(data);
    expect((await decodeAll(Buffer.concat([Bun.zstdCompressSync(data), z]))).equals(Buffer.concat([data, data]))).toBe(
      true,
    );
  });

  test("many frames, each cut from many pieces, come out whole and in order", async () => {
    // In 1,000-byte pieces every frame is copied out of the input into a reused buffer.
    const parts = Array.from({ length: 7 }, (_, i) => text(400_000 + i * 8_000, 19 + i));
    const archive = Buffer.concat(parts.map((p) => Bun.zstdCompressSync(p)));
    expect((await decodeAll(archive, 1000)).equals(Buffer.concat(parts))).toBe(true);
  });

  test("a corrupt frame after good ones: what came before it, then ArchiveError naming where", async () => {
    const good = text(200_000, 23);
    const first = Bun.zstdCompressSync(good);
    const bad = Bun.zstdCompressSync(text(200_000, 29));
    bad[Math.floor(bad.length / 2)] ^= 0xff;
    const got: Buffer[] = [];
    const run = async () => {
      async function* one() {
        yield Buffer.concat([first, bad, first]);
      }
      for await (const b of decompress(one())) got.push(Buffer.from(b));
    };
    await expect(run()).rejects.toThrow(`the zstd frame at byte ${first.length} fails its checksum or does not decode`);
    expect(Buffer.concat(got).equals(good)).toBe(true);
  });

  test("a frame that decodes to another size than its header declares: ArchiveError naming where", async () => {
    const data = text(100_000, 31);
    for (const delta of [-1, 1]) {
      const z = Buffer.from(Bun.zstdCompressSync(data));
      // This frame's descriptor: one segment, a 4-byte content size right after it (bytes 5–8).
      expect(z[4]).toBe(0xa0);
      z.writeUInt32LE(data.length + delta, 5);
      await expect(decodeAll(z)).rejects.toThrow("corrupt archive: the zstd frame at byte 0");
    }
  });

  test("a frame of unknown size that does not decode: ArchiveError, after what came before it", async () => {
    const good = text(300_000, 37);
    const z = await unknownSize(text(300_000, 41));
    const first = Bun.zstdCompressSync(good);
    z.fill(0xff, 20, 200); // inside its first block
    const got: Buffer[] = [];
    const run = async () => {
      for await (const b of decompress(
        (async function* () {
          yield Buffer.concat([first, z]);
        })(),
      ))
        got.push(Buffer.from(b));
    };
    await expect(run()).rejects.toThrow(`corrupt archive: the zstd frame at byte ${first.length}`);
    expect(Buffer.concat(got).equals(good)).toBe(true);
  });

  test("a consumer that stops early, while the next frame decodes: stopped cleanly, and decoding goes on elsewhere", async () => {
    const parts = Array.from({ length: 4 }, (_, i) => text(1_000_000, 43 + i));
    const archive = Buffer.concat(parts.map((p) => Bun.zstdCompressSync(p)));
    for await (const piece of decompress(
      (async function* () {
        yield archive;
      })(),
    )) {
      expect(piece.equals(parts[0])).toBe(true);
      break;
    }
    expect((await decodeAll(archive)).equals(Buffer.concat(parts))).toBe(true);
  });

  test("read from a file in reused pieces: frames across pieces, a skippable frame between, all whole and in order", async () => {
    // Frames of 1–4 MB compressed, most of them across two or more 1 MB pieces (random
    // bytes do not compress), a skippable frame between two of them, read back through
    // pieces that the decoder gives back while later frames are read into them.
    const random = (n: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(n)));
    const parts = [random(3_500_000), text(3_000_000, 47), random(1_500_000), random(4_000_000), text(800_000, 53)];
    const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 5, 0, 0, 0]), Buffer.from("trail")]);
    const frames = parts.map((p) => Bun.zstdCompressSync(p));
    const file = join(scratch(), "pieces.tar.zst");
    const archive = [frames[0], frames[1], skippable, frames[2], frames[3], frames[4], ...frames, ...frames];
    writeFileSync(file, Buffer.concat(archive));
    const seen = new Set<ArrayBufferLike>();
    let pieces = 0;
    const handle = await open(file, "r");
    async function* watched() {
      for await (const piece of readPieces(handle)) {
        pieces++;
        seen.add(piece.buffer);
        yield piece as Buffer;
      }
    }
    const out: Buffer[] = [];
    for await (const b of decompress(watched())) out.push(Buffer.from(b));
    expect(Buffer.concat(out).equals(Buffer.concat([...parts, ...parts, ...parts]))).toBe(true);
    expect(pieces).toBe(Math.ceil(statSync(file).size / PIECE));
    // The pieces came back to be read into again: far fewer buffers than pieces (two frames
    // decode ahead, each up to 4 MB here: ~10 pieces are out at once).
    expect(pieces).toBeGreaterThan(24);
    expect(seen.size).toBeLessThan(pieces / 2);
    // The file is closed at the end, and by a stream destroyed before it read anything.
    const unread = await open(file, "r");
    readPieces(unread).destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect([handle.fd, unread.fd]).toEqual([-1, -1]);
  });

  test("a piece given back is never read again: frames in one piece or across two, a skippable frame, pieces overwritten once given back", async () => {
    // Each time the decoder asks for input, every piece it has given back is
    // overwritten at once (as the next read would). A piece given back while
    // a frame still decodes from it garbles that frame or fails its checksum.
    const parts = Array.from({ length: 12 }, (_, i) => text(2_400_000 + i * 40_000, 59 + i));
    const frames = parts.map((p) => Bun.zstdCompressSync(p, { level: 1 })); // ~210 KB each
    const size = 300_000;
    // A skippable frame right after a frame that spans two pieces, and a piece that
    // ends with it: that piece is used up by the skippable frame while the frame
    // before decodes from it.
    let end = 0;
    const spans = frames.map((f) => Math.floor(end / size) !== Math.floor(((end += f.length) - 1) / size));
    const k = spans.indexOf(true, 2) + 1;
    expect(k).toBeGreaterThan(2);
    const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0]), Buffer.from("end")]);
    const archive = Buffer.concat([...frames.slice(0, k), skippable, ...frames.slice(k)]);
    const skippableEnd = frames.slice(0, k).reduce((n, f) => n + f.length, skippable.length);
    const cuts = [...Array.from({ length: Math.ceil(archive.length / size) }, (_, i) => i * size), skippableEnd];
    cuts.sort((a, b) => a - b);
    const pool = new PiecePool();
    async function* scribbled() {
      for (const [i, at] of cuts.entries()) {
        const spare = [pool.take(), pool.take(), pool.take(), pool.take()];
        for (const b of spare) b.fill(0xee);
        for (const b of spare) recycle(b);
        const piece = pool.take();
        const n = archive.copy(piece, 0, at, cuts[i + 1] ?? archive.length);
        yield piece.subarray(0, n);
      }
    }
    const out: Buffer[] = [];
    for await (const b of decompress(scribbled())) out.push(Buffer.from(b));
    expect(Buffer.concat(out).equals(Buffer.concat(parts))).toBe(true);
  });

  test("an HTTP body's own chunks are freed once decoded; one that is part of a larger buffer is left alone", async () => {
    const parts = [text(400_000, 61), text(400_000, 67)];
    const archive = Buffer.concat(parts.map((p) => Bun.zstdCompressSync(p)));
    const cut = Math.floor(archive.length / 2);
    const own = Buffer.alloc(cut);
    archive.copy(own, 0, 0, cut);
    const larger = Buffer.alloc(archive.length + 100);
    archive.copy(larger, 50, cut);
    const shared = larger.subarray(50, 50 + archive.length - cut);
    const ONE_STREAM = { connections: 1, bytes: RANGE_BYTES };
    const body = (chunks: Uint8Array[], cancelled?: () => void) =>
      new ReadableStream<Uint8Array>({
        pull(c) {
          const chunk = chunks.shift();
          if (chunk) c.enqueue(chunk);
          else c.close();
        },
        cancel: cancelled,
      });
    const out: Buffer[] = [];
    for await (const b of decompress(rangedBody(body([own, shared]), null, ONE_STREAM))) out.push(Buffer.from(b));
    expect(Buffer.concat(out).equals(Buffer.concat(parts))).toBe(true);
    expect(own.byteLength).toBe(0); // detached: its memory is free
    expect(shared.equals(archive.subarray(cut))).toBe(true);
    // Destroying the stream cancels the body (an abandoned download closes its connection).
    let cancelled = false;
    rangedBody(
      body([Buffer.alloc(10)], () => void (cancelled = true)),
      null,
      ONE_STREAM,
    ).destroy();
    await new Promise((r) => setTimeout(r, 10));
    expect(cancelled).toBe(true);
  });

  test("not zstd, or cut inside a frame: ArchiveError", async () => {
    await expect(decodeAll(Buffer.from("not zstd at all"))).rejects.toThrow("not a zstd archive");
    const z = Bun.zstdCompressSync(text(100_000, 5));
    await expect(decodeAll(z.subarray(0, z.length - 10))).rejects.toThrow("truncated");
  });
});

describe("opening the remote cache", () => {
  const log = { warn() {}, debug() {} };

  test("nothing configured: null", () => {
    expect(openRemoteCache(loadConfig({}, "/w"), log, "/tmp/b")).toBeNull();
  });

  test("a bucket: S3, described with its prefix", () => {
    const c = openRemoteCache(
      loadConfig({ TASKRUNNER_REMOTE_CACHE_BUCKET: "b", TASKRUNNER_REMOTE_CACHE_PREFIX: "p/" }, "/w"),
      log,
      "/tmp/b",
    );
    expect(c?.description).toBe("s3://b/p/");
  });

  test("a directory and a bucket: the directory wins (said at debug level)", () => {
    const debug: string[] = [];
    const env = { TASKRUNNER_REMOTE_CACHE_BUCKET: "b", TASKRUNNER_REMOTE_CACHE_DIR: "/srv/cache" };
    const c = openRemoteCache(loadConfig(env, "/w"), { warn() {}, debug: (m) => debug.push(m) }, "/tmp/b");
    expect(c?.description).toBe("/srv/cache/taskrunner/");
    expect(debug).toEqual([expect.stringContaining("using the directory /srv/cache")]);
  });

  test("archive names", () => {
    expect(archiveName("build", null, "ab12")).toBe("build-ab12.tar.zst");
    expect(archiveName("build", "v3", "ab12")).toBe("build-v3-ab12.tar.zst");
  });

  test("opening loads neither the AWS SDK nor tar; reads and a pointer with static keys neither; an archive's upload loads the SDK", () => {
    const dir = scratch();
    const script = join(dir, "probe.ts");
    const src = join(import.meta.dir, "../../src");
    writeFileSync(
      script,
      `import { mkdirSync, writeFileSync } from "node:fs";
import { openRemoteCache } from ${JSON.stringify(join(src, "cache/index.ts"))};
import { loadConfig } from ${JSON.stringify(join(src, "config.ts"))};
const heavy = () => Object.keys(require.cache).filter((k) => /@aws-sdk|@smithy|node_modules\\/tar\\/|cache\\/(archive|restore)\\.ts/.test(k)).length;
const log = { warn() {}, debug() {} };
const s3 = openRemoteCache(loadConfig({ TASKRUNNER_REMOTE_CACHE_BUCKET: "b", TASKRUNNER_S3_ENDPOINT: "http://127.0.0.1:9", TASKRUNNER_AWS_ACCESS_KEY: "k", TASKRUNNER_AWS_SECRET_KEY: "s" }, "/"), log, ${JSON.stringify(dir)}, { attempts: 1 });
openRemoteCache(loadConfig({ TASKRUNNER_REMOTE_CACHE_DIR: ${JSON.stringify(dir)} }, "/"), log, ${JSON.stringify(dir)});
const before = heavy();
await s3.getLatestHash("j", "b");
await s3.setLatestHash("j", "b", "h");
const afterPointer = heavy();
mkdirSync(${JSON.stringify(join(dir, "src/out"))}, { recursive: true });
writeFileSync(${JSON.stringify(join(dir, "src/out/f"))}, "f");
await s3.saveArchive("x.tar.zst", ${JSON.stringify(join(dir, "src"))}, ["out"]);
const sdk = Object.keys(require.cache).filter((k) => k.includes("@aws-sdk/client-s3")).length;
console.log(JSON.stringify({ before, afterPointer, afterUpload: sdk }));`,
    );
    const p = Bun.spawnSync([process.execPath, script], { stderr: "pipe" });
    expect(p.stderr.toString()).toBe("");
    const { before, afterPointer, afterUpload } = JSON.parse(p.stdout.toString());
    expect(before).toBe(0);
    expect(afterPointer).toBe(0);
    expect(afterUpload).toBeGreaterThan(0);
  });
});
