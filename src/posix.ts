// The few POSIX calls that neither Bun nor node:fs offers: flock(2), pipe(2) and
// fcntl(2) descriptor duplication. Loaded on first use so that `--version` and
// `--help` never pay for dlopen.
import { dlopen, FFIType, ptr, toArrayBuffer } from "bun:ffi";

const isDarwin = process.platform === "darwin";
// fcntl commands differ between Linux and the BSDs.
const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const F_DUPFD_CLOEXEC = isDarwin ? 67 : 1030;
export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

// Darwin spells errno's accessor __error.
const ERRNO_SYMBOL = isDarwin ? "__error" : "__errno_location";
const symbols = {
  flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  fcntl: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  pipe: { args: [FFIType.ptr], returns: FFIType.i32 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
  [ERRNO_SYMBOL]: { args: [], returns: FFIType.ptr },
} as const;

interface Lib {
  flock(fd: number, op: number): number;
  fcntl(fd: number, cmd: number, arg: number): number;
  pipe(fds: ReturnType<typeof ptr>): number;
  close(fd: number): number;
  errnoPtr(): ReturnType<typeof ptr> | null;
}
let lib: Lib | null = null;

function libc(): Lib {
  if (lib) return lib;
  const candidates = isDarwin
    ? ["libSystem.B.dylib", "/usr/lib/libSystem.B.dylib"]
    : ["libc.so.6", "libc.so", `/lib/ld-musl-${process.arch === "arm64" ? "aarch64" : "x86_64"}.so.1`];
  let lastError: unknown;
  for (const name of candidates) {
    try {
      const s = dlopen(name, symbols).symbols as Record<string, (...a: never[]) => unknown>;
      lib = {
        flock: s.flock as Lib["flock"],
        fcntl: s.fcntl as Lib["fcntl"],
        pipe: s.pipe as Lib["pipe"],
        close: s.close as Lib["close"],
        errnoPtr: s[ERRNO_SYMBOL] as Lib["errnoPtr"],
      };
      return lib;
    } catch (e) {
      lastError = e;
    }
  }
  throw new Error(`cannot load the C library: ${lastError}`);
}

function errno(): number {
  const p = libc().errnoPtr();
  return p ? new Int32Array(toArrayBuffer(p, 0, 4))[0] : 0;
}

const EINTR = 4;

/** flock(2), retried on EINTR. Returns 0 on success or the errno. */
export function flock(fd: number, op: number): number {
  for (;;) {
    if (libc().flock(fd, op) === 0) return 0;
    const e = errno();
    if (e !== EINTR) return e || -1;
  }
}

/** A pipe whose both ends are close-on-exec: [readEnd, writeEnd]. */
export function cloexecPipe(): [number, number] {
  const fds = new Int32Array(2);
  if (libc().pipe(ptr(fds)) !== 0) throw new Error(`pipe() failed: errno ${errno()}`);
  for (const fd of fds) libc().fcntl(fd, F_SETFD, FD_CLOEXEC);
  return [fds[0], fds[1]];
}

/** A close-on-exec duplicate of fd, or null if fd is not open. */
export function dupCloexec(fd: number): number | null {
  const r = libc().fcntl(fd, F_DUPFD_CLOEXEC, 3);
  return r < 0 ? null : r;
}

export function isOpenFd(fd: number): boolean {
  return libc().fcntl(fd, F_GETFD, 0) >= 0;
}

export function closeFd(fd: number): void {
  libc().close(fd);
}
