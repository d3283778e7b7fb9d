// The file and descriptor calls of the runner's hot path, straight to libc
// through bun:ffi. In a compiled Bun binary, importing node:fs costs ~3 ms and
// node:path ~2 ms at every start — more than the rest of a skipped task — so
// start-up code uses these instead. Only non-variadic C functions are bound:
// variadic ones (open with a mode, fcntl) are not portable through FFI on
// arm64 Darwin, hence creat(2) and mkstemp(3) to create and 2-argument open(2) to open.
import { dlopen, FFIType, ptr, toArrayBuffer } from "bun:ffi";
import { dirname } from "./paths";

const isDarwin = process.platform === "darwin";
export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
const O_RDONLY = 0;
const O_DIRECTORY = isDarwin ? 0x100000 : 0o200000;
const O_CLOEXEC = isDarwin ? 0x1000000 : 0o2000000;
export const Errno = {
  ENOENT: 2,
  EINTR: 4,
  EBADF: 9,
  EAGAIN: isDarwin ? 35 : 11,
  EEXIST: 17,
  ENOTDIR: 20,
  EPIPE: 32,
} as const;

/** The C library function that locates this thread's errno. */
export const ERRNO_SYMBOL = isDarwin ? "__error" : "__errno_location";
const { i32, ptr: P, u64, i64 } = { i32: FFIType.i32, ptr: FFIType.ptr, u64: FFIType.u64, i64: FFIType.i64 };
const symbols = {
  flock: { args: [i32, i32], returns: i32 },
  open: { args: [P, i32], returns: i32 },
  creat: { args: [P, FFIType.u32], returns: i32 },
  read: { args: [i32, P, u64], returns: i64 },
  write: { args: [i32, P, u64], returns: i64 },
  close: { args: [i32], returns: i32 },
  dup: { args: [i32], returns: i32 },
  mkdir: { args: [P, FFIType.u32], returns: i32 },
  rename: { args: [P, P], returns: i32 },
  mkstemp: { args: [P], returns: i32 },
  fchmod: { args: [i32, FFIType.u32], returns: i32 },
  poll: { args: [P, u64, i32], returns: i32 },
  unlink: { args: [P], returns: i32 },
  access: { args: [P, i32], returns: i32 },
  realpath: { args: [P, P], returns: P },
  strerror: { args: [i32], returns: FFIType.cstring },
  [ERRNO_SYMBOL]: { args: [], returns: P },
} as const;

type Fn = (...args: never[]) => number | bigint | null;
let lib: Record<string, Fn> | null = null;

/**
 * The C library bound to `defs`, tried under each name it goes by here; the
 * error of the last try when none has every symbol. `musl: false` leaves out
 * musl, for bindings whose struct layouts were not checked there.
 */
export function dlopenLibc<T extends Record<string, unknown>>(
  defs: Parameters<typeof dlopen>[1],
  opts: { musl?: boolean } = {},
): { symbols: T } | { error: unknown } {
  const candidates = isDarwin
    ? ["libSystem.B.dylib", "/usr/lib/libSystem.B.dylib"]
    : [
        "libc.so.6",
        "libc.so",
        ...(opts.musl === false ? [] : [`/lib/ld-musl-${process.arch === "arm64" ? "aarch64" : "x86_64"}.so.1`]),
      ];
  let error: unknown;
  for (const name of candidates) {
    try {
      return { symbols: dlopen(name, defs).symbols as unknown as T };
    } catch (e) {
      error = e;
    }
  }
  return { error };
}

function libc(): Record<string, Fn> {
  if (lib) return lib;
  const opened = dlopenLibc<Record<string, Fn>>(symbols);
  if ("error" in opened) throw new Error(`cannot load the C library: ${opened.error}`);
  lib = opened.symbols;
  return lib;
}

function call(name: string, ...args: unknown[]): number {
  return Number((libc()[name] as (...a: unknown[]) => number | bigint)(...args));
}

export function errno(): number {
  const p = libc()[ERRNO_SYMBOL]() as unknown as number | null;
  return p ? new Int32Array(toArrayBuffer(p as never, 0, 4))[0] : 0;
}

const encoder = new TextEncoder();
function cstr(s: string): Uint8Array {
  return encoder.encode(`${s}\0`);
}

/** Retries a call interrupted by a signal; returns the result or -errno. */
function retry(f: () => number): number {
  for (;;) {
    const r = f();
    if (r >= 0) return r;
    const e = errno();
    if (e !== Errno.EINTR) return -(e || 1);
  }
}

export function flock(fd: number, op: number): number {
  const r = retry(() => call("flock", fd, op));
  return r < 0 ? -r : 0;
}

/**
 * A lock file: opened read-only if it exists (enough for flock(2), and allowed
 * on a lock file another user created), else created empty; a descriptor or -errno.
 */
export function openLockFile(path: string): number {
  const fd = retry(() => call("open", ptr(cstr(path)), O_RDONLY));
  if (fd !== -Errno.ENOENT) return fd;
  return createFile(path);
}

/** A directory, opened to be named through (/proc/self/fd/N/...); a descriptor (close-on-exec) or -errno. */
export function openDirectory(path: string): number {
  return retry(() => call("open", ptr(cstr(path)), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

/** Creates (or truncates) path for writing; a descriptor or -errno. */
export function createFile(path: string, mode = 0o644): number {
  return retry(() => call("creat", ptr(cstr(path)), mode));
}

export function closeFd(fd: number): void {
  call("close", fd);
}

/** A duplicate of fd, or null if fd is not open. */
export function dupFd(fd: number): number | null {
  const r = call("dup", fd);
  return r < 0 ? null : r;
}

export function isOpenFd(fd: number): boolean {
  const d = dupFd(fd);
  if (d === null) return false;
  closeFd(d);
  return true;
}

const POLLIN = 1;

/**
 * Whether a read of fd would not block now: data waits in it, or its writers
 * are gone (end of file). poll(2) with no timeout.
 */
export function hasInput(fd: number): boolean {
  // struct pollfd { int fd; short events; short revents; }
  const pfd = new Int32Array([fd, POLLIN]);
  const r = retry(() => call("poll", ptr(pfd), 1, 0));
  return r > 0 && new Int16Array(pfd.buffer)[3] !== 0;
}

/**
 * Writes all of data; waits out a non-blocking descriptor. 0, or the errno that stopped it (EPIPE: nobody reads any
 * more).
 */
export function writeAll(fd: number, data: Uint8Array): number {
  let offset = 0;
  while (offset < data.length) {
    const n = call("write", fd, ptr(data, offset), data.length - offset);
    if (n >= 0) {
      offset += n;
      continue;
    }
    const e = errno();
    if (e === Errno.EINTR) continue;
    if (e === Errno.EAGAIN) {
      Bun.sleepSync(1);
      continue;
    }
    return e || Errno.EBADF;
  }
  return 0;
}

/** strerror(3): what an errno means, e.g. "No space left on device". */
export function errnoText(e: number): string {
  const text = String((libc().strerror as (e: number) => unknown)(e) ?? "");
  return text || `errno ${e}`;
}

/** The whole file as text, or null if it cannot be read. */
export function readText(path: string): string | null {
  const fd = retry(() => call("open", ptr(cstr(path)), O_RDONLY));
  if (fd < 0) return null;
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  try {
    for (;;) {
      const n = retry(() => call("read", fd, ptr(buf), buf.length));
      if (n < 0) return null;
      if (n === 0) break;
      chunks.push(buf.slice(0, n));
    }
  } finally {
    closeFd(fd);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Writes a whole file atomically: a temporary file beside it, then rename, so
 * a reader sees the old file or the new one, never half of one. The one way
 * taskrunner writes a file whole (hash files, results, task records, traces,
 * the GitHub token cache). The temporary file is made by mkstemp(3): a name
 * nobody can guess, created exclusively, so a link planted in a shared state
 * directory cannot redirect the write. mode: less the umask, as open(2) would.
 * 0, or the errno that stopped it.
 */
export function writeFileAtomic(path: string, text: string, mode = 0o644): number {
  const template = cstr(`${path}.XXXXXX`); // mkstemp fills in the Xs
  const fd = retry(() => call("mkstemp", ptr(template)));
  if (fd < 0) return -fd;
  const tmp = new TextDecoder().decode(template.subarray(0, template.length - 1));
  let err = call("fchmod", fd, mode & ~process.umask()) === 0 ? 0 : errno();
  if (!err) err = writeAll(fd, encoder.encode(text));
  // close(2) is where some file systems (NFS) report a full disk.
  if (call("close", fd) !== 0) err ||= errno();
  if (!err && call("rename", ptr(cstr(tmp)), ptr(cstr(path))) !== 0) err = errno();
  if (err) removeFile(tmp);
  return err;
}

/** unlink(2); false if it was not there or could not go. */
export function removeFile(path: string): boolean {
  return call("unlink", ptr(cstr(path))) === 0;
}

/** Whether path exists (any kind of file; a dangling symlink does not). */
export function pathExists(path: string): boolean {
  return call("access", ptr(cstr(path)), 0) === 0;
}

/** realpath(3): the absolute path with every symlink resolved, or null. */
export function realPath(path: string): string | null {
  const buf = new Uint8Array(4097); // PATH_MAX is 4096 on Linux, 1024 on Darwin
  const r = (libc().realpath as (...a: unknown[]) => unknown)(ptr(cstr(path)), ptr(buf));
  if (!r) return null;
  const end = buf.indexOf(0);
  return Buffer.from(buf.subarray(0, end < 0 ? buf.length : end)).toString("utf8");
}

/** mkdir; 0, or the errno (EEXIST when it was there). */
export function mkdir(path: string, mode = 0o755): number {
  return call("mkdir", ptr(cstr(path)), mode) === 0 ? 0 : errno();
}

/** mkdir -p: 0 once the directory is there, or the errno that stopped it. */
export function mkdirp(path: string): number {
  let err = mkdir(path);
  if (err === Errno.ENOENT) {
    const parent = dirname(path);
    const up = parent === path ? 0 : mkdirp(parent);
    if (up) return up;
    err = mkdir(path);
  }
  return err === Errno.EEXIST ? 0 : err;
}
