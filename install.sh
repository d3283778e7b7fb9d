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
# Needs: curl or wget; sha256sum, shasum or openssl; and uname, awk, grep, head, tail, ls,
# mkdir, mktemp, chmod, mv, rm. tests/install.test.ts runs it with nothing else on PATH.

set -u

REPO="restaumatic/taskrunner"

say() { printf 'taskrunner install: %s\n' "$*"; }
die() { printf 'taskrunner install: error: %s\n' "$*" >&2; exit 1; }
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

# fetch URL FILE: download, or print why not (one line) and fail.
fetch() {
  if has curl; then
    code=$(curl -fsL --retry 2 --connect-timeout 20 -w '%{http_code}' -o "$2" "$1" 2>/dev/null)
    rc=$?
    [ "$rc" -eq 0 ] && return 0
    case $code in
      "" | *000)
        case $rc in
          6) echo "cannot resolve the host name" ;;
          7) echo "cannot connect to the server" ;;
          28) echo "timed out" ;;
          35 | 60) echo "TLS error (curl exit code $rc)" ;;
          *) echo "curl exit code $rc" ;;
        esac ;;
      *) echo "HTTP $(printf '%s' "$code" | tail -c 3)" ;;
    esac
    return 1
  elif has wget; then
    wget -q -O "$2" "$1" 2>/dev/null && return 0
    echo "wget exit code $? (8: the server answered with an error, e.g. 404)"
    return 1
  fi
  echo "neither curl nor wget is installed"
  return 1
}

sha256_of() {
  if has sha256sum; then sha256sum "$1" | awk '{ print $1 }'
  elif has shasum; then shasum -a 256 "$1" | awk '{ print $1 }'
  else openssl dgst -sha256 "$1" | awk '{ print $NF }'
  fi
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
  mv -f "$tmp" "$dir/taskrunner" || die "cannot move the binary into $dir/taskrunner"
  dest="$dir/taskrunner"

  if out=$("$dest" --version </dev/null 2>&1); then
    say "installed $out to $dest"
  else
    say "installed $dest, but it does not start: $(printf '%s' "$out" | head -n 1)" >&2
    if [ "${libc:-}" = musl ]; then
      say "on Alpine it needs: apk add libstdc++ libgcc" >&2
    fi
  fi
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
