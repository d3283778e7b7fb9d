// Compiles src/main.ts into self-contained executables (the Bun runtime included).
//
//   bun build.ts                      this machine only → dist/taskrunner (what the tests run)
//   bun build.ts --all                every release target → dist/taskrunner-<target>, dist/SHA256SUMS
//   bun build.ts --target linux-arm64 [--target …]   some release targets, + their SHA256SUMS
//   --entry FILE                      compile FILE instead of src/main.ts (to try the build on a stub)
//   --no-bytecode                     plain minified JS in the executable (for startup comparisons)
//
// Cross-compiling fetches the target's Bun runtime (~40 MB) from the npm registry on first use;
// Bun caches it, so later builds of that target work offline.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import pkg from "./package.json";

/** Release targets; each is published as dist/taskrunner-<name>, and Bun's target is `bun-<name>`. */
export const TARGETS = [
  "linux-x64",
  "linux-arm64",
  "linux-x64-musl",
  "linux-arm64-musl",
  "darwin-x64",
  "darwin-arm64",
  // For x64 CPUs without AVX2. Bun 1.4 ships one x64 runtime that picks AVX2 code paths at run
  // time, so this equals linux-x64; it is published so that install.sh's choice always exists.
  "linux-x64-baseline",
] as const;

const DIST = "dist";

interface Options {
  targets: string[] | "host";
  entry: string;
  bytecode: boolean;
}

function usage(message: string): never {
  console.error(`build.ts: ${message}`);
  console.error("usage: bun build.ts [--all | --target NAME ...] [--entry FILE] [--no-bytecode]");
  console.error(`targets: ${TARGETS.join(", ")}`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { targets: "host", entry: "src/main.ts", bytecode: true };
  const chosen: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => argv[++i] ?? usage(`${arg} needs a value`);
    if (arg === "--all") opts.targets = [...TARGETS];
    else if (arg === "--target") chosen.push(value());
    else if (arg === "--entry") opts.entry = value();
    else if (arg === "--no-bytecode") opts.bytecode = false;
    else usage(`unknown argument ${arg}`);
  }
  for (const t of chosen) if (!(TARGETS as readonly string[]).includes(t)) usage(`unknown target ${t}`);
  if (chosen.length > 0)
    opts.targets = opts.targets === "host" ? chosen : usage("--all and --target exclude each other");
  return opts;
}

function git(args: string[]): string | null {
  const p = Bun.spawnSync(["git", ...args], { stderr: "ignore" });
  return p.success ? p.stdout.toString().trim() : null;
}

/** "0.1.0 (1a2b3c4d5e6f)", with "-dirty" when tracked files differ from that commit. */
function buildVersion(): string {
  // Not `--short=12`: git lengthens an abbreviation that is ambiguous in this clone's objects,
  // so a shallow and a full clone of one commit could embed different versions.
  const commit = git(["rev-parse", "HEAD"])?.slice(0, 12);
  if (commit === undefined) return `${pkg.version} (unknown commit)`;
  const dirty = git(["status", "--porcelain", "--untracked-files=no"]);
  return `${pkg.version} (${commit}${dirty ? "-dirty" : ""})`;
}

type Outcome = { ok: true; note: string } | { ok: false; error: string };

/**
 * Entry points loaded only when needed, beside the main one: remote.ts (the
 * cache and GitHub: the AWS SDK, octokit, tar) and usage.ts (citty's parser
 * and usage renderer, which need node:util). In the main bundle they slowed
 * every start.
 */
const LAZY_ENTRIES = ["remote.ts", "usage.ts", "present.ts"];

function lazyEntries(entry: string): string[] {
  return LAZY_ENTRIES.map((name) => join(dirname(entry), name)).filter((path) => existsSync(path));
}

async function compile(opts: Options, version: string, outfile: string, target?: string): Promise<Outcome> {
  // Written in a temporary folder and renamed: tests and other builds may be running the old
  // binary at this moment, and must never see a half-written one. The file inside always has
  // the same name because Bun embeds it (the program's module path, /$bunfs/root/<name>, and a
  // hash of it): a name with the pid in it made every build's bytes differ.
  const tmpDir = join(DIST, `.build-${process.pid}`);
  const tmp = join(tmpDir, "taskrunner");
  try {
    mkdirSync(tmpDir, { recursive: true });
    const result = await Bun.build({
      entrypoints: [opts.entry, ...lazyEntries(opts.entry)],
      compile: {
        outfile: tmp,
        ...(target ? { target: `bun-${target}` as Bun.Build.CompileTarget } : {}),
        // A task runner runs in other people's projects: their .env must not leak into its
        // environment (and so into every task), nor their bunfig.toml change how it runs.
        autoloadDotenv: false,
        autoloadBunfig: false,
      },
      minify: true,
      bytecode: opts.bytecode,
      define: { TASKRUNNER_BUILD_VERSION: JSON.stringify(version) },
      throw: false,
    });
    if (!result.success) return { ok: false, error: result.logs.map(String).join("\n") || "unknown error" };
    let note = "";
    if (target?.startsWith("darwin-")) {
      const signed = ensureSigned(tmp);
      if (!signed.ok) return { ok: false, error: signed.error };
      note = signed.resigned ? ", re-signed ad hoc" : ", signature valid";
    }
    renameSync(tmp, outfile);
    return { ok: true, note };
  } catch (e) {
    // `throw: false` covers build errors (including a failed runtime download); bad options
    // and I/O errors are still thrown.
    return { ok: false, error: e instanceof AggregateError ? e.errors.map(String).join("\n") : String(e) };
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
}

// macOS kills a program whose code signature does not match its pages ("Killed: 9"). Bun 1.4.5
// re-signs its darwin-arm64 output, but leaves darwin-x64 with the runtime's own signature,
// which no longer covers the program appended to it. So each darwin output is checked as the
// kernel checks it and, where that fails, given an ad-hoc signature of the same shape as the
// one Bun writes for arm64: one CodeDirectory of SHA-256 page hashes, no certificate.
const LC_SEGMENT_64 = 0x19;
const LC_CODE_SIGNATURE = 0x1d;
const CSMAGIC_EMBEDDED_SIGNATURE = 0xfade0cc0;
const CSMAGIC_CODEDIRECTORY = 0xfade0c02;
const CD_HEADER = 88; // a version 0x20400 CodeDirectory, up to and including execSegFlags
const PAGE = 4096;

interface MachO {
  sigCmd: number; // where the LC_CODE_SIGNATURE command is
  sigOff: number; // where the signature is, i.e. how much of the file it must cover
  sigSize: number;
  linkeditCmd: number;
  linkeditFileoff: number;
  linkeditLast: boolean; // no segment above __LINKEDIT in memory: it may grow

  textFileoff: number;
  textFilesize: number;
}

function parseMachO(buf: Buffer): MachO | string {
  if (buf.readUInt32LE(0) !== 0xfeedfacf) return "not a 64-bit Mach-O file";
  const m: Partial<MachO> = {};
  let off = 32;
  let linkeditAddr = -1n;
  let highestOther = -1n;
  for (let i = buf.readUInt32LE(16); i > 0; i--) {
    const cmd = buf.readUInt32LE(off);
    if (cmd === LC_CODE_SIGNATURE) {
      m.sigCmd = off;
      m.sigOff = buf.readUInt32LE(off + 8);
      m.sigSize = buf.readUInt32LE(off + 12);
    } else if (cmd === LC_SEGMENT_64) {
      const name = buf.toString("latin1", off + 8, off + 24).replace(/\0+$/, "");
      const fileoff = Number(buf.readBigUInt64LE(off + 40));
      if (name === "__TEXT") [m.textFileoff, m.textFilesize] = [fileoff, Number(buf.readBigUInt64LE(off + 48))];
      const vmaddr = buf.readBigUInt64LE(off + 24);
      if (name === "__LINKEDIT") [m.linkeditCmd, m.linkeditFileoff, linkeditAddr] = [off, fileoff, vmaddr];
      else if (vmaddr > highestOther) highestOther = vmaddr;
    }
    off += buf.readUInt32LE(off + 4);
  }
  if (m.sigCmd === undefined || m.linkeditCmd === undefined || m.textFileoff === undefined) {
    return "no LC_CODE_SIGNATURE, __TEXT or __LINKEDIT";
  }
  m.linkeditLast = linkeditAddr > highestOther;
  return m as MachO;
}

function pageHash(buf: Buffer, page: number, codeLimit: number): Buffer {
  return createHash("sha256")
    .update(buf.subarray(page * PAGE, Math.min((page + 1) * PAGE, codeLimit)))
    .digest();
}

/** Whether the first CodeDirectory covers the whole file up to the signature, page by page. */
function signatureValid(buf: Buffer, m: MachO): boolean {
  if (buf.length !== m.sigOff + m.sigSize || buf.readUInt32BE(m.sigOff) !== CSMAGIC_EMBEDDED_SIGNATURE) return false;
  const cd = m.sigOff + buf.readUInt32BE(m.sigOff + 16);
  if (buf.readUInt32BE(cd) !== CSMAGIC_CODEDIRECTORY || buf.readUInt8(cd + 37) !== 2) return false;
  const [hashOff, slots, codeLimit] = [buf.readUInt32BE(cd + 16), buf.readUInt32BE(cd + 28), buf.readUInt32BE(cd + 32)];
  if (codeLimit !== m.sigOff || slots !== Math.ceil(codeLimit / PAGE)) return false;
  for (let i = 0; i < slots; i++) {
    if (!pageHash(buf, i, codeLimit).equals(buf.subarray(cd + hashOff + i * 32, cd + hashOff + (i + 1) * 32)))
      return false;
  }
  return true;
}

function adhocSign(buf: Buffer, m: MachO): Buffer {
  const ident = Buffer.from("taskrunner\0");
  const slots = Math.ceil(m.sigOff / PAGE);
  const hashOff = CD_HEADER + ident.length;
  const cdLen = hashOff + slots * 32;
  const total = 20 + cdLen;
  // The new signature replaces the old one at the end of the file, inside __LINKEDIT. One
  // larger than the old (a program of more than ~100 MB of pages) grows __LINKEDIT in memory
  // too, which only the last segment can do.
  if (total > m.sigSize && !m.linkeditLast)
    throw new Error(`ad-hoc signature (${total} B) does not fit the old one (${m.sigSize} B)`);
  const out = Buffer.alloc(m.sigOff + total);
  buf.copy(out, 0, 0, m.sigOff);
  out.writeUInt32LE(total, m.sigCmd + 12);
  const linkeditSize = m.sigOff + total - m.linkeditFileoff;
  out.writeBigUInt64LE(BigInt(linkeditSize), m.linkeditCmd + 48); // filesize
  const SEGMENT_ALIGN = 0x4000; // a multiple of the page size of both architectures
  if (BigInt(linkeditSize) > out.readBigUInt64LE(m.linkeditCmd + 32)) {
    out.writeBigUInt64LE(BigInt(Math.ceil(linkeditSize / SEGMENT_ALIGN) * SEGMENT_ALIGN), m.linkeditCmd + 32); // vmsize
  }
  const sb = m.sigOff;
  [CSMAGIC_EMBEDDED_SIGNATURE, total, 1, 0 /* CSSLOT_CODEDIRECTORY */, 20].forEach((v, i) =>
    out.writeUInt32BE(v, sb + 4 * i),
  );
  const cd = sb + 20;
  // magic, length, version, flags (adhoc | linker-signed), hashOffset, identOffset,
  // nSpecialSlots, nCodeSlots, codeLimit
  [CSMAGIC_CODEDIRECTORY, cdLen, 0x20400, 0x20002, hashOff, CD_HEADER, 0, slots, m.sigOff].forEach((v, i) =>
    out.writeUInt32BE(v, cd + 4 * i),
  );
  out.writeUInt8(32, cd + 36); // hashSize
  out.writeUInt8(2, cd + 37); // hashType: SHA-256
  out.writeUInt8(12, cd + 39); // log2(page size); platform, spare2, scatter, team, spare3, codeLimit64 stay 0
  out.writeBigUInt64BE(BigInt(m.textFileoff), cd + 64); // execSegBase
  out.writeBigUInt64BE(BigInt(m.textFilesize), cd + 72); // execSegLimit
  out.writeBigUInt64BE(1n, cd + 80); // execSegFlags: CS_EXECSEG_MAIN_BINARY
  ident.copy(out, cd + CD_HEADER);
  for (let i = 0; i < slots; i++) pageHash(out, i, m.sigOff).copy(out, cd + hashOff + i * 32);
  return out;
}

/** Leaves a darwin executable with a valid signature, re-signing it if needed. */
function ensureSigned(path: string): { ok: true; resigned: boolean } | { ok: false; error: string } {
  const buf = readFileSync(path);
  const m = parseMachO(buf);
  if (typeof m === "string") return { ok: false, error: m };
  if (signatureValid(buf, m)) return { ok: true, resigned: false };
  let signed: Buffer;
  try {
    signed = adhocSign(buf, m);
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
  const check = parseMachO(signed);
  if (typeof check === "string" || !signatureValid(signed, check)) return { ok: false, error: "re-signing failed" };
  writeFileSync(path, signed);
  return { ok: true, resigned: true };
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

function size(path: string): string {
  return `${(Bun.file(path).size / 1024 / 1024).toFixed(1)} MiB`;
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const version = buildVersion();
  mkdirSync(DIST, { recursive: true });

  if (opts.targets === "host") {
    const outfile = join(DIST, "taskrunner");
    const r = await compile(opts, version, outfile);
    if (!r.ok) {
      console.error(`build.ts: compiling ${opts.entry} failed:\n${r.error}`);
      return 1;
    }
    console.log(`built ${outfile} ${version}`);
    return 0;
  }

  // A release directory must hold only what this run built: stale binaries or sums from an
  // earlier run would otherwise be uploaded alongside.
  const sums = join(DIST, "SHA256SUMS");
  rmSync(sums, { force: true });
  if (opts.targets.length === TARGETS.length) {
    for (const f of readdirSync(DIST)) if (f.startsWith("taskrunner-")) rmSync(join(DIST, f), { force: true });
  }

  const failed: string[] = [];
  const lines: string[] = [];
  // One at a time: each compile holds a ~100 MB runtime in memory, and the first run of a
  // target downloads it; in parallel a failure is also harder to read.
  for (const target of opts.targets) {
    const name = `taskrunner-${target}`;
    const outfile = join(DIST, name);
    const started = performance.now();
    const r = await compile(opts, version, outfile, target);
    if (!r.ok) {
      const hint = /download/i.test(r.error)
        ? "\n(cross-compiling downloads the Bun runtime for the target from the npm registry once: is it reachable?)"
        : "";
      console.error(`build.ts: target ${target} failed:\n${r.error}${hint}`);
      failed.push(target);
      continue;
    }
    lines.push(`${sha256(outfile)}  ${name}`);
    console.log(`built ${outfile} (${size(outfile)}${r.note}, ${((performance.now() - started) / 1000).toFixed(1)} s)`);
  }
  if (failed.length > 0) {
    // No SHA256SUMS: an incomplete release must not look publishable.
    console.error(`build.ts: ${failed.length} of ${opts.targets.length} targets failed: ${failed.join(", ")}`);
    return 1;
  }
  writeFileSync(sums, `${lines.join("\n")}\n`);
  console.log(`wrote ${sums} for ${lines.length} targets, version ${version}`);
  return 0;
}

// Imported by the reproducibility test for TARGETS; run as `bun build.ts`, it builds.
if (import.meta.main) process.exit(await main());
