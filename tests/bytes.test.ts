// File names, pathspecs and --raw values that are not UTF-8 (a Latin-1
// system's caf\xe9.txt), on the compiled binary with real git repositories:
// they reach the runner byte for byte through the `snapshot` function, through
// a nested taskrunner served by the toplevel and through one of its own
// (which asks the toplevel's hashing service), and hash as the old tool did.
import { test, expect, beforeAll } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, ensureBinary } from "./helpers/binary";
import { buildLogLines, endedText, scratch, type Scratch } from "./helpers/run";
import { referenceListing, sh } from "./fakes/git-repo";
import { haskellStrip, sha1Hex } from "../src/hash/text";
import { encodeBytes } from "../src/sys/bytes";

beforeAll(ensureBinary, 120_000);

/** The binary, less the scratch environment's GIT_* variables (with them, nested runners rightly hash by themselves). */
function run(s: Scratch, script: string, extra: Record<string, string> = {}) {
  const env = Object.fromEntries(
    Object.entries({ ...s.env, TASKRUNNER_DISABLE_TIMESTAMPS: "1", ...extra }).filter(([k]) => !k.startsWith("GIT_")),
  );
  return endedText(
    Bun.spawn([BINARY, "-n", "top", "bash", "-c", script], {
      cwd: s.work,
      env,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    }),
  );
}

const savedHash = (s: Scratch, job: string): string =>
  JSON.parse(readFileSync(join(s.dir, "state", "hash", `${job}.hash`), "utf8")).hash;

/** What the old `snapshot` function's jq made of these words: the text the old tool hashed. */
function asJqSawThem(words: string[]): string[] {
  const stdin = Buffer.concat(words.flatMap((v) => [encodeBytes(v), Uint8Array.of(0)]));
  const read =
    "a=(); while IFS= LC_ALL=C read -r -d '' x; do a+=(\"$x\"); done; jq -n -c '$ARGS.positional' --args -- \"${a[@]}\"";
  return JSON.parse(Bun.spawnSync(["bash", "-c", read], { stdin }).stdout.toString());
}

// Stray Latin-1 bytes next to what the function must escape (a quote, a backslash,
// control characters, a newline), a truncated sequence, and plain UTF-8.
const RAW_PRINTF = String.raw`caf\xe9\"\\ \xe9\x01\xe2\x82\x02z\xc3\xa9\x7f\n\xff\t`;
const RAW = 'caf\udce9"\\ \udce9\x01\udce2\udc82\x02zé\x7f\n\udcff\t';
// What the old tool's jq made of RAW (checked against jq itself where it is installed).
const RAW_AS_HASHED = 'caf\ufffd"\\ \ufffd\x01\ufffd\x02zé\x7f\n\ufffd\t';
const HAVE_JQ = Bun.which("jq") !== null;
const LATIN1_REPO = String.raw`git init -q . && mkdir src && echo a > src/$'caf\xe9.txt' && echo b > src/plain.txt && git add . && git commit -qm init`;
const FILE_SPEC = "src/caf\udce9.txt";

for (const [route, extra] of [
  ["the task's own snapshot", {}],
  ["a nested task served by the toplevel", {}],
  ["a nested taskrunner process (the hashing service)", { TASKRUNNER_NESTED_PROCESSES: "1" }],
] as const) {
  const nested = route !== "the task's own snapshot";
  test(`a Latin-1 pathspec and --raw value, ${route}: matched, and hashed as the old tool did`, async () => {
    const s = scratch("bytes");
    try {
      sh(s.work, LATIN1_REPO);
      const snapshot = `snapshot --raw "$(printf '${RAW_PRINTF}')" src/$'caf\\xe9.txt' && echo ran`;
      const script = nested
        ? `taskrunner -n inner bash -c ${JSON.stringify(snapshot).replace(/\$/g, "\\$")}`
        : snapshot;
      const first = await run(s, script, extra);
      expect(first.stderr).toBe("");
      expect(first.code).toBe(0);
      expect(first.stdout).toBe(`[${nested ? "inner" : "top"}] stdout | ran\n`);
      const listing = haskellStrip(referenceListing(s.work, [FILE_SPEC])!);
      expect(listing).toBe('100644 blob 78981922613b2afb6025042ff6bd878ac1994e85\t"src/caf\\351.txt"');
      const raw = RAW_AS_HASHED;
      if (HAVE_JQ) expect(asJqSawThem([RAW])).toEqual([raw]);
      expect(savedHash(s, nested ? "inner" : "top")).toBe(sha1Hex(listing + raw));
      // Hashed by the toplevel's service where there is one, not by the nested process itself.
      expect(buildLogLines(s).filter((l) => l.includes("Hashing here"))).toEqual([]);
      // Unchanged: skipped.
      const second = await run(s, script, extra);
      expect(second).toMatchObject({ code: 0, stdout: "", stderr: "" });
    } finally {
      s.cleanup();
    }
  }, 60_000);
}

test("with core.quotePath=false the listing holds the raw bytes, hashed as the old pipeline's text", async () => {
  const s = scratch("bytes");
  try {
    sh(s.work, `${LATIN1_REPO} && git config core.quotePath false`);
    const r = await run(s, `snapshot src/$'caf\\xe9.txt' src/plain.txt && echo ran`);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const listing = referenceListing(s.work, [FILE_SPEC, "src/plain.txt"])!;
    expect(listing).toContain("\tsrc/caf\ufffd.txt\n");
    expect(savedHash(s, "top")).toBe(sha1Hex(haskellStrip(listing)));
  } finally {
    s.cleanup();
  }
}, 60_000);

for (const [route, extra] of [
  ["the toplevel", {}],
  ["a nested task served by the toplevel", {}],
  ["a nested taskrunner process", { TASKRUNNER_NESTED_PROCESSES: "1" }],
] as const) {
  const nested = route !== "the toplevel";
  test(`an argument that is not UTF-8 reaches the task byte for byte: ${route}`, async () => {
    const s = scratch("bytes");
    try {
      sh(s.work, "git init -q .");
      const body = `printf %s "$1" | od -An -tx1 -v | tr -d "[:space:]"; echo; snapshot --raw "$1" && echo ran`;
      const script = nested ? `taskrunner -n inner bash -c '${body}' _ "$1"` : body;
      // Bun passes arguments as UTF-8: bash hands the binary the raw bytes.
      const env = Object.fromEntries(
        Object.entries({ ...s.env, TASKRUNNER_DISABLE_TIMESTAMPS: "1", ...extra }).filter(
          ([k]) => !k.startsWith("GIT_"),
        ),
      );
      const p = Bun.spawn(
        ["bash", "-c", `exec "$0" -n top bash -c "$1" _ "$(printf '${RAW_PRINTF}')"`, BINARY, script],
        { cwd: s.work, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" },
      );
      const r = await endedText(p);
      const job = nested ? "inner" : "top";
      expect(r).toEqual({
        code: 0,
        stderr: "",
        stdout: `[${job}] stdout | ${Buffer.from(encodeBytes(RAW)).toString("hex")}\n[${job}] stdout | ran\n`,
      });
      expect(savedHash(s, job)).toBe(sha1Hex(RAW_AS_HASHED));
    } finally {
      s.cleanup();
    }
  }, 60_000);
}
