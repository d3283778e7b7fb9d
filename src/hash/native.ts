// The few file-system calls of the fast hashing route, straight to libc through
// bun:ffi: importing node:fs costs ~3 ms in a compiled Bun binary, as much as
// the whole fast route. Paths are byte strings (Uint8Array) because git paths
// need not be UTF-8. Only Linux (glibc ≥ 2.33 or musl) and Darwin layouts of
// `struct stat` / `struct dirent` are known; elsewhere `native()` is null and
// callers take the reference route.
import { FFIType, ptr, read, toArrayBuffer } from "bun:ffi";
import { dlopenLibc, Errno, ERRNO_SYMBOL } from "../sys/libc";

export interface Stat {
  mode: number;
  ino: number;
  uid: number;
  gid: number;
  size: number;
  mtimeSec: number;
  mtimeNsec: number;
  ctimeSec: number;
  ctimeNsec: number;
  dev: number;
}

export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
export const DT_UNKNOWN = 0;
export const DT_DIR = 4;
export const DT_REG = 8;
export const DT_LNK = 10;

interface Layout {
  suffix: string; // Darwin x86_64 names the 64-bit-inode variants `lstat$INODE64` etc.
  statSize: number;
  stat: (u: Uint32Array, s: Int32Array) => Stat;
  direntName: number; // offset of d_name
  direntType: number; // offset of d_type
}

// Field offsets in `struct stat` (bytes). Read through 32-bit views: a BigInt per
// field costs more than the lstat call itself in a process that runs this once.
interface StatOffsets {
  dev: number;
  ino: number;
  mode: number;
  mode16?: true; // Darwin's st_mode is 16 bits
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  ctime: number;
}

function layout(): Layout | null {
  const { platform, arch } = process;
  let o: StatOffsets;
  let suffix = "";
  let dirent: [number, number];
  if (platform === "linux" && (arch === "x64" || arch === "arm64")) {
    const x64 = arch === "x64";
    o = { dev: 0, ino: 8, mode: x64 ? 24 : 16, uid: x64 ? 28 : 24, gid: x64 ? 32 : 28, size: 48, mtime: 88, ctime: 104 };
    dirent = [18, 19];
  } else if (platform === "darwin" && (arch === "x64" || arch === "arm64")) {
    o = { dev: 0, mode: 4, mode16: true, ino: 8, uid: 16, gid: 20, mtime: 48, ctime: 64, size: 96 };
    suffix = arch === "x64" ? "$INODE64" : "";
    dirent = [20, 21];
  } else return null;
  return {
    suffix,
    statSize: 256,
    direntType: dirent[0],
    direntName: dirent[1],
    stat: (u, s) => {
      const w64 = (b: number) => u[b >> 2] + s[(b >> 2) + 1] * 4294967296;
      return {
        dev: u[o.dev >> 2],
        ino: w64(o.ino),
        mode: o.mode16 ? u[o.mode >> 2] & 0xffff : u[o.mode >> 2],
        uid: u[o.uid >> 2],
        gid: u[o.gid >> 2],
        size: w64(o.size),
        mtimeSec: w64(o.mtime),
        mtimeNsec: u[(o.mtime >> 2) + 2],
        ctimeSec: w64(o.ctime),
        ctimeNsec: u[(o.ctime >> 2) + 2],
      };
    },
  };
}

const { i32, u64, i64, ptr: P } = { i32: FFIType.i32, u64: FFIType.u64, i64: FFIType.i64_fast, ptr: FFIType.ptr };

export interface Native {
  /** lstat(2); null when the path is gone (ENOENT, ENOTDIR); throws on other errors. */
  lstat(path: Uint8Array): Stat | null;
  /** The whole file, or null when it is gone; sizeHint: its expected size. */
  readFile(path: Uint8Array, sizeHint?: number): Uint8Array | null;
  readlink(path: Uint8Array): Uint8Array | null;
  /** Directory entries as [name bytes, d_type], without . and ..; null when the directory is gone. */
  readdir(path: Uint8Array): [Uint8Array, number][] | null;
  /** pread(2) of up to `length` bytes at `offset` of an open descriptor. */
  pread(fd: number, length: number, offset: number): Uint8Array;
  open(path: Uint8Array): number | null;
  close(fd: number): void;
  geteuid(): number;
}

let loaded: Native | null | undefined;

/** The bindings, or null where this platform's layouts are unknown or libc lacks a symbol. */
export function native(): Native | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  const l = layout();
  if (!l) return null;
  const symbols = {
    [`lstat${l.suffix}`]: { args: [P, P], returns: i32 },
    [`opendir${l.suffix}`]: { args: [P], returns: P },
    [`readdir${l.suffix}`]: { args: [P], returns: P },
    closedir: { args: [P], returns: i32 },
    open: { args: [P, i32], returns: i32 },
    read: { args: [i32, P, u64], returns: i64 },
    pread: { args: [i32, P, u64, i64], returns: i64 },
    close: { args: [i32], returns: i32 },
    readlink: { args: [P, P, u64], returns: i64 },
    geteuid: { args: [], returns: FFIType.u32 },
    [ERRNO_SYMBOL]: { args: [], returns: P },
  };
  // None found (e.g. glibc < 2.33 has no `lstat` symbol) → null, the reference route.
  // biome-ignore lint/suspicious/noExplicitAny: FFI symbol table
  const opened = dlopenLibc<Record<string, (...a: any[]) => any>>(symbols, { musl: false });
  if ("error" in opened) return null;
  const fn = opened.symbols;
  const errnoAt = fn[ERRNO_SYMBOL]() as number;
  const errno = () => read.i32(errnoAt as never, 0);
  // One buffer (and its pointer, computed once) for every path argument: the calls
  // are synchronous, so it is never shared by two at a time.
  const pathBuf = new Uint8Array(new ArrayBuffer(8192));
  const pathPtr = ptr(pathBuf);
  const cpath = (p: Uint8Array): number => {
    if (p.length >= pathBuf.length) {
      const b = new Uint8Array(p.length + 1);
      b.set(p);
      return ptr(b);
    }
    pathBuf.set(p);
    pathBuf[p.length] = 0;
    return pathPtr;
  };
  // Views made before taking the pointer: asking a small typed array for its .buffer
  // afterwards can move its storage, leaving the pointer stale.
  const statMem = new ArrayBuffer(l.statSize);
  const statU32 = new Uint32Array(statMem);
  const statI32 = new Int32Array(statMem);
  const statPtr = ptr(statU32);
  const gone = (e: number) => e === Errno.ENOENT || e === Errno.ENOTDIR;
  const fail = (what: string, p: Uint8Array, e: number): never => {
    throw new Error(`${what} ${Buffer.from(p).toString()}: errno ${e}`);
  };
  const lstatFn = fn[`lstat${l.suffix}`];
  const lstat = (p: Uint8Array): Stat | null => {
    if (lstatFn(cpath(p), statPtr) !== 0) {
      const e = errno();
      return gone(e) ? null : fail("lstat", p, e);
    }
    return l.stat(statU32, statI32);
  };
  const open = (p: Uint8Array): number | null => {
    const fd = fn.open(cpath(p), 0) as number;
    if (fd >= 0) return fd;
    const e = errno();
    return gone(e) ? null : fail("open", p, e);
  };
  const close = (fd: number) => void fn.close(fd);
  const readFile = (p: Uint8Array, sizeHint = 0): Uint8Array | null => {
    const fd = open(p);
    if (fd === null) return null;
    try {
      // One buffer of the expected size (+1 to see the end at once), grown if the file grew.
      let buf = new Uint8Array(sizeHint + 1 > 4096 ? sizeHint + 1 : 4096);
      let got = 0;
      for (;;) {
        if (got === buf.length) {
          const bigger = new Uint8Array(buf.length * 2);
          bigger.set(buf);
          buf = bigger;
        }
        const n = fn.read(fd, ptr(buf, got), buf.length - got) as number;
        if (n < 0) fail("read", p, errno());
        if (n === 0) return buf.subarray(0, got);
        got += n;
      }
    } finally {
      close(fd);
    }
  };
  const readlink = (p: Uint8Array): Uint8Array | null => {
    for (let size = 256; ; size *= 4) {
      const buf = new Uint8Array(size);
      const n = fn.readlink(cpath(p), ptr(buf), size) as number;
      if (n < 0) {
        const e = errno();
        return gone(e) ? null : fail("readlink", p, e);
      }
      if (n < size) return buf.subarray(0, n);
    }
  };
  const readdir = (p: Uint8Array): [Uint8Array, number][] | null => {
    const dir = fn[`opendir${l.suffix}`](cpath(p));
    if (!dir) {
      const e = errno();
      return gone(e) ? null : fail("opendir", p, e);
    }
    const out: [Uint8Array, number][] = [];
    try {
      for (;;) {
        const ent = fn[`readdir${l.suffix}`](dir);
        if (!ent) break;
        const reclen = read.u16(ent, 16);
        const rec = new Uint8Array(toArrayBuffer(ent, 0, reclen));
        let end = l.direntName;
        while (end < reclen && rec[end] !== 0) end++;
        const name = rec.slice(l.direntName, end);
        if (name.length === 1 && name[0] === 46) continue;
        if (name.length === 2 && name[0] === 46 && name[1] === 46) continue;
        out.push([name, rec[l.direntType]]);
      }
    } finally {
      fn.closedir(dir);
    }
    return out;
  };
  const pread = (fd: number, length: number, offset: number): Uint8Array => {
    const buf = new Uint8Array(length);
    let got = 0;
    while (got < length) {
      const n = fn.pread(fd, ptr(buf, got), length - got, offset + got) as number;
      if (n < 0) throw new Error(`pread: errno ${errno()}`);
      if (n === 0) break;
      got += n;
    }
    return got === length ? buf : buf.subarray(0, got);
  };
  loaded = { lstat, readFile, readlink, readdir, pread, open, close, geteuid: () => fn.geteuid() as number };
  return loaded;
}
