// install.sh against local release folders: small fake binaries (shell scripts printing
// their name) and a SHA256SUMS, served over HTTP on 127.0.0.1. Each case runs under dash,
// as `curl … | sh` does on Debian and Ubuntu, under bash, and under BusyBox's sh with only
// BusyBox's tools (Alpine's userland: its wget, no curl). Download failures are checked per
// client (curl, GNU wget, BusyBox wget) against real servers that fail in each way, and every
// README or install-guide snippet that pipes a download into a shell must fail its step when the download does.
// Every case has its own release folder and install dir, so cases run at once.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { serveStatic, type StaticServer } from "./fakes/http-static";
import { startFaultyServer, type Misbehaviour } from "./fakes/faulty-http";
import { BINARY, ensureBinary } from "./helpers/binary";

const INSTALL_SH = resolve(import.meta.dir, "..", "install.sh");
const README = resolve(import.meta.dir, "..", "README.md");
const INSTALL_GUIDE = resolve(import.meta.dir, "..", "docs", "guides", "installing-in-ci.md");
const ASSETS = [
  "taskrunner-linux-x64",
  "taskrunner-linux-x64-baseline",
  "taskrunner-linux-arm64",
  "taskrunner-linux-x64-musl",
  "taskrunner-linux-arm64-musl",
  "taskrunner-darwin-x64",
  "taskrunner-darwin-arm64",
];
const ERR = "taskrunner install: error:";
const BUSYBOX = Bun.which("busybox");
const SH = Bun.which("sh")!;
const NO_BUSYBOX = "skipped: busybox is not installed (apt-get install busybox)";

// Every program install.sh may call; a PATH of these alone also checks that it needs no other.
const TOOLS = [
  "sh",
  "dash",
  "bash",
  "curl",
  "wget",
  "sha256sum",
  "shasum",
  "openssl",
  "uname",
  "sysctl",
  "ldd",
  "awk",
  "grep",
  "ls",
  "mkdir",
  "mktemp",
  "chmod",
  "mv",
  "rm",
];

interface Shell {
  name: string;
  argv: string[];
  /** The PATH after the install dir; the machine's own when unset. */
  path?: () => string;
}

/** A folder of BusyBox applets named as install.sh's tools: Alpine's userland, with no curl. */
function busyboxPath(): string {
  const bin = join(root, "busybox-bin");
  if (!existsSync(bin)) {
    mkdirSync(bin);
    const applets = new Set(Bun.spawnSync([BUSYBOX!, "--list"]).stdout.toString().split("\n"));
    for (const name of TOOLS) if (applets.has(name)) symlinkSync(BUSYBOX!, join(bin, name));
  }
  return bin;
}

const SHELLS: Shell[] = [
  { name: Bun.which("dash") ? "dash" : "sh", argv: [Bun.which("dash") ? "dash" : "sh"] },
  { name: "bash", argv: ["bash"] },
  ...(BUSYBOX ? [{ name: "busybox sh, BusyBox tools only", argv: [BUSYBOX, "sh"], path: busyboxPath }] : []),
];

let root: string;
let server: StaticServer;
let counter = 0;

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const fakeBinary = (asset: string) => `#!/bin/sh\necho "taskrunner 9.9.9 (fake ${asset})"\n`;
const fake = (asset: string) => `taskrunner 9.9.9 (fake ${asset})`;

// What Bun 1.4.5 prints when a compiled program crashes (here: `ulimit -v 200000`), before it
// aborts; the line that matters comes after a banner and a dozen lines about the platform.
const BUN_CRASH_REPORT = `============================================================
Bun v1.4.5 (a7733435c) Linux x64
Linux Kernel v6.18.44 | glibc v2.36
CPU: sse42 popcnt avx avx2 avx512
Args: "taskrunner" "--version"
Features: jsc

Elapsed: 1ms | User: 0ms | Sys: 2ms
RSS: 10.16 MB | Peak: 10.16 MB | Commit: 4.65 MB | Faults: 0

panic(main thread): abort() called
oh no: Bun has crashed. This indicates a bug in Bun, not your code.

To send a redacted crash report to Bun's team,
please file a GitHub issue using the link below:

 https://bun.report/1.4.5/l_1a773343AggggC2u3iBAa
`;
// Printed with builtins only: BusyBox's userland here has no cat.
const BUN_CRASH = `#!/bin/sh\nulimit -c 0\nprintf '%s' '${BUN_CRASH_REPORT.replaceAll("'", "'\\''")}' >&2\nkill -ABRT $$\n`;

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
function makeRelease(
  opts: {
    sums?: (asset: string) => string;
    unlisted?: string[];
    missing?: string[];
    /** What each binary holds instead of a fake that starts. */
    binary?: (asset: string) => string | Buffer;
  } = {},
): Release {
  const name = `release-${++counter}`;
  const dir = join(root, "www", name);
  mkdirSync(dir, { recursive: true });
  const content = opts.binary ?? fakeBinary;
  for (const asset of ASSETS) {
    if (!opts.missing?.includes(asset)) writeFileSync(join(dir, asset), content(asset));
  }
  const listed = ASSETS.filter((a) => !opts.unlisted?.includes(a));
  const sum = opts.sums ?? ((a: string) => sha256(content(a)));
  if (!opts.missing?.includes("SHA256SUMS")) {
    writeFileSync(join(dir, "SHA256SUMS"), listed.map((a) => `${sum(a)}  ${a}\n`).join(""));
  }
  writeFileSync(join(dir, "install.sh"), readFileSync(INSTALL_SH));
  return {
    dir,
    url: `${server.url}/${name}`,
    requests: () => server.requests.filter((p) => p.startsWith(`/${name}/`)),
  };
}

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
 * `limits` is shell code run first (`ulimit …`), in the installer's process.
 */
async function install(
  shell: Shell,
  release: Release,
  env: Record<string, string | undefined> = {},
  opts: { dir?: string; argv?: string[]; limits?: string } = {},
): Promise<Run> {
  const dir = opts.dir ?? join(root, `install-${++counter}`);
  const fullEnv: Record<string, string | undefined> = {
    PATH: `${dir}${delimiter}${shell.path?.() ?? process.env.PATH}`,
    HOME: join(root, "home"),
    TASKRUNNER_DOWNLOAD_URL: release.url,
    TASKRUNNER_INSTALL_DIR: dir,
    TASKRUNNER_INSTALL_OS: "Linux",
    TASKRUNNER_INSTALL_ARCH: "x86_64",
    TASKRUNNER_INSTALL_LIBC: "glibc",
    ...env,
  };
  for (const k of Object.keys(fullEnv)) if (fullEnv[k] === undefined) delete fullEnv[k];
  let argv = opts.argv ?? [...shell.argv, INSTALL_SH];
  if (opts.limits) argv = [SH, "-c", `${opts.limits}; exec "$@"`, "sh", ...argv];
  const p = Bun.spawn(argv, {
    cwd: root,
    env: fullEnv as Record<string, string>,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { code, stdout, stderr, dir };
}

/** What the installed taskrunner says to --version. */
function installed(r: Run): string {
  return Bun.spawnSync([join(r.dir, "taskrunner"), "--version"])
    .stdout.toString()
    .trim();
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

describe.concurrent.each(SHELLS.map((s) => [s.name, s] as const))("install.sh under %s", (_, shell) => {
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
    expect(installed(r)).toMatch(
      new RegExp(`^taskrunner 9\\.9\\.9 \\(fake taskrunner-${os}-${arch}(-baseline)?(-musl)?\\)$`),
    );
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

  const openssl = Bun.which("openssl");
  test.skipIf(!openssl)(
    `verifies with openssl when sha256sum and shasum are missing${openssl ? "" : " (skipped: openssl is not installed)"}`,
    async () => {
      const path = pathWithout(["sha256sum", "shasum"]);
      const wrong = "f".repeat(64);
      const bad = await install(shell, makeRelease({ sums: () => wrong }), { PATH: path });
      expect(bad.stderr).toContain(
        `checksum mismatch for taskrunner-linux-x64: expected ${wrong}, got ${sha256(fakeBinary("taskrunner-linux-x64"))}`,
      );
      const good = await install(shell, makeRelease(), { PATH: path });
      expect(good.stderr).toBe("");
      expect(installed(good)).toBe(fake("taskrunner-linux-x64"));
    },
  );

  test.each([
    {
      what: "crashes with Bun's crash report",
      binary: BUN_CRASH,
      says: "killed by SIGABRT): panic(main thread): abort() called",
      hint: [],
    },
    {
      what: "dies of SIGILL without a word, as on an x64 CPU without SSE4.2",
      binary: "#!/bin/sh\nulimit -c 0\nkill -ILL $$\n",
      says: "killed by SIGILL)",
      hint: ["taskrunner install: x64 builds need a CPU with SSE4.2 (Intel Nehalem, AMD Bulldozer or newer)"],
    },
    {
      what: "fails, saying why on its first line",
      binary: "#!/bin/sh\necho 'error: something is wrong' >&2\necho 'details' >&2\nexit 3\n",
      says: "exit code 3): error: something is wrong",
      hint: [],
    },
  ])("a binary that $what is not installed, and the install fails", async ({ binary, says, hint }) => {
    const dir = join(root, `install-${++counter}`);
    mkdirSync(dir);
    writeFileSync(join(dir, "taskrunner"), "#!/bin/sh\necho old\n", { mode: 0o755 });
    const r = await install(shell, makeRelease({ binary: () => binary }), {}, { dir });
    expect(r.stderr.split("\n")).toEqual([
      `${ERR} the downloaded taskrunner-linux-x64 does not start (${says}; nothing was installed`,
      ...hint,
      "",
    ]);
    expect(r.code).toBe(1);
    expect(installed(r)).toBe("old");
    expect(leftovers(r)).toEqual([]);
  });

  test("a binary whose loader is missing names the asset, not a temporary file, and says what to try", async () => {
    const r = await install(shell, makeRelease({ binary: () => "#!/nonexistent/ld-linux-x86-64.so.2\n" }));
    const lines = r.stderr.split("\n");
    // The shell says it: "<script>: 217: taskrunner-linux-x64: not found" or the like.
    expect(lines[0]).toMatch(
      new RegExp(
        `^${ERR} the downloaded taskrunner-linux-x64 does not start \\(exit code 127\\): .*taskrunner-linux-x64: .*not found; nothing was installed$`,
      ),
    );
    expect(lines.slice(1)).toEqual([
      "taskrunner install: a glibc build needs glibc's loader; on a musl system (Alpine) set TASKRUNNER_INSTALL_LIBC=musl",
      "",
    ]);
    expect(r.code).toBe(1);
    expect(existsSync(join(r.dir, "taskrunner"))).toBe(false);
    expect(leftovers(r)).toEqual([]);
  });

  test("a musl binary that lacks libstdc++ says what to install", async () => {
    const binary =
      '#!/bin/sh\necho "Error loading shared library libstdc++.so.6: No such file or directory (needed by $0)" >&2\nexit 127\n';
    const r = await install(shell, makeRelease({ binary: () => binary }), { TASKRUNNER_INSTALL_LIBC: "musl" });
    expect(r.stderr.split("\n")).toEqual([
      `${ERR} the downloaded taskrunner-linux-x64-musl does not start (exit code 127): ` +
        "Error loading shared library libstdc++.so.6: No such file or directory (needed by taskrunner-linux-x64-musl); nothing was installed",
      "taskrunner install: on Alpine it needs: apk add libstdc++ libgcc",
      "",
    ]);
    expect(r.code).toBe(1);
    expect(existsSync(join(r.dir, "taskrunner"))).toBe(false);
  });

  test("without curl or wget it says so", async () => {
    const r = await install(shell, makeRelease(), { PATH: pathWithout(["curl", "wget"]) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toBe(`${ERR} neither curl nor wget is installed; install one and run this again\n`);
  });
});

test("the real binary, crashing at start (too little address space), is reported by its panic line", async () => {
  await ensureBinary();
  // Under this limit Bun cannot reserve its heap and aborts with a crash report: a ==== banner,
  // a dozen lines about the platform, then "panic(main thread): …". curl, sha256sum and the
  // shell need far less.
  const limits = "ulimit -c 0; ulimit -v 250000";
  const direct = Bun.spawnSync([SH, "-c", `${limits}; exec "$0" --version`, BINARY], {
    stderr: "pipe",
    stdout: "pipe",
  });
  const report = `${direct.stdout}${direct.stderr}`;
  const panic = report.split("\n").find((l) => l.startsWith("panic"));
  expect({ signal: direct.signalCode, panic: panic !== undefined, banner: report.startsWith("====") }).toEqual({
    signal: "SIGABRT",
    panic: true,
    banner: true,
  });
  const real = readFileSync(BINARY);
  const release = makeRelease({ binary: (asset) => (asset === "taskrunner-linux-x64" ? real : fakeBinary(asset)) });
  const r = await install(SHELLS[0], release, {}, { limits });
  expect(r.stderr).toBe(
    `${ERR} the downloaded taskrunner-linux-x64 does not start (killed by SIGABRT): ${panic}; nothing was installed\n`,
  );
  expect(r.code).toBe(1);
  expect(existsSync(join(r.dir, "taskrunner"))).toBe(false);
}, 120_000);

// Each download client against a server that fails the way servers and machines do: the
// install says, in one line, what went wrong and how the client put it, and installs nothing.
interface Client {
  name: string;
  shell: Shell;
  path: () => string;
  /** Why a stalled server cannot be tested with this client, if it cannot. */
  noStall?: string;
}

const WGET = Bun.which("wget");
const GNU_WGET = WGET !== null && Bun.spawnSync([WGET, "--version"]).stdout.toString().includes("GNU Wget");
const BUSYBOX_WGET_TIMEOUT =
  BUSYBOX !== null && Bun.spawnSync([BUSYBOX, "wget", "--help"]).stderr.toString().includes("-T SEC");
const CLIENTS: Client[] = [
  { name: "curl", shell: SHELLS[0], path: () => pathWithout(["wget"]) },
  ...(GNU_WGET ? [{ name: "GNU wget", shell: SHELLS[0], path: () => pathWithout(["curl"]) }] : []),
  ...(BUSYBOX
    ? [
        {
          name: "BusyBox wget",
          shell: SHELLS[2],
          path: busyboxPath,
          noStall: BUSYBOX_WGET_TIMEOUT
            ? undefined
            : "this BusyBox wget has no -T: install.sh waits as long as it does",
        },
      ]
    : []),
];
const missingClients = [
  ...(GNU_WGET ? [] : ["GNU wget"]),
  ...(BUSYBOX ? [] : ["BusyBox wget (apt-get install busybox)"]),
];
if (missingClients.length)
  test.skip(`download failures with ${missingClients.join(", ")} (skipped: not installed)`, () => {});

type Fault = "404" | "500" | "cut off" | "refused" | "disk full" | "stall";
/** What each client's failure reads as, after "download of <url> failed: ". */
const SAYS: Record<Fault, Record<string, string | RegExp>> = {
  "404": { curl: "HTTP 404", "GNU wget": "HTTP 404", "BusyBox wget": "HTTP 404" },
  "500": { curl: "HTTP 500", "GNU wget": "HTTP 500", "BusyBox wget": "HTTP 500" },
  "cut off": {
    curl: "the download was cut off (curl exit code 18: transfer closed with 995 bytes remaining to read)",
    "GNU wget": "network failure: no connection, or it broke off (wget exit code 4)",
    "BusyBox wget": "connection closed prematurely (wget exit code 1)",
  },
  refused: {
    curl: /^cannot connect to the server \(curl exit code 7: Failed to connect to 127\.0\.0\.1 port \d+ after \d+ ms: Couldn't connect to server\)$/,
    "GNU wget": "network failure: no connection, or it broke off (wget exit code 4: failed: Connection refused.)",
    "BusyBox wget": "can't connect to remote host (127.0.0.1): Connection refused (wget exit code 1)",
  },
  "disk full": {
    // Newer curl adds ", passed N returned M".
    curl: /^cannot write the file; is the disk full\? \(curl exit code 23: Failure writing output to destination.*\)$/,
    "GNU wget":
      /^cannot write the file; is the disk full\? \(wget exit code 3: Cannot write to '.*' \(File too large\)\.\)$/,
    "BusyBox wget": "short write: File too large (wget exit code 1)",
  },
  stall: {
    curl: "timed out (curl exit code 28: Operation too slow. Less than 1 bytes/sec transferred the last 20 seconds)",
    "GNU wget": /^network failure: no connection, or it broke off \(wget exit code 4.*timed out.*\)$/,
    "BusyBox wget": "download timed out (wget exit code 1)",
  },
};

function expectFailure(r: Run, url: string, says: string | RegExp): void {
  const lines = r.stderr.split("\n");
  expect(lines).toHaveLength(2); // one line
  const prefix = `${ERR} download of ${url} failed: `;
  expect(lines[0]).toStartWith(prefix);
  expect(lines[0].slice(prefix.length)).toMatch(
    typeof says === "string" ? new RegExp(`^${RegExp.escape(says)}$`) : says,
  );
  expect(r.code).toBe(1);
  expect(existsSync(join(r.dir, "taskrunner"))).toBe(false);
  expect(leftovers(r)).toEqual([]);
}

/** Every request to it misbehaves `how`; the release folder is at its root. */
async function faultyRelease(how: Misbehaviour): Promise<{ release: Release; stop(): Promise<void> }> {
  const server = await startFaultyServer(how);
  return { release: { dir: "", url: `${server.endpoint}/release`, requests: () => [] }, stop: () => server.stop() };
}

describe.concurrent.each(CLIENTS.map((c) => [c.name, c] as const))("download failures with %s", (name, client) => {
  const run = (release: Release, opts: { limits?: string } = {}) =>
    install(client.shell, release, { PATH: client.path() }, opts);

  test("a missing release (404)", async () => {
    const release = makeRelease({ missing: ["SHA256SUMS"] });
    expectFailure(await run(release), `${release.url}/SHA256SUMS`, SAYS["404"][name]);
  });

  test.each([
    ["a server error (500)", "500", { kind: "error500" }],
    ["a download cut off before its end", "cut off", { kind: "drop-body", body: Buffer.from("abcde"), declared: 1000 }],
  ] as const)("%s", async (_, fault, how) => {
    const { release, stop } = await faultyRelease(how);
    try {
      expectFailure(await run(release), `${release.url}/SHA256SUMS`, SAYS[fault][name]);
    } finally {
      await stop();
    }
  });

  test("a server that is not there", async () => {
    const { release, stop } = await faultyRelease({ kind: "silent" });
    await stop();
    expectFailure(await run(release), `${release.url}/SHA256SUMS`, SAYS.refused[name]);
  });

  test("a full disk (a file size limit: writes fail with EFBIG)", async () => {
    const big = (asset: string) => `${fakeBinary(asset)}# ${"x".repeat(64 * 1024)}\n`;
    const release = makeRelease({ binary: big });
    // 16 blocks (8 or 16 KiB by the shell's unit) hold SHA256SUMS, not the binary.
    const r = await run(release, { limits: "trap '' XFSZ; ulimit -f 16" });
    expectFailure(r, `${release.url}/taskrunner-linux-x64`, SAYS["disk full"][name]);
  });

  test.skipIf(client.noStall !== undefined)(
    `a server that accepts the connection and then sends nothing gives up after 20 s${client.noStall ? ` (skipped: ${client.noStall})` : ""}`,
    async () => {
      const { release, stop } = await faultyRelease({ kind: "silent" });
      try {
        expectFailure(await run(release), `${release.url}/SHA256SUMS`, SAYS.stall[name]);
      } finally {
        await stop();
      }
    },
    60_000,
  );
});

// The README's and the install guide's CI and container snippets that pipe a download into `sh`, each as the step
// that runs it: a Dockerfile RUN under the SHELL in force (else the image's /bin/sh: dash on
// Debian, BusyBox sh on Alpine), a GitHub Actions step under the shell Actions runs it with,
// a plain command under sh (dash here, which has no pipefail).
interface Step {
  title: string;
  argv: string[];
  env: Record<string, string>;
  /** BusyBox userland (Alpine): skipped where BusyBox is not installed. */
  busybox: boolean;
  /** A script file to write and append to argv, as Actions runs a step's `run`. */
  script?: string;
}

const PIPED_INTO_SH = /\|\s*(?:[A-Z_]+=\S*\s+)*sh\b/;

/**
 * The indented snippets under the headings `pick` matches, in one page: the README's pinned
 * install, and the CI and container sections of docs/guides/installing-in-ci.md. (A
 * developer machine's `curl … | sh` is not a CI step, and is left out.)
 */
function pageSteps(path: string, pick: RegExp): Step[] {
  const page = readFileSync(path, "utf8");
  const steps: Step[] = [];
  let heading = "";
  let block: string[] = [];
  const flush = () => {
    while (block.length && block[block.length - 1] === "") block.pop();
    if (block.length && pick.test(heading)) steps.push(...blockSteps(heading.replace(/^#+ /, ""), block));
    block = [];
  };
  for (const line of page.split("\n")) {
    if (line.startsWith("    ") || (line === "" && block.length)) block.push(line.slice(4));
    else {
      flush();
      if (/^#+ /.test(line)) heading = line;
    }
  }
  flush();
  return steps;
}

function readmeSteps(): Step[] {
  return [...pageSteps(README, /^### In CI/), ...pageSteps(INSTALL_GUIDE, /^## (CI images|Containers)/)];
}

function blockSteps(heading: string, lines: string[]): Step[] {
  const steps: Step[] = [];
  const text = lines.join("\n");
  if (/^FROM /m.test(text)) {
    // Dockerfile: instructions with their continuation lines joined, as Docker reads them.
    let shell: string[] = [];
    let env: Record<string, string> = {};
    let busybox = false;
    for (const instr of text.replace(/\\\n/g, " ").split("\n")) {
      const [, op, rest] = /^(\w+)\s+(.*)$/.exec(instr.trim()) ?? [];
      if (op === "FROM") {
        busybox = rest.startsWith("alpine");
        shell = ["/bin/sh", "-c"];
        env = {};
      } else if (op === "ARG" && rest.includes("="))
        env[rest.slice(0, rest.indexOf("="))] = rest.slice(rest.indexOf("=") + 1);
      else if (op === "SHELL") shell = JSON.parse(rest);
      else if (op === "RUN" && PIPED_INTO_SH.test(rest)) {
        steps.push({
          title: `${heading}: RUN under ${shell.join(" ")}`,
          argv: [...shell, rest],
          env: { ...env },
          busybox,
        });
      }
    }
  } else if (/^\s*-?\s*run: \|/m.test(text)) {
    // A GitHub Actions step: `bash -e {0}` by default, `bash --noprofile --norc -eo pipefail {0}`
    // with `shell: bash`.
    const runAt = lines.findIndex((l) => /run: \|/.test(l));
    const indent = (l: string) => l.length - l.trimStart().length;
    const body = lines.slice(runAt + 1).filter((l) => l === "" || indent(l) > indent(lines[runAt]));
    const script = `${body.map((l) => l.slice(indent(body[0]))).join("\n")}\n`;
    const shell = /^\s*-?\s*shell: bash\b/m.test(text)
      ? ["bash", "--noprofile", "--norc", "-eo", "pipefail"]
      : ["bash", "-e"];
    steps.push({
      title: `${heading}: GitHub Actions step under ${shell.join(" ")}`,
      argv: shell,
      env: {},
      busybox: false,
      script,
    });
  } else if (PIPED_INTO_SH.test(text)) {
    steps.push({
      title: `${heading}: a command under sh (no pipefail)`,
      argv: [SH, "-c", text],
      env: {},
      busybox: false,
    });
  }
  return steps;
}

describe("README and install guide snippets that pipe a download into sh", () => {
  const steps = readmeSteps();

  test("are all found: two commands, an Actions step, and the Debian, Alpine and build-stage Dockerfiles", () => {
    expect(steps.length).toBeGreaterThanOrEqual(6);
  });

  for (const step of steps.filter((s) => s.busybox && !BUSYBOX)) test.skip(`${step.title} (${NO_BUSYBOX})`, () => {});

  const runnable = steps.filter((s) => !s.busybox || BUSYBOX);
  test.each(runnable.map((s) => [s.title, s] as const))("%s fails when the release is not there", async (_, step) => {
    const local = (a: string) =>
      a.replaceAll("https://github.com/restaumatic/taskrunner/releases", `${server.url}/no-such-release`);
    // /bin/sh is the image's: BusyBox sh on Alpine, dash on Debian (as here).
    const shell = step.argv[0] === "/bin/sh" ? (step.busybox ? [BUSYBOX!, "sh"] : [SH]) : [step.argv[0]];
    const argv = [...shell, ...step.argv.slice(1)].map(local);
    if (step.script !== undefined) {
      argv.push(join(root, `actions-step-${++counter}.sh`));
      writeFileSync(argv[argv.length - 1], local(step.script));
    }
    // PATH holds the installer's tools only: a snippet that also runs apt-get or apk fails here
    // without the download's error, and installs nothing on this machine.
    const p = Bun.spawn(argv, {
      cwd: root,
      env: {
        ...step.env,
        PATH: step.busybox ? busyboxPath() : pathWithout([]),
        HOME: join(root, "home"),
        GITHUB_PATH: join(root, "github-path"),
      },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    // The download's own error: curl's "returned error: 404", BusyBox wget's "HTTP/1.1 404".
    expect(stderr).toMatch(/\b404\b/);
    expect(code).not.toBe(0);
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
  case $1 in -o) out=$2; shift ;; --retry|--retry-max-time|--connect-timeout|--speed-limit|--speed-time) shift ;; -*) ;; *) url=$1 ;; esac
  shift
done
echo "$url" >> "${log}"
cp "${release.dir}/\${url##*/}" "$out"
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
  const r = await install(SHELLS[0], release, {}, { argv: ["sh", "-c", `curl -fsSL ${release.url}/install.sh | sh`] });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(installed(r)).toBe(fake("taskrunner-linux-x64"));
});
