// The few file-system calls of the fast hashing route, straight to libc through
// bun:ffi: importing node:fs costs ~3 ms in a compiled Bun binary, as much as
// the whole fast route. Paths are byte strings (Uint8Array) because git paths
// need not be UTF-8. Only Linux (glibc ≥ 2.33 or musl) and Darwin layouts of
// `struct stat` / `struct dirent` are known; elsewhere `native()` is null and
// callers take the reference route.
//
// A walk over thousands of files is made of system calls (on a 2-core VM, an
// lstat costs ~1.4 µs — more than all the JavaScript around it), so the walk
// holds directories open: one openat(2) per directory, which also refuses a
// symbolic link, one listing (getdents64 on Linux), and fstatat(2) of each file
// by its name alone, ~15% cheaper than an lstat of its whole path.
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

/**
 * A directory's entries (without . and ..) in one buffer: entry i's name is
 * data[start[i] .. start[i] + len[i]), its d_type type[i]. No object per entry:
 * a listing of thousands of names is walked, not kept.
 */
export interface DirList {
  count: number;
  data: Uint8Array;
  start: Int32Array;
  len: Int32Array;
  type: Uint8Array;
}

/** Entry i's name, bytes as latin1 (git paths need not be UTF-8). */
export function entryName(list: DirList, i: number): string {
  return Buffer.from(list.data.buffer, list.data.byteOffset + list.start[i], list.len[i]).toString("latin1");
}

interface Layout {
  suffix: string; // Darwin x86_64 names the 64-bit-inode variants `lstat$INODE64` etc.
  statSize: number;
  stat: (u: Uint32Array, s: Int32Array) => Stat;
  direntName: number; // offset of d_name
  direntType: number; // offset of d_type
  /** Linux lists directories with getdents64; Darwin with fdopendir/readdir. */
  getdents: boolean;
  /** open(2) flags O_RDONLY | O_DIRECTORY | O_CLOEXEC, and O_NOFOLLOW. */
  dirFlags: number;
  noFollow: number;
  atFdcwd: number;
  atSymlinkNoFollow: number;
  eloop: number;
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
  let flags: Pick<Layout, "getdents" | "dirFlags" | "noFollow" | "atFdcwd" | "atSymlinkNoFollow" | "eloop">;
  if (platform === "linux" && (arch === "x64" || arch === "arm64")) {
    const x64 = arch === "x64";
    o = {
      dev: 0,
      ino: 8,
      mode: x64 ? 24 : 16,
      uid: x64 ? 28 : 24,
      gid: x64 ? 32 : 28,
      size: 48,
      mtime: 88,
      ctime: 104,
    };
    dirent = [18, 19];
    // O_DIRECTORY and O_NOFOLLOW differ between x86-64 and arm64; O_CLOEXEC does not.
    flags = {
      getdents: true,
      dirFlags: (x64 ? 0o200000 : 0o40000) | 0o2000000,
      noFollow: x64 ? 0o400000 : 0o100000,
      atFdcwd: -100,
      atSymlinkNoFollow: 0x100,
      eloop: 40,
    };
  } else if (platform === "darwin" && (arch === "x64" || arch === "arm64")) {
    o = { dev: 0, mode: 4, mode16: true, ino: 8, uid: 16, gid: 20, mtime: 48, ctime: 64, size: 96 };
    suffix = arch === "x64" ? "$INODE64" : "";
    dirent = [20, 21];
    flags = {
      getdents: false,
      dirFlags: 0x100000 | 0x1000000,
      noFollow: 0x100,
      atFdcwd: -2,
      atSymlinkNoFollow: 0x20,
      eloop: 62,
    };
  } else return null;
  return {
    suffix,
    statSize: 256,
    direntType: dirent[0],
    direntName: dirent[1],
    ...flags,
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

const DOT = new Uint8Array([46]);
const { i32, u64, i64, ptr: P } = { i32: FFIType.i32, u64: FFIType.u64, i64: FFIType.i64_fast, ptr: FFIType.ptr };

/** What openDir answers instead of a descriptor. */
export const GONE = -1;
export const NOT_DIR = -2;
export const SYMLINK = -3;

export interface Native {
  /** lstat(2); null when the path is gone (ENOENT, ENOTDIR); throws on other errors. */
  lstat(path: Uint8Array): Stat | null;
  /**
   * lstat(2) of `base` followed by rel[start..end): the hot loop's form, which
   * allocates no path (base is copied only when it differs from the last call's).
   */
  lstatAt(base: Uint8Array, rel: Uint8Array, start: number, end: number): Stat | null;
  /**
   * Opens the directory name[start..end) — relative to the directory descriptor
   * `at`, or an absolute path when `at` is null — without following a symbolic
   * link in its last component: a descriptor, or GONE, NOT_DIR (a file), SYMLINK.
   */
  openDir(at: number | null, name: Uint8Array, start?: number, end?: number): number;
  /** lstat(2) of the entry name[start..end) of the open directory dirFd (fstatat). */
  statAt(dirFd: number, name: Uint8Array, start: number, end: number): Stat | null;
  /** The entries of a directory opened by openDir, read once from its start. */
  list(dirFd: number): DirList;
  fstat(fd: number): Stat;
  /** The whole file, or null when it is gone; sizeHint: its expected size. */
  readFile(path: Uint8Array, sizeHint?: number): Uint8Array | null;
  readlink(path: Uint8Array): Uint8Array | null;
  /** The directory's entries; null when it is gone. */
  readdir(path: Uint8Array): DirList | null;
  /** pread(2) of up to `length` bytes at `offset` of an open descriptor. */
  pread(fd: number, length: number, offset: number): Uint8Array;
  open(path: Uint8Array): number | null;
  close(fd: number): void;
  geteuid(): number;
}

/** The libc functions the bindings call, named for this platform's layout. */
function symbolsFor(l: Layout) {
  return {
    [`lstat${l.suffix}`]: { args: [P, P], returns: i32 },
    [`fstatat${l.suffix}`]: { args: [i32, P, P, i32], returns: i32 },
    [`fstat${l.suffix}`]: { args: [i32, P], returns: i32 },
    // Linux: getdents64 fills a buffer with many entries per call; readdir(3)
    // costs an FFI call and a copy per entry.
    ...(l.getdents
      ? { getdents64: { args: [i32, P, u64], returns: i64 } }
      : {
          [`fdopendir${l.suffix}`]: { args: [i32], returns: P },
          [`readdir${l.suffix}`]: { args: [P], returns: P },
          closedir: { args: [P], returns: i32 },
        }),
    open: { args: [P, i32], returns: i32 },
    // Variadic in C (a mode after the flags), called without it: safe, as for open.
    openat: { args: [i32, P, i32], returns: i32 },
    read: { args: [i32, P, u64], returns: i64 },
    pread: { args: [i32, P, u64, i64], returns: i64 },
    close: { args: [i32], returns: i32 },
    readlink: { args: [P, P, u64], returns: i64 },
    geteuid: { args: [], returns: FFIType.u32 },
    [ERRNO_SYMBOL]: { args: [], returns: P },
  };
}

/** Lists an open directory: getdents64 on Linux, readdir(3) elsewhere. */
function directoryLister(
  // biome-ignore lint/suspicious/noExplicitAny: FFI symbol table
  fn: Record<string, (...a: any[]) => any>,
  l: Layout,
  errno: () => number,
  cpath: (p: Uint8Array) => number,
  close: (fd: number) => void,
): (fd: number) => DirList {
  const listing = (data: Uint8Array, count: number, start: Int32Array, len: Int32Array, type: Uint8Array): DirList => ({
    count,
    data,
    start: start.subarray(0, count),
    len: len.subarray(0, count),
    type: type.subarray(0, count),
  });
  const isDots = (b: Uint8Array, at: number, n: number) => b[at] === 46 && (n === 1 || (n === 2 && b[at + 1] === 46));
  // getdents64 (Linux): records of d_ino (8), d_off (8), d_reclen (2), d_type (1),
  // then the NUL-terminated name. The buffer grows until one call returns 0.
  let dentBuf = new Uint8Array(32768);
  const listLinux = (fd: number): DirList => {
    let used = 0;
    for (;;) {
      if (dentBuf.length - used < 4096) {
        const bigger = new Uint8Array(dentBuf.length * 2);
        bigger.set(dentBuf.subarray(0, used));
        dentBuf = bigger;
      }
      const n = Number(fn.getdents64(fd, ptr(dentBuf, used), dentBuf.length - used));
      if (n < 0) throw new Error(`getdents64: errno ${errno()}`);
      if (n === 0) break;
      used += n;
    }
    const data = dentBuf.slice(0, used);
    const max = used >> 4; // a record is at least 24 bytes
    const start = new Int32Array(max);
    const len = new Int32Array(max);
    const type = new Uint8Array(max);
    let count = 0;
    for (let rec = 0; rec < used; rec += data[rec + 16] | (data[rec + 17] << 8)) {
      const at = rec + 19;
      let end = at;
      while (data[end] !== 0) end++;
      if (isDots(data, at, end - at)) continue;
      start[count] = at;
      len[count] = end - at;
      type[count] = data[rec + 18];
      count++;
    }
    return listing(data, count, start, len, type);
  };
  const listPortable = (fd: number): DirList => {
    // fdopendir takes the descriptor over (closedir closes it): give it its own.
    const own = fn.openat(fd, cpath(DOT), l.dirFlags) as number;
    if (own < 0) throw new Error(`open: errno ${errno()}`);
    const dir = fn[`fdopendir${l.suffix}`](own);
    if (!dir) {
      const e = errno();
      close(own);
      throw new Error(`fdopendir: errno ${e}`);
    }
    let data = new Uint8Array(4096);
    let start = new Int32Array(64);
    let len = new Int32Array(64);
    let type = new Uint8Array(64);
    let used = 0;
    let count = 0;
    try {
      for (;;) {
        const ent = fn[`readdir${l.suffix}`](dir);
        if (!ent) break;
        const reclen = read.u16(ent, 16);
        const rec = new Uint8Array(toArrayBuffer(ent, 0, reclen));
        let end = l.direntName;
        while (end < reclen && rec[end] !== 0) end++;
        const n = end - l.direntName;
        if (isDots(rec, l.direntName, n)) continue;
        if (count === start.length) {
          start = Int32Array.from({ length: count * 2 }, (_, i) => start[i] ?? 0);
          len = Int32Array.from({ length: count * 2 }, (_, i) => len[i] ?? 0);
          const t = new Uint8Array(count * 2);
          t.set(type);
          type = t;
        }
        if (used + n > data.length) {
          const bigger = new Uint8Array((used + n) * 2);
          bigger.set(data.subarray(0, used));
          data = bigger;
        }
        data.set(rec.subarray(l.direntName, end), used);
        start[count] = used;
        len[count] = n;
        type[count] = rec[l.direntType];
        used += n;
        count++;
      }
    } finally {
      fn.closedir(dir);
    }
    return listing(data, count, start, len, type);
  };
  return l.getdents ? listLinux : listPortable;
}

/** C strings of path arguments, in one buffer (and its pointer, computed once) for every call. */
function pathArguments() {
  let lastBase: Uint8Array | null = null;
  // The calls are synchronous, so the buffer is never shared by two at a time.
  const pathBuf = new Uint8Array(new ArrayBuffer(8192));
  const pathPtr = ptr(pathBuf);
  const cpath = (p: Uint8Array): number => {
    lastBase = null;
    if (p.length >= pathBuf.length) {
      const b = new Uint8Array(p.length + 1);
      b.set(p);
      return ptr(b);
    }
    pathBuf.set(p);
    pathBuf[p.length] = 0;
    return pathPtr;
  };
  /** Copies base (unless it is the last call's) and rel[start..end) into pathBuf as a C string. */
  const cpathOf = (base: Uint8Array | null, rel: Uint8Array, start: number, end: number): number => {
    const at = base?.length ?? 0;
    const len = at + end - start;
    if (len >= pathBuf.length)
      return ptr(Buffer.concat([base ?? new Uint8Array(), rel.subarray(start, end), new Uint8Array(1)]));
    if (base !== lastBase) {
      if (base) pathBuf.set(base);
      lastBase = base;
    }
    for (let i = start, o = at; i < end; i++, o++) pathBuf[o] = rel[i];
    pathBuf[len] = 0;
    return pathPtr;
  };
  return { cpath, cpathOf };
}

const gone = (e: number) => e === Errno.ENOENT || e === Errno.ENOTDIR;

function fail(what: string, p: Uint8Array, e: number): never {
  throw new Error(`${what} ${Buffer.from(p).toString()}: errno ${e}`);
}

/** Whole files, symbolic links' targets and parts of open files, read by path or descriptor. */
function fileReaders(
  // biome-ignore lint/suspicious/noExplicitAny: FFI symbol table
  fn: Record<string, (...a: any[]) => any>,
  errno: () => number,
  cpath: (p: Uint8Array) => number,
) {
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
      let buf = new Uint8Array(Math.max(sizeHint + 1, 4096));
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
  return { open, close, readFile, readlink, pread };
}

let loaded: Native | null | undefined;

/** The bindings, or null where this platform's layouts are unknown or libc lacks a symbol. */
export function native(): Native | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  const l = layout();
  if (!l) return null;
  const symbols = symbolsFor(l);
  // None found (e.g. glibc < 2.33 has no `lstat` symbol) → null, the reference route.
  // biome-ignore lint/suspicious/noExplicitAny: FFI symbol table
  const opened = dlopenLibc<Record<string, (...a: any[]) => any>>(symbols, { musl: false });
  if ("error" in opened) return null;
  const fn = opened.symbols;
  const errnoAt = fn[ERRNO_SYMBOL]() as number;
  const errno = () => read.i32(errnoAt as never, 0);
  const { cpath, cpathOf } = pathArguments();
  // Views made before taking the pointer: asking a small typed array for its .buffer
  // afterwards can move its storage, leaving the pointer stale.
  const statMem = new ArrayBuffer(l.statSize);
  const statU32 = new Uint32Array(statMem);
  const statI32 = new Int32Array(statMem);
  const statPtr = ptr(statU32);
  const lstatFn = fn[`lstat${l.suffix}`];
  const lstat = (p: Uint8Array): Stat | null => {
    if (lstatFn(cpath(p), statPtr) !== 0) {
      const e = errno();
      return gone(e) ? null : fail("lstat", p, e);
    }
    return l.stat(statU32, statI32);
  };
  const lstatAt = (base: Uint8Array, rel: Uint8Array, start: number, end: number): Stat | null => {
    if (lstatFn(cpathOf(base, rel, start, end), statPtr) !== 0) {
      const e = errno();
      return gone(e) ? null : fail("lstat", rel.subarray(start, end), e);
    }
    return l.stat(statU32, statI32);
  };
  const fstatatFn = fn[`fstatat${l.suffix}`];
  const statAt = (dirFd: number, name: Uint8Array, start: number, end: number): Stat | null => {
    if (fstatatFn(dirFd, cpathOf(null, name, start, end), statPtr, l.atSymlinkNoFollow) !== 0) {
      const e = errno();
      return gone(e) ? null : fail("fstatat", name.subarray(start, end), e);
    }
    return l.stat(statU32, statI32);
  };
  const fstat = (fd: number): Stat => {
    if (fn[`fstat${l.suffix}`](fd, statPtr) !== 0) throw new Error(`fstat: errno ${errno()}`);
    return l.stat(statU32, statI32);
  };
  const openDir = (at: number | null, name: Uint8Array, start = 0, end = name.length): number => {
    const fd = fn.openat(at ?? l.atFdcwd, cpathOf(null, name, start, end), l.dirFlags | l.noFollow) as number;
    if (fd >= 0) return fd;
    const e = errno();
    if (e === Errno.ENOENT) return GONE;
    if (e === Errno.ENOTDIR) return NOT_DIR;
    if (e === l.eloop) return SYMLINK;
    return fail("open", name.subarray(start, end), e);
  };
  const { open, close, readFile, readlink, pread } = fileReaders(fn, errno, cpath);
  const list = directoryLister(fn, l, errno, cpath, close);
  const readdir = (p: Uint8Array): DirList | null => {
    const fd = fn.openat(l.atFdcwd, cpath(p), l.dirFlags) as number;
    if (fd < 0) {
      const e = errno();
      return gone(e) ? null : fail("open", p, e);
    }
    try {
      return list(fd);
    } finally {
      close(fd);
    }
  };
  loaded = {
    lstat,
    lstatAt,
    openDir,
    statAt,
    list,
    fstat,
    readFile,
    readlink,
    readdir,
    pread,
    open,
    close,
    geteuid: () => fn.geteuid() as number,
  };
  return loaded;
}
