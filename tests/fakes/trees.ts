// Output trees for the cache tests: build one with every kind of member the
// cache must keep (modes, symlinks, empty and nested directories, mtimes),
// describe a tree as comparable data, and forge hostile archives.
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  lutimesSync,
} from "node:fs";
import { join } from "node:path";
import zlib from "node:zlib";
import { createHash } from "node:crypto";
import * as tar from "tar";

const T0 = new Date("2021-03-04T05:06:07Z");
const T1 = new Date("2022-08-09T10:11:12Z");

/**
 * Under root:
 *   out/bin/tool        0755 (setuid set: must come back without it)
 *   out/lib/a.txt       0644, out/lib/ro.txt 0444, out/lib/group.txt 0664
 *   out/lib/deep/er/x   nested
 *   out/empty/          empty directory, 0750
 *   out/link -> lib/a.txt, out/dangling -> nowhere
 *   single.txt          an output that is a single file
 *   other/keep.txt      not an output
 * All with fixed mtimes (T0 for files, T1 for directories).
 */
export function makeOutputTree(root: string): { outputs: string[] } {
  const f = (rel: string, content: string, mode: number) => {
    mkdirSync(join(root, rel, ".."), { recursive: true });
    writeFileSync(join(root, rel), content);
    chmodSync(join(root, rel), mode);
    utimesSync(join(root, rel), T0, T0);
  };
  f("out/bin/tool", "#!/bin/sh\necho tool\n", 0o4755);
  f("out/lib/a.txt", "alpha\n", 0o644);
  f("out/lib/ro.txt", "read only\n", 0o444);
  f("out/lib/group.txt", "group writable\n", 0o664);
  f("out/lib/deep/er/x", "deep\n", 0o600);
  mkdirSync(join(root, "out/empty"), { recursive: true });
  chmodSync(join(root, "out/empty"), 0o750);
  symlinkSync("lib/a.txt", join(root, "out/link"));
  symlinkSync("does-not-exist", join(root, "out/dangling"));
  lutimesSync(join(root, "out/link"), T0, T0);
  f("single.txt", "one file\n", 0o640);
  f("other/keep.txt", "not an output\n", 0o644);
  for (const d of ["out/lib/deep/er", "out/lib/deep", "out/lib", "out/bin", "out/empty", "out"])
    utimesSync(join(root, d), T1, T1);
  return { outputs: ["./out", "single.txt"] };
}

export interface Member {
  path: string;
  type: "file" | "dir" | "symlink";
  mode: number;
  mtime: number;
  content?: string;
  target?: string;
}

/** makeOutputTree's outputs as a restore must leave them: setuid dropped. */
export function restoredOutputTree(src: string): ReturnType<typeof describeTree> {
  return describeTree(src)
    .filter((m) => m.path.startsWith("out") || m.path === "single.txt")
    .map((m) => (m.path === "out/bin/tool" ? { ...m, mode: 0o755 } : m));
}

/** A restore root under dir that already holds an output, and what it holds: a failed restore must leave it so. */
export function prepareRoot(dir: string): { root: string; before: Member[] } {
  const root = join(dir, "restore-here");
  mkdirSync(join(root, "out"), { recursive: true });
  writeFileSync(join(root, "out/existing.txt"), "was here\n");
  return { root, before: describeTree(root) };
}

/** Every member under root (sorted), with what the cache must keep. */
export function describeTree(root: string, rel = ""): Member[] {
  const out: Member[] = [];
  for (const name of readdirSync(join(root, rel)).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    const abs = join(root, path);
    const st = lstatSync(abs);
    const mode = st.mode & 0o7777;
    const mtime = Math.floor(st.mtimeMs / 1000);
    if (st.isSymbolicLink()) out.push({ path, type: "symlink", mode: 0, mtime, target: readlinkSync(abs) });
    else if (st.isDirectory()) {
      out.push({ path, type: "dir", mode, mtime });
      out.push(...describeTree(root, path));
    } else out.push({ path, type: "file", mode, mtime, content: digest(readFileSync(abs)) });
  }
  return out;
}

function digest(b: Buffer): string {
  return b.length < 64 && !b.includes(0) ? b.toString() : `sha1:${createHash("sha1").update(b).digest("hex")}`;
}

export interface ForgedEntry {
  path: string;
  type?: "File" | "Directory" | "SymbolicLink" | "Link" | "FIFO";
  linkpath?: string;
  body?: string;
  mode?: number;
}

/** A zstd-compressed tar with exactly these headers, however unsafe. */
export function forgeArchive(entries: ForgedEntry[], { endMarker = true } = {}): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? "");
    const type = e.type ?? "File";
    const h = new tar.Header({
      path: e.path,
      type,
      linkpath: e.linkpath,
      mode: e.mode ?? (type === "Directory" ? 0o755 : 0o644),
      size: type === "File" ? body.length : 0,
      mtime: T0,
      uid: 0,
      gid: 0,
    });
    h.encode();
    blocks.push(h.block!);
    if (type === "File" && body.length) blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  if (endMarker) blocks.push(Buffer.alloc(1024));
  return zlib.zstdCompressSync(Buffer.concat(blocks));
}
