#!/bin/sh
# Installs the taskrunner binary for this machine from a GitHub release, checking its SHA-256.
#
#   curl -fsSL https://github.com/restaumatic/taskrunner/releases/latest/download/install.sh | sh
#   wget -qO- https://github.com/restaumatic/taskrunner/releases/latest/download/install.sh | sh
#
# Settings (environment variables, all optional):
#   TASKRUNNER_VERSION       the release to install, e.g. 0.2.0 or v0.2.0 (default: latest)
#   TASKRUNNER_INSTALL_DIR   where `taskrunner` goes (default: /usr/local/bin when writable,
#                            else ~/.local/bin)
#   TASKRUNNER_DOWNLOAD_URL  the folder holding taskrunner-<os>-<arch>[-musl] and SHA256SUMS
#                            (default: the GitHub release of TASKRUNNER_VERSION), e.g. a mirror
# Test and advanced knobs, each replacing one detection:
#   TASKRUNNER_INSTALL_OS    as `uname -s` says it: Linux or Darwin
#   TASKRUNNER_INSTALL_ARCH  as `uname -m` says it: x86_64, amd64, aarch64 or arm64; also
#                            x86_64-baseline for x64 CPUs without AVX2. No Rosetta or CPU check.
#   TASKRUNNER_INSTALL_LIBC  glibc or musl (Linux only)
#
# Needs: curl or wget; sha256sum, shasum or openssl; and uname, awk, grep, ls,
# mkdir, mktemp, chmod, mv, rm. tests/install.test.ts runs it with nothing else on PATH.

set -u

REPO="restaumatic/taskrunner"

say() { printf 'taskrunner install: %s\n' "$*"; }
# die MESSAGE [HINT]: the error line, then what to do about it when there is something to do.
die() {
  printf 'taskrunner install: error: %s\n' "$1" >&2
  [ -z "${2:-}" ] || say "$2" >&2
  exit 1
}
has() { command -v "$1" >/dev/null 2>&1; }

# The platform's names as uname gives them, or as the knobs override them.
os_name=${TASKRUNNER_INSTALL_OS:-$(uname -s)}
arch_name=${TASKRUNNER_INSTALL_ARCH:-$(uname -m)}

detect_os() {
  case $os_name in
    Linux | linux) echo linux ;;
    Darwin | darwin) echo darwin ;;
    *) echo unsupported ;;
  esac
}

# Under Rosetta 2 an x86_64 shell reports x86_64 on an Apple Silicon Mac; the native
# arm64 binary is the one to install there.
is_rosetta() {
  [ "$(sysctl -n sysctl.proc_translated 2>/dev/null)" = 1 ]
}

lacks_avx2() {
  [ -r /proc/cpuinfo ] && ! grep -qw avx2 /proc/cpuinfo
}

# An overridden arch is taken as it is: no Rosetta or CPU check.
detect_arch() {
  case $arch_name in
    x86_64 | amd64 | x64)
      if [ -n "${TASKRUNNER_INSTALL_ARCH:-}" ]; then echo x64
      elif [ "$1" = darwin ] && is_rosetta; then echo arm64
      elif [ "$1" = linux ] && lacks_avx2; then echo x64-baseline
      else echo x64
      fi ;;
    x86_64-baseline | amd64-baseline | x64-baseline) echo x64-baseline ;;
    aarch64 | arm64) echo arm64 ;;
    *) echo unsupported ;;
  esac
}

# ldd says which libc it belongs to. Its absence with only a musl loader present means
# musl too; a musl loader beside glibc's (Debian's `musl` package) does not.
detect_libc() {
  if [ -n "${TASKRUNNER_INSTALL_LIBC:-}" ]; then
    echo "$TASKRUNNER_INSTALL_LIBC"
    return
  fi
  out=$(ldd --version 2>&1) || true
  case $out in
    *musl*) echo musl; return ;;
    *GLIBC* | *"GNU libc"* | *glibc*) echo glibc; return ;;
  esac
  for f in /lib/ld-musl-*.so.1; do
    if [ -e "$f" ] && ! ls /lib*/ld-linux-*.so.* >/dev/null 2>&1; then echo musl; return; fi
  done
  echo glibc
}

# fetch URL FILE: download, or print why not (one line) and fail. A server that sends nothing
# for 20 s fails the download, as a refused connection does: an install never hangs. curl
# retries what may pass (5xx, a refused connection) within those first 20 s, not a stall.
fetch() {
  if has curl; then
    err=$(curl -fsSL --retry 2 --retry-max-time 20 --connect-timeout 20 --speed-limit 1 --speed-time 20 \
      -o "$2" "$1" 2>&1) && return 0
    curl_failure $? "$err"
  elif has wget; then
    # GNU wget says nothing with -q and tries 20 times; -nv prints its errors. BusyBox wget
    # (Alpine) has neither option, tries once and prints its errors with -q; some builds lack
    # -T (Debian's crashes on it), and there a stalled server is waited for.
    case $(wget --help 2>&1) in
      *"GNU Wget"*) err=$(wget -nv -t 1 -T 20 -O "$2" "$1" 2>&1) && return 0 ;;
      *"-T SEC"*) err=$(wget -q -T 20 -O "$2" "$1" 2>&1) && return 0 ;;
      *) err=$(wget -q -O "$2" "$1" 2>&1) && return 0 ;;
    esac
    wget_failure $? "$err"
  else
    echo "neither curl nor wget is installed"
  fi
  return 1
}

# The HTTP status in a client's error text ("returned error: 404", "HTTP/1.1 404 Not Found",
# "ERROR 404: Not Found"), if there is one.
http_status() {
  printf '%s\n' "$1" | awk 'match($0, /(error:|HTTP\/[0-9.]+|ERROR) [0-9][0-9][0-9]/) {
    s = substr($0, RSTART, RLENGTH); status = substr(s, length(s) - 2) } END { print status }'
}

# The last line of a client's error text, without its "curl: (N) " or "wget: " prefix.
last_said() {
  printf '%s\n' "$1" | awk 'NF { line = $0 } END {
    sub(/^curl: \([0-9]+\) /, "", line); sub(/^wget: /, "", line); print line }'
}

# curl_failure EXIT_CODE STDERR: what went wrong, in words, then as curl said it.
curl_failure() {
  said=$(last_said "$2")
  case $1 in
    22) echo "HTTP $(http_status "$2")"; return ;;
    6) what="cannot resolve the host name" ;;
    7) what="cannot connect to the server" ;;
    18) what="the download was cut off" ;;
    23) what="cannot write the file; is the disk full?" ;;
    28) what="timed out" ;;
    35 | 60) what="TLS error" ;;
    52 | 56) what="the connection broke off" ;;
    *) what="curl failed" ;;
  esac
  echo "$what (curl exit code $1${said:+: $said})"
}

# wget_failure EXIT_CODE STDERR: GNU wget's meaning of its exit code, and what it said;
# BusyBox wget always exits 1 and says what happened.
wget_failure() {
  status=$(http_status "$2")
  if [ -n "$status" ]; then echo "HTTP $status"; return; fi
  said=$(last_said "$2")
  case $1 in
    2) what="wget could not parse its options" ;;
    3) what="cannot write the file; is the disk full?" ;;
    4) what="network failure: no connection, or it broke off" ;;
    5) what="TLS certificate verification failed" ;;
    6) what="the server wants a user name and password" ;;
    7) what="protocol error" ;;
    8) what="the server answered with an error" ;;
    *) what=${said:-wget failed}; said= ;;
  esac
  echo "$what (wget exit code $1${said:+: $said})"
}

sha256_of() {
  if has sha256sum; then sha256sum "$1" | awk '{ print $1 }'
  elif has shasum; then shasum -a 256 "$1" | awk '{ print $1 }'
  else openssl dgst -sha256 "$1" | awk '{ print $NF }'
  fi
}

# cannot_start EXIT_CODE OUTPUT: why the downloaded binary did not start; exits 1.
cannot_start() {
  # The line that says what happened: Bun's crash report opens with a ==== banner and platform
  # details before its "panic(...): ..." line; other failures (a missing library) come first.
  # The shell's own messages name the temporary file: they get the asset's name instead.
  line=$(printf '%s\n' "$2" | awk -v tmp="$tmp" -v name="$asset" '
    { while ((i = index($0, tmp)) > 0) $0 = substr($0, 1, i - 1) name substr($0, i + length(tmp)) }
    /^panic/ { print; found = 1; exit }
    first == "" && !/^[[:space:]=-]*$/ { first = $0 }
    END { if (!found && first != "") print first }')
  how="exit code $1"
  hint=
  if [ "$1" -gt 128 ]; then
    how="killed by signal $(($1 - 128))"
    sig=$(kill -l "$1" 2>/dev/null) && how="killed by SIG$sig"
    # Bun's x64 runtime needs SSE4.2; older CPUs stop at its first instruction, saying nothing.
    case $sig/$asset in
      ILL/*-x64*) hint="x64 builds need a CPU with SSE4.2 (Intel Nehalem, AMD Bulldozer or newer)" ;;
    esac
  elif [ "$1" = 127 ] && [ "${libc:-}" = glibc ]; then
    hint="a glibc build needs glibc's loader; on a musl system (Alpine) set TASKRUNNER_INSTALL_LIBC=musl"
  fi
  [ "${libc:-}" != musl ] || hint="on Alpine it needs: apk add libstdc++ libgcc"
  die "the downloaded $asset does not start ($how)${line:+: $line}; nothing was installed" "$hint"
}

default_install_dir() {
  if [ -d /usr/local/bin ] && [ -w /usr/local/bin ]; then
    echo /usr/local/bin
  elif [ -n "${HOME:-}" ]; then
    echo "$HOME/.local/bin"
  else
    echo ""
  fi
}

main() {
  os=$(detect_os)
  arch=$(detect_arch "$os")
  case "$os/$arch" in
    unsupported/* | */unsupported)
      die "unsupported platform $os_name/$arch_name; release binaries exist for Linux and macOS (Darwin) on x86_64 and arm64"
      ;;
  esac
  asset="taskrunner-$os-$arch"
  if [ "$os" = linux ]; then
    libc=$(detect_libc)
    case $libc in
      glibc) ;;
      musl)
        # Bun's x64 runtime picks AVX2 code at run time, so the musl build needs no baseline twin.
        asset="taskrunner-$os-${arch%-baseline}-musl" ;;
      *) die "TASKRUNNER_INSTALL_LIBC must be glibc or musl, not '$libc'" ;;
    esac
  elif [ "$arch" = x64-baseline ]; then
    asset="taskrunner-darwin-x64"
  fi

  has curl || has wget || die "neither curl nor wget is installed; install one and run this again"
  has sha256sum || has shasum || has openssl ||
    die "no SHA-256 tool found (sha256sum, shasum or openssl); install one and run this again"

  version=${TASKRUNNER_VERSION:-}
  version=${version#v}
  [ "$version" = latest ] && version=
  if [ -n "${TASKRUNNER_DOWNLOAD_URL:-}" ]; then
    base=${TASKRUNNER_DOWNLOAD_URL%/}
  elif [ -n "$version" ]; then
    base="https://github.com/$REPO/releases/download/v$version"
  else
    base="https://github.com/$REPO/releases/latest/download"
  fi

  dir=${TASKRUNNER_INSTALL_DIR:-$(default_install_dir)}
  [ -n "$dir" ] || die "HOME is not set and /usr/local/bin is not writable; set TASKRUNNER_INSTALL_DIR"
  mkdir -p "$dir" 2>/dev/null || die "cannot create $dir; set TASKRUNNER_INSTALL_DIR to a writable directory"
  [ -w "$dir" ] || die "cannot write to $dir; run as root or set TASKRUNNER_INSTALL_DIR"

  # Downloaded into the target directory so that the final mv is an atomic rename:
  # an existing taskrunner is replaced whole or not at all.
  tmp=$(mktemp "$dir/.taskrunner.XXXXXX" 2>/dev/null) || tmp="$dir/.taskrunner.$$"
  trap 'rm -f "$tmp" "$tmp.sums"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  say "installing $asset ${version:+v$version }from $base"
  why=$(fetch "$base/SHA256SUMS" "$tmp.sums") || die "download of $base/SHA256SUMS failed: $why"
  # sha256sum writes "<hex>  <name>", or "<hex> *<name>" in binary mode.
  expected=$(awk -v f="$asset" '$2 == f || $2 == "*" f { print $1; exit }' "$tmp.sums")
  [ -n "$expected" ] || die "SHA256SUMS at $base has no entry for $asset"

  why=$(fetch "$base/$asset" "$tmp") || die "download of $base/$asset failed: $why"
  actual=$(sha256_of "$tmp")
  [ "$actual" = "$expected" ] ||
    die "checksum mismatch for $asset: expected $expected, got $actual; nothing was installed"

  chmod 755 "$tmp" || die "cannot chmod $tmp"
  # Started before it replaces anything: a binary that cannot run here is not installed.
  # dash and BusyBox sh add a line of their own about a child killed by a signal ("Illegal
  # instruction") on the stderr in force when they reap it: that is /dev/null here, and the
  # binary's own output (redirected in the subshell) is kept.
  out=$( { (exec "$tmp" --version </dev/null 2>&1); rc=$?; } 2>/dev/null; exit "$rc") || cannot_start $? "$out"
  dest="$dir/taskrunner"
  mv -f "$tmp" "$dest" || die "cannot move the binary into $dest"
  say "installed $out to $dest"
  case ":${PATH:-}:" in
    *":$dir:"*) ;;
    *) say "note: $dir is not on your PATH; add it, e.g.: export PATH=\"$dir:\$PATH\"" ;;
  esac
  for tool in bash git; do
    has "$tool" || say "note: taskrunner runs tasks with $tool, which is not installed here"
  done
}

# Called only on the last line: when `curl | sh` is cut off mid-way, sh has read only
# function definitions, and nothing runs.
main "$@"
