// The remote cache contract, run against every store: the directory store and
// a real S3 server (s3rver on 127.0.0.1). Whatever the backend, a round trip
// keeps the tree, a miss is a miss, and every fault of the archive is a
// one-line "failed" that leaves the cache root as it was.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import zlib from "node:zlib";
import { archiveName } from "../../src/cache/index";
import { fsBackend, removeScratch, s3Backend } from "../fakes/cache-backends";
import { describeTree, forgeArchive, makeOutputTree, prepareRoot, restoredOutputTree } from "../fakes/trees";

const bundle = (name: string) => `taskrunner/bundles/${name}`;

/** A move that fails needs a file that cannot be moved, whoever runs the tests: an immutable one (chattr +i). */
const immutableFiles = (() => {
  const dir = mkdtempSync(join(tmpdir(), "chattr-"));
  try {
    writeFileSync(join(dir, "f"), "");
    const ok = Bun.spawnSync(["chattr", "+i", join(dir, "f")], { stderr: "ignore" }).success;
    if (ok) Bun.spawnSync(["chattr", "-i", join(dir, "f")]);
    else
      console.warn(
        "skipping 'a move that fails half-way': chattr +i is not possible here (it needs root and a file system with immutable files)",
      );
    return ok;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();

/** The restore root still holds exactly what it held before (no partial members, no temp dirs). */
function expectUntouched(root: string, before: ReturnType<typeof describeTree>) {
  expect(describeTree(root)).toEqual(before);
}

for (const backend of [fsBackend, s3Backend]) {
  describe(`remote cache contract: ${backend.name}`, () => {
    beforeAll(async () => backend.setup?.());
    afterAll(async () => {
      await backend.teardown?.();
      removeScratch();
    });

    test("save then restore keeps modes, symlinks, directories, mtimes; strips setuid", async () => {
      const f = await backend.fixture();
      const src = join(f.dir, "src");
      const { outputs } = makeOutputTree(src);
      const name = archiveName("build", "v2", "abc123");
      expect(name).toBe("build-v2-abc123.tar.zst");
      expect(await f.cache.saveArchive(name, src, outputs)).toMatchObject({ kind: "saved" });
      expect(await f.readRaw(bundle(name))).not.toBeNull();

      const dest = join(f.dir, "dest");
      let found = 0;
      expect(await f.cache.restoreArchive(name, dest, { onFound: () => found++ })).toMatchObject({ kind: "restored" });
      expect(found).toBe(1);
      const expected = restoredOutputTree(src);
      expect(describeTree(dest)).toEqual(expected);
      expect(readdirSync(dest).sort()).toEqual(["out", "single.txt"]);
    });

    test("stampRestoreTime: every member (files, directories, symlinks) gets the one time the restore began", async () => {
      const f = await backend.fixture();
      const src = join(f.dir, "src");
      const { outputs } = makeOutputTree(src);
      expect((await f.cache.saveArchive("stamp.tar.zst", src, outputs)).kind).toBe("saved");
      const dest = join(f.dir, "dest");
      const before = Date.now();
      expect(
        await f.cache.restoreArchive("stamp.tar.zst", dest, { outputs: ["out", "single.txt"], stampRestoreTime: true }),
      ).toMatchObject({
        kind: "restored",
      });
      const after = Date.now();
      const withoutTime = ({ mtime: _, ...m }: ReturnType<typeof describeTree>[number]) => m;
      const expected = restoredOutputTree(src);
      expect(describeTree(dest).map(withoutTime)).toEqual(expected.map(withoutTime));
      const times = new Set(describeTree(dest).map((m) => lstatSync(join(dest, m.path), { bigint: true }).mtimeNs));
      expect(times.size).toBe(1);
      const stamp = lstatSync(join(dest, "out")).mtimeMs;
      expect(stamp).toBeGreaterThanOrEqual(before - 1);
      expect(stamp).toBeLessThanOrEqual(after);
    });

    test("without declared outputs, restore merges into the root like tar -x: members replace, the rest stays", async () => {
      const f = await backend.fixture();
      const src = join(f.dir, "src");
      const { outputs } = makeOutputTree(src);
      expect((await f.cache.saveArchive("m.tar.zst", src, outputs)).kind).toBe("saved");
      const dest = join(f.dir, "dest");
      mkdirSync(join(dest, "out/lib"), { recursive: true });
      writeFileSync(join(dest, "out/lib/a.txt"), "stale\n");
      writeFileSync(join(dest, "out/stale-extra.txt"), "extra\n");
      mkdirSync(join(dest, "single.txt")); // a directory where the archive has a file
      writeFileSync(join(dest, "single.txt/inner"), "x");
      expect(await f.cache.restoreArchive("m.tar.zst", dest)).toMatchObject({ kind: "restored" });
      expect(readFileSync(join(dest, "out/lib/a.txt"), "utf8")).toBe("alpha\n");
      expect(readFileSync(join(dest, "out/stale-extra.txt"), "utf8")).toBe("extra\n");
      expect(readFileSync(join(dest, "single.txt"), "utf8")).toBe("one file\n");
      expect(readdirSync(dest).filter((n) => n.startsWith(".taskrunner"))).toEqual([]);
    });

    test("a declared output is replaced whole: what the archive no longer has goes, the rest of the root stays", async () => {
      const f = await backend.fixture();
      const src = join(f.dir, "src");
      makeOutputTree(src);
      const outputs = ["out", "single.txt"];
      expect((await f.cache.saveArchive("r.tar.zst", src, outputs)).kind).toBe("saved");
      const dest = join(f.dir, "dest");
      // A stale node_modules, say: a package the new lockfile dropped, a file changed since.
      mkdirSync(join(dest, "out/lib"), { recursive: true });
      mkdirSync(join(dest, "out/dropped-package"), { recursive: true });
      writeFileSync(join(dest, "out/dropped-package/index.js"), "stale\n");
      writeFileSync(join(dest, "out/lib/a.txt"), "stale\n");
      writeFileSync(join(dest, "out/lib/stale-extra.txt"), "extra\n");
      mkdirSync(join(dest, "single.txt"));
      writeFileSync(join(dest, "single.txt/inner"), "x");
      mkdirSync(join(dest, "other"));
      writeFileSync(join(dest, "other/not-an-output.txt"), "kept\n");
      expect(await f.cache.restoreArchive("r.tar.zst", dest, { outputs })).toMatchObject({ kind: "restored" });
      const fromArchive = describeTree(src)
        .filter((m) => m.path.startsWith("out") || m.path === "single.txt")
        .map((m) => (m.path === "out/bin/tool" ? { ...m, mode: 0o755 } : m));
      expect(describeTree(dest).filter((m) => m.path.startsWith("out") || m.path === "single.txt")).toEqual(
        fromArchive,
      );
      expect(readFileSync(join(dest, "other/not-an-output.txt"), "utf8")).toBe("kept\n");
      expect(readdirSync(dest).sort()).toEqual(["other", "out", "single.txt"]);
    });

    test("a declared output the archive does not hold is left alone", async () => {
      const f = await backend.fixture();
      const src = join(f.dir, "src");
      makeOutputTree(src);
      expect((await f.cache.saveArchive("o.tar.zst", src, ["out"])).kind).toBe("saved");
      const dest = join(f.dir, "dest");
      mkdirSync(join(dest, "coverage"), { recursive: true });
      writeFileSync(join(dest, "coverage/report.txt"), "mine\n");
      expect(await f.cache.restoreArchive("o.tar.zst", dest, { outputs: ["out", "coverage"] })).toMatchObject({
        kind: "restored",
      });
      expect(readFileSync(join(dest, "coverage/report.txt"), "utf8")).toBe("mine\n");
      expect(readFileSync(join(dest, "out/lib/a.txt"), "utf8")).toBe("alpha\n");
    });

    test("a corrupt archive leaves the old outputs in place, whole", async () => {
      const f = await backend.fixture();
      const { root, before } = prepareRoot(f.dir);
      await f.writeRaw(
        bundle("bad.tar.zst"),
        forgeArchive([{ path: "out/new.txt", body: "new" }], { endMarker: false }),
      );
      const r = await f.cache.restoreArchive("bad.tar.zst", root, { outputs: ["out"] });
      expect(r.kind).toBe("failed");
      expectUntouched(root, before);
    });

    test.skipIf(!immutableFiles)("a move that fails half-way puts the old outputs back", async () => {
      const f = await backend.fixture();
      const root = join(f.dir, "restore-here");
      mkdirSync(join(root, "out"), { recursive: true });
      writeFileSync(join(root, "out/old.txt"), "old output\n");
      mkdirSync(join(root, "zz"));
      writeFileSync(join(root, "zz/locked"), "cannot be replaced\n");
      // Moves run in name order: out (replaced whole) first, then zz/locked, which fails.
      expect(Bun.spawnSync(["chattr", "+i", join(root, "zz/locked")]).success).toBe(true);
      try {
        const before = describeTree(root);
        await f.writeRaw(
          bundle("half.tar.zst"),
          forgeArchive([
            { path: "out/new.txt", body: "new" },
            { path: "zz/locked", body: "replacement" },
          ]),
        );
        const r = await f.cache.restoreArchive("half.tar.zst", root, { outputs: ["out"] });
        expect(r).toEqual({
          kind: "failed",
          message: expect.stringContaining("nothing was restored, the old outputs are in place"),
        });
        expect(describeTree(root)).toEqual(before);
      } finally {
        Bun.spawnSync(["chattr", "-i", join(root, "zz/locked")]);
      }
    });

    test("the whole cache root as the output ('.')", async () => {
      const f = await backend.fixture();
      const src = join(f.dir, "src");
      makeOutputTree(src);
      expect(await f.cache.saveArchive("all.tar.zst", src, ["."])).toMatchObject({ kind: "saved" });
      const dest = join(f.dir, "dest");
      expect(await f.cache.restoreArchive("all.tar.zst", dest)).toMatchObject({ kind: "restored" });
      const strip = (ms: ReturnType<typeof describeTree>) =>
        ms.map((m) => (m.path === "out/bin/tool" ? { ...m, mode: 0o755 } : m));
      expect(describeTree(dest)).toEqual(strip(describeTree(src)));
    });

    test("symlink targets are kept as archived: absolute, leaving the tree, through another link", async () => {
      const f = await backend.fixture();
      const links = {
        "out/pkg": "real/pkg",
        "out/.bin/t": "../pkg/bin/t", // pnpm: resolves through out/pkg, which is already a link
        "out/abs": "/usr/bin/env", // a Python venv's bin/python
        "out/up": "../../../shared/thing",
      };
      await f.writeRaw(
        bundle("links.tar.zst"),
        forgeArchive([
          { path: "out/real/pkg/bin/", type: "Directory" },
          { path: "out/real/pkg/bin/t", body: "tool", mode: 0o755 },
          ...Object.entries(links).map(([path, linkpath]) => ({ path, type: "SymbolicLink" as const, linkpath })),
        ]),
      );
      const dest = join(f.dir, "dest");
      expect(await f.cache.restoreArchive("links.tar.zst", dest)).toMatchObject({ kind: "restored" });
      for (const [path, target] of Object.entries(links)) expect(readlinkSync(join(dest, path))).toBe(target);
      expect(readFileSync(join(dest, "out/.bin/t"), "utf8")).toBe("tool");
    });

    test("a later member with the same name replaces the earlier one, as with tar -x", async () => {
      const f = await backend.fixture();
      await f.writeRaw(
        bundle("dup.tar.zst"),
        forgeArchive([
          { path: "out/x", body: "first" },
          { path: "out/x/", type: "Directory" },
          { path: "out/x/inner", body: "inner" },
          { path: "out/y", body: "old" },
          { path: "out/y", body: "new" },
          { path: "out/y-link", type: "Link", linkpath: "out/y" },
        ]),
      );
      const dest = join(f.dir, "dest");
      expect(await f.cache.restoreArchive("dup.tar.zst", dest)).toMatchObject({ kind: "restored" });
      expect(readFileSync(join(dest, "out/x/inner"), "utf8")).toBe("inner");
      expect(readFileSync(join(dest, "out/y-link"), "utf8")).toBe("new");
    });

    test("an archive bigger than one upload part round-trips", async () => {
      const f = await backend.fixture();
      const src = join(f.dir, "src");
      mkdirSync(join(src, "big"), { recursive: true });
      const blob = randomBytes(12 * 1024 * 1024); // incompressible: > 2 parts of 5 MB
      writeFileSync(join(src, "big/blob.bin"), blob);
      expect(await f.cache.saveArchive("big.tar.zst", src, ["big"])).toMatchObject({ kind: "saved" });
      const dest = join(f.dir, "dest");
      expect(await f.cache.restoreArchive("big.tar.zst", dest)).toMatchObject({ kind: "restored" });
      expect(readFileSync(join(dest, "big/blob.bin")).equals(blob)).toBe(true);
    });

    test("an output outside the cache root fails, naming it, and uploads nothing", async () => {
      const f = await backend.fixture();
      const src = join(f.dir, "src");
      makeOutputTree(src);
      mkdirSync(join(f.dir, "elsewhere"));
      writeFileSync(join(f.dir, "elsewhere/f"), "x");
      symlinkSync(join(f.dir, "elsewhere"), join(src, "escape"));
      for (const bad of ["../elsewhere", join(f.dir, "elsewhere"), "escape/f"]) {
        const r = await f.cache.saveArchive("outside.tar.zst", src, ["out", bad]);
        expect(r.kind).toBe("failed");
        if (r.kind === "failed") {
          expect(r.message).toContain(bad);
          expect(r.message).toContain("outside the cache root");
        }
      }
      expect(await f.readRaw(bundle("outside.tar.zst"))).toBeNull();
    });

    test("a declared output that does not exist fails, naming it, and uploads nothing", async () => {
      const f = await backend.fixture();
      const src = join(f.dir, "src");
      makeOutputTree(src);
      const r = await f.cache.saveArchive("missing.tar.zst", src, ["out", "dist/app.js"]);
      expect(r).toEqual({ kind: "failed", message: expect.stringContaining("output dist/app.js does not exist") });
      expect(await f.readRaw(bundle("missing.tar.zst"))).toBeNull();
      expect(f.lines.warn).toEqual([]);
    });

    test("no archive is a plain miss, and the root is not created", async () => {
      const f = await backend.fixture();
      const root = join(f.dir, "never");
      expect(
        await f.cache.restoreArchive("nothing-0000.tar.zst", root, { onFound: () => expect.unreachable() }),
      ).toEqual({ kind: "miss" });
      expect(existsSync(root)).toBe(false);
      expect(f.lines.warn).toEqual([]);
    });

    test("latest-hash pointer: absent, written, read back trimmed, per branch", async () => {
      const f = await backend.fixture();
      expect(await f.cache.getLatestHash("build", "main")).toBeNull();
      await f.cache.setLatestHash("build", "main", "1111");
      await f.cache.setLatestHash("build", "feature/x", "2222");
      await f.writeRaw("taskrunner/latest/build-old.txt", "3333\n"); // as the old tool or a person might write it
      expect(await f.cache.getLatestHash("build", "main")).toBe("1111");
      expect(await f.cache.getLatestHash("build", "feature/x")).toBe("2222");
      expect(await f.cache.getLatestHash("build", "old")).toBe("3333");
      expect((await f.readRaw("taskrunner/latest/build-main.txt"))!.body.toString()).toBe("1111");
      expect(f.lines.warn).toEqual([]);
    });

    test("an empty prefix puts keys at the top", async () => {
      const f = await backend.fixture({ TASKRUNNER_REMOTE_CACHE_PREFIX: "" });
      await f.cache.setLatestHash("j", "b", "h");
      expect((await f.readRaw("latest/j-b.txt"))!.body.toString()).toBe("h");
    });

    test("log upload: key, content type and URL", async () => {
      const f = await backend.fixture();
      const log = join(f.dir, "job.log");
      writeFileSync(log, "10:00:00 stdout | héllo\n");
      const id = "2026-11-28T10:00:00.123456Z";
      expect(await f.cache.uploadLog(id, "build", log)).toEqual({
        url: `https://logs.example.com/view/${id}/build.log.txt`,
      });
      const raw = (await f.readRaw(`logs/${id}/build.log.txt`))!;
      expect(raw.body.toString()).toBe("10:00:00 stdout | héllo\n");
      if (backend === s3Backend) expect(raw.contentType).toBe("text/plain; charset=utf-8");
      expect(await f.cache.uploadLog(id, "gone", join(f.dir, "no.log"))).toEqual({
        failed: expect.stringContaining("no.log"),
      });
    });

    const badArchives: [string, () => Buffer][] = [
      ["garbage", () => randomBytes(4096)],
      ["a zstd stream that is not a tar", () => zlib.zstdCompressSync(Buffer.from("hello ".repeat(1000)))],
      [
        "a member named ../x",
        () =>
          forgeArchive([
            { path: "out/ok.txt", body: "ok" },
            { path: "../escaped.txt", body: "evil" },
          ]),
      ],
      ["an absolute member name", () => forgeArchive([{ path: "/tmp/taskrunner-evil.txt", body: "evil" }])],
      [
        "a member written through a symlink it planted",
        () =>
          forgeArchive([
            { path: "out/l", type: "SymbolicLink", linkpath: "/tmp" },
            { path: "out/l/taskrunner-evil.txt", body: "evil" },
          ]),
      ],
      ["a hard link to ../", () => forgeArchive([{ path: "out/h", type: "Link", linkpath: "../../etc/passwd" }])],
      ["a tar without its end marker", () => forgeArchive([{ path: "out/a.txt", body: "a" }], { endMarker: false })],
      [
        "a member below a file",
        () =>
          forgeArchive([
            { path: "out/f", body: "f" },
            { path: "out/f/x", body: "x" },
          ]),
      ],
      [
        "a hard link to a name not in the archive",
        () => forgeArchive([{ path: "out/h", type: "Link", linkpath: "out/elsewhere" }]),
      ],
      ["a FIFO", () => forgeArchive([{ path: "out/pipe", type: "FIFO" }])],
      // Header fields end at a NUL, but our decoder stops at one only before a newline: a name
      // like this must be refused, not cut (a system call would end it at the NUL, not where it was checked).
      [
        "a NUL byte in a member's name",
        () => forgeArchive([{ path: "out/a\x00\n\x001\x00/tmp/taskrunner-evil.txt\x00420", body: "evil" }]),
      ],
    ];
    for (const [what, make] of badArchives) {
      test(`${what}: failed, nothing written, root untouched`, async () => {
        const f = await backend.fixture();
        await f.writeRaw(bundle("bad.tar.zst"), make());
        const { root, before } = prepareRoot(f.dir);
        const r = await f.cache.restoreArchive("bad.tar.zst", root);
        expect(r.kind).toBe("failed");
        if (r.kind === "failed") {
          expect(r.message).toContain("bad.tar.zst");
          expect(r.message).not.toContain("\n");
        }
        expectUntouched(root, before);
        expect(existsSync("/tmp/taskrunner-evil.txt")).toBe(false);
        expect(existsSync(join(f.dir, "escaped.txt"))).toBe(false);
        // A bad archive is not the store failing: it does not count towards switching the cache off.
        expect(existsSync(join(f.buildDir, "remote-cache-failures"))).toBe(false);
      });
    }

    test("a flipped byte is caught (zstd content checksum), and the root stays untouched", async () => {
      const f = await backend.fixture();
      const src = join(f.dir, "src");
      mkdirSync(join(src, "out"), { recursive: true });
      // Incompressible: zstd stores it raw, so only the checksum can notice a flip.
      writeFileSync(join(src, "out/random.bin"), randomBytes(200_000));
      expect((await f.cache.saveArchive("flip.tar.zst", src, ["out"])).kind).toBe("saved");
      const body = Buffer.from((await f.readRaw(bundle("flip.tar.zst")))!.body);
      body[Math.floor(body.length / 2)] ^= 0x10;
      await f.writeRaw(bundle("flip.tar.zst"), body);
      const { root, before } = prepareRoot(f.dir);
      const r = await f.cache.restoreArchive("flip.tar.zst", root);
      expect(r).toEqual({ kind: "failed", message: expect.stringContaining("checksum") });
      expectUntouched(root, before);
    });

    test("a truncated archive fails wherever it is cut, and the root stays untouched", async () => {
      const f = await backend.fixture();
      const src = join(f.dir, "src");
      const { outputs } = makeOutputTree(src);
      writeFileSync(join(src, "out/big.bin"), randomBytes(300_000));
      expect((await f.cache.saveArchive("whole.tar.zst", src, outputs)).kind).toBe("saved");
      const whole = (await f.readRaw(bundle("whole.tar.zst")))!.body;
      for (const cut of [100, Math.floor(whole.length / 2), whole.length - 40]) {
        await f.writeRaw(bundle("cut.tar.zst"), whole.subarray(0, cut));
        const { root, before } = prepareRoot(join(f.dir, `cut-${cut}`));
        const r = await f.cache.restoreArchive("cut.tar.zst", root);
        expect({ cut, kind: r.kind }).toEqual({ cut, kind: "failed" });
        expectUntouched(root, before);
      }
    });
  });
}
