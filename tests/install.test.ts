// install.sh against local release folders: small fake binaries (shell scripts printing
// their name) and a SHA256SUMS, served over HTTP on 127.0.0.1. Each case runs under dash,
// as `curl … | sh` does on Debian and Ubuntu, and under bash. Every case has its own
// release folder and install dir, so cases may run in any order or at once.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync,
  symlinkSync, writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { serveStatic, type StaticServer } from "./fakes/http-static";

const INSTALL_SH = resolve(import.meta.dir, "..", "install.sh");
const ASSETS = [
  "taskrunner-linux-x64",
  "taskrunner-linux-x64-baseline",
  "taskrunner-linux-arm64",
  "taskrunner-linux-x64-musl",
  "taskrunner-linux-arm64-musl",
  "taskrunner-darwin-x64",
  "taskrunner-darwin-arm64",
];
const SHELLS = [Bun.which("dash") ? "dash" : "sh", "bash"];
const ERR = "taskrunner install: error:";

let root: string;
let server: StaticServer;
let counter = 0;

const sha256 = (data: string) => createHash("sha256").update(data).digest("hex");
const fakeBinary = (asset: string) => `#!/bin/sh\necho "taskrunner 9.9.9 (fake ${asset})"\n`;
const fake = (asset: string) => `taskrunner 9.9.9 (fake ${asset})`;

interface Release {
  dir: string;
  url: string;
  /** The paths this release's folder was asked for. */
  requests(): string[];
}

/**
 * A release folder with every asset, install.sh, and a SHA256SUMS that is right unless
 * `sums` says otherwise; `unlisted` assets are left out of it, `missing` ones are not served.
 */
function makeRelease(opts: { sums?: (asset: string) => string; unlisted?: string[]; missing?: string[] } = {}): Release {
  const name = `release-${++counter}`;
  const dir = join(root, "www", name);
  mkdirSync(dir, { recursive: true });
  for (const asset of ASSETS) {
    if (!opts.missing?.includes(asset)) writeFileSync(join(dir, asset), fakeBinary(asset));
  }
  const listed = ASSETS.filter((a) => !opts.unlisted?.includes(a));
  const sum = opts.sums ?? ((a: string) => sha256(fakeBinary(a)));
  if (!opts.missing?.includes("SHA256SUMS")) {
    writeFileSync(join(dir, "SHA256SUMS"), listed.map((a) => `${sum(a)}  ${a}\n`).join(""));
  }
  writeFileSync(join(dir, "install.sh"), readFileSync(INSTALL_SH));
  return { dir, url: `${server.url}/${name}`, requests: () => server.requests.filter((p) => p.startsWith(`/${name}/`)) };
}

// Every program install.sh may call; a PATH of these alone also checks that it needs no other.
const TOOLS = [
  "sh", "dash", "bash", "curl", "wget", "sha256sum", "shasum", "openssl",
  "uname", "sysctl", "ldd", "awk", "grep", "ls", "head", "tail", "mkdir", "mktemp", "chmod", "mv", "rm",
];
const paths = new Map<string, string>();

/** A folder linking install.sh's tools but `hidden`: a machine without, say, curl. */
function pathWithout(hidden: string[]): string {
  const key = hidden.join(" ");
  if (!paths.has(key)) paths.set(key, linkTools(hidden));
  return paths.get(key)!;
}

function linkTools(hidden: string[], extra: string[] = []): string {
  const bin = mkdtempSync(join(root, "path-"));
  for (const name of [...TOOLS, ...extra]) {
    const target = Bun.which(name);
    if (target && !hidden.includes(name)) symlinkSync(target, join(bin, name));
  }
  return bin;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** The install dir. */
  dir: string;
}

/**
 * Runs install.sh with `shell`, installing from `release` into a fresh dir that is on PATH,
 * as Linux x86_64 glibc unless `env` says otherwise (undefined removes a variable).
 */
async function install(
  shell: string,
  release: Release,
  env: Record<string, string | undefined> = {},
  opts: { dir?: string; argv?: string[] } = {},
): Promise<Run> {
  const dir = opts.dir ?? join(root, `install-${++counter}`);
  const fullEnv: Record<string, string | undefined> = {
    PATH: `${dir}${delimiter}${process.env.PATH}`,
    HOME: join(root, "home"),
    TASKRUNNER_DOWNLOAD_URL: release.url,
    TASKRUNNER_INSTALL_DIR: dir,
    TASKRUNNER_INSTALL_OS: "Linux",
    TASKRUNNER_INSTALL_ARCH: "x86_64",
    TASKRUNNER_INSTALL_LIBC: "glibc",
    ...env,
  };
  for (const k of Object.keys(fullEnv)) if (fullEnv[k] === undefined) delete fullEnv[k];
  const p = Bun.spawn(opts.argv ?? [shell, INSTALL_SH], {
    env: fullEnv as Record<string, string>,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr, dir };
}

/** What the installed taskrunner says to --version. */
function installed(r: Run): string {
  return Bun.spawnSync([join(r.dir, "taskrunner"), "--version"]).stdout.toString().trim();
}

/** Whatever the outcome, no temporary file may stay behind in the install dir. */
function leftovers(r: Run): string[] {
  return existsSync(r.dir) ? readdirSync(r.dir).filter((f) => f !== "taskrunner") : [];
}

beforeAll(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), "install-test-")));
  mkdirSync(join(root, "home"));
  server = serveStatic(join(root, "www"));
});

afterAll(() => {
  server?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe.each(SHELLS)("install.sh under %s", (shell) => {
  test("installs the binary for the platform, mode 755, verified", async () => {
    const r = await install(shell, makeRelease());
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(installed(r)).toBe(fake("taskrunner-linux-x64"));
    expect(statSync(join(r.dir, "taskrunner")).mode & 0o777).toBe(0o755);
    expect(r.stdout).toContain(`installed ${fake("taskrunner-linux-x64")} to ${r.dir}/taskrunner`);
    expect(r.stdout).not.toContain("not on your PATH");
    expect(leftovers(r)).toEqual([]);
  });

  test("replaces an installed binary", async () => {
    const dir = join(root, `install-${++counter}`);
    mkdirSync(dir);
    writeFileSync(join(dir, "taskrunner"), "#!/bin/sh\necho old\n", { mode: 0o700 });
    const r = await install(shell, makeRelease(), {}, { dir });
    expect(r.stderr).toBe("");
    expect(installed(r)).toBe(fake("taskrunner-linux-x64"));
    expect(statSync(join(r.dir, "taskrunner")).mode & 0o777).toBe(0o755);
  });

  test.each([
    ["Linux", "aarch64", "glibc", "taskrunner-linux-arm64"],
    ["Linux", "arm64", "musl", "taskrunner-linux-arm64-musl"],
    ["Linux", "amd64", "musl", "taskrunner-linux-x64-musl"],
    ["Linux", "x86_64-baseline", "glibc", "taskrunner-linux-x64-baseline"],
    ["Linux", "x86_64-baseline", "musl", "taskrunner-linux-x64-musl"],
    ["Darwin", "x86_64", "-", "taskrunner-darwin-x64"],
    ["Darwin", "arm64", "-", "taskrunner-darwin-arm64"],
  ])("%s %s %s → %s", async (os, arch, libc, asset) => {
    const r = await install(shell, makeRelease(), {
      TASKRUNNER_INSTALL_OS: os,
      TASKRUNNER_INSTALL_ARCH: arch,
      TASKRUNNER_INSTALL_LIBC: libc === "-" ? undefined : libc,
    });
    expect(r.stderr).toBe("");
    expect(installed(r)).toBe(fake(asset));
  });

  test("detects this machine's platform when nothing is overridden", async () => {
    const r = await install(shell, makeRelease(), {
      TASKRUNNER_INSTALL_OS: undefined,
      TASKRUNNER_INSTALL_ARCH: undefined,
      TASKRUNNER_INSTALL_LIBC: undefined,
    });
    expect(r.stderr).toBe("");
    const os = process.platform === "darwin" ? "darwin" : "linux";
    const arch = process.arch === "arm64" ? "arm64" : "x64";
    // Baseline and musl depend on this CPU and libc; the OS and arch do not vary.
    expect(installed(r)).toMatch(new RegExp(`^taskrunner 9\\.9\\.9 \\(fake taskrunner-${os}-${arch}(-baseline)?(-musl)?\\)$`));
  });

  test("refuses a checksum mismatch and leaves an installed binary as it was", async () => {
    const wrong = "0".repeat(64);
    const release = makeRelease({ sums: (a) => (a === "taskrunner-linux-x64" ? wrong : sha256(fakeBinary(a))) });
    const dir = join(root, `install-${++counter}`);
    mkdirSync(dir);
    writeFileSync(join(dir, "taskrunner"), "#!/bin/sh\necho old\n", { mode: 0o755 });
    const r = await install(shell, release, {}, { dir });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toBe(
      `${ERR} checksum mismatch for taskrunner-linux-x64: expected ${wrong}, ` +
        `got ${sha256(fakeBinary("taskrunner-linux-x64"))}; nothing was installed\n`,
    );
    expect(installed(r)).toBe("old");
    expect(leftovers(r)).toEqual([]);
  });

  test("refuses a binary that SHA256SUMS does not list, before downloading it", async () => {
    const release = makeRelease({ unlisted: ["taskrunner-linux-x64"] });
    const r = await install(shell, release);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toBe(`${ERR} SHA256SUMS at ${release.url} has no entry for taskrunner-linux-x64\n`);
    expect(release.requests().map((p) => p.split("/").pop())).toEqual(["SHA256SUMS"]);
    expect(existsSync(join(r.dir, "taskrunner"))).toBe(false);
    expect(leftovers(r)).toEqual([]);
  });

  test.each([
    ["FreeBSD", "amd64"],
    ["Linux", "armv7l"],
  ])("rejects an unsupported platform (%s %s) before downloading", async (os, arch) => {
    const release = makeRelease();
    const r = await install(shell, release, { TASKRUNNER_INSTALL_OS: os, TASKRUNNER_INSTALL_ARCH: arch });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toBe(
      `${ERR} unsupported platform ${os}/${arch}; release binaries exist for Linux and macOS (Darwin) on x86_64 and arm64\n`,
    );
    expect(release.requests()).toEqual([]);
    expect(existsSync(join(r.dir, "taskrunner"))).toBe(false);
  });

  test("a missing binary (404) is a clear error, nothing installed", async () => {
    const release = makeRelease({ missing: ["taskrunner-linux-x64"] });
    const r = await install(shell, release);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toBe(`${ERR} download of ${release.url}/taskrunner-linux-x64 failed: HTTP 404\n`);
    expect(existsSync(join(r.dir, "taskrunner"))).toBe(false);
    expect(leftovers(r)).toEqual([]);
  });

  test("a missing release (no SHA256SUMS) is a clear error", async () => {
    const release = makeRelease({ missing: ["SHA256SUMS"] });
    const r = await install(shell, release);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toBe(`${ERR} download of ${release.url}/SHA256SUMS failed: HTTP 404\n`);
    expect(leftovers(r)).toEqual([]);
  });

  test("says how to put the install dir on PATH when it is not", async () => {
    const r = await install(shell, makeRelease(), { PATH: process.env.PATH });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`note: ${r.dir} is not on your PATH; add it, e.g.: export PATH="${r.dir}:$PATH"`);
  });

  test("needs no program but the ones it names; says when git is missing", async () => {
    const r = await install(shell, makeRelease(), { PATH: pathWithout([]) });
    expect(r.stderr).toBe("");
    expect(installed(r)).toBe(fake("taskrunner-linux-x64"));
    expect(r.stdout).toContain("note: taskrunner runs tasks with git, which is not installed here");
  });

  const wget = Bun.which("wget");
  const noWget = wget ? "" : " (skipped: wget is not installed)";
  test.skipIf(!wget)(`downloads with wget when curl is missing${noWget}`, async () => {
    const r = await install(shell, makeRelease(), { PATH: pathWithout(["curl"]) });
    expect(r.stderr).toBe("");
    expect(installed(r)).toBe(fake("taskrunner-linux-x64"));
  });

  test.skipIf(!wget)(`wget: a 404 is a clear error${noWget}`, async () => {
    const release = makeRelease({ missing: ["taskrunner-linux-x64"] });
    const r = await install(shell, release, { PATH: pathWithout(["curl"]) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toStartWith(`${ERR} download of ${release.url}/taskrunner-linux-x64 failed: wget exit code `);
    expect(r.stderr.split("\n")).toHaveLength(2);
    expect(leftovers(r)).toEqual([]);
  });

  const openssl = Bun.which("openssl");
  test.skipIf(!openssl)(
    `verifies with openssl when sha256sum and shasum are missing${openssl ? "" : " (skipped: openssl is not installed)"}`,
    async () => {
      const path = pathWithout(["sha256sum", "shasum"]);
      const wrong = "f".repeat(64);
      const bad = await install(shell, makeRelease({ sums: () => wrong }), { PATH: path });
      expect(bad.stderr).toContain(`checksum mismatch for taskrunner-linux-x64: expected ${wrong}, got ${sha256(fakeBinary("taskrunner-linux-x64"))}`);
      const good = await install(shell, makeRelease(), { PATH: path });
      expect(good.stderr).toBe("");
      expect(installed(good)).toBe(fake("taskrunner-linux-x64"));
    },
  );

  test("without curl or wget it says so", async () => {
    const r = await install(shell, makeRelease(), { PATH: pathWithout(["curl", "wget"]) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toBe(`${ERR} neither curl nor wget is installed; install one and run this again\n`);
  });
});

test("TASKRUNNER_VERSION and the default pick the GitHub release URLs", async () => {
  // A stand-in curl that logs each URL and copies the file from a local release folder:
  // the real URLs are built, and no request leaves this machine.
  const release = makeRelease();
  const bin = linkTools(["curl", "wget"], ["cp"]);
  const log = join(root, "curl.log");
  writeFileSync(
    join(bin, "curl"),
    `#!/bin/sh
out=""; url=""
while [ $# -gt 0 ]; do
  case $1 in -o) out=$2; shift ;; -w|--retry|--connect-timeout) shift ;; -*) ;; *) url=$1 ;; esac
  shift
done
echo "$url" >> "${log}"
cp "${release.dir}/\${url##*/}" "$out" && printf 200
`,
  );
  chmodSync(join(bin, "curl"), 0o755);
  const github = { PATH: bin, TASKRUNNER_DOWNLOAD_URL: undefined };
  const versioned = await install(SHELLS[0], release, { ...github, TASKRUNNER_VERSION: "v1.2.3" });
  expect(versioned.stderr).toBe("");
  const latest = await install(SHELLS[0], release, github);
  expect(latest.stderr).toBe("");
  expect(readFileSync(log, "utf8").trim().split("\n")).toEqual([
    "https://github.com/restaumatic/taskrunner/releases/download/v1.2.3/SHA256SUMS",
    "https://github.com/restaumatic/taskrunner/releases/download/v1.2.3/taskrunner-linux-x64",
    "https://github.com/restaumatic/taskrunner/releases/latest/download/SHA256SUMS",
    "https://github.com/restaumatic/taskrunner/releases/latest/download/taskrunner-linux-x64",
  ]);
});

test("works as `curl -fsSL …/install.sh | sh`", async () => {
  const release = makeRelease();
  const r = await install("sh", release, {}, { argv: ["sh", "-c", `curl -fsSL ${release.url}/install.sh | sh`] });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(installed(r)).toBe(fake("taskrunner-linux-x64"));
});
