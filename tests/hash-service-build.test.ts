// The build's hashing service as nested taskrunners of their own use it
// (TASKRUNNER_NESTED_PROCESSES=1): large non-ASCII --raw values and thousands
// of file inputs, many tasks at once, on the compiled binary and a real git
// repository. Every nested runner gets its answer from the service (no
// "Hashing here" line), and the answer is the hash the old pipeline gives.
import { test, expect, beforeAll } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, ensureBinary } from "./helpers/binary";
import { buildLogLines, endedText, scratch, type Scratch } from "./helpers/run";
import { referenceListing, sh } from "./fakes/git-repo";
import { haskellStrip, sha1Hex } from "../src/hash/text";

beforeAll(ensureBinary, 120_000);

const NESTED = { TASKRUNNER_NESTED_PROCESSES: "1", TASKRUNNER_DISABLE_TIMESTAMPS: "1" };

/** The binary with the scratch environment less its GIT_* variables (with them, nested runners rightly hash by themselves). */
function run(s: Scratch, script: string) {
  const env = Object.fromEntries(Object.entries({ ...s.env, ...NESTED }).filter(([k]) => !k.startsWith("GIT_")));
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

/** Every log line of the builds so far that says a nested runner hashed by itself. */
function hashedHere(s: Scratch): string[] {
  return buildLogLines(s).filter((x) => x.includes("Hashing here"));
}

test("parallel nested processes with a 300 KB non-ASCII --raw value and 5,000 file inputs: all answered by the service, hashes exact", async () => {
  const s = scratch("hash-service-build");
  try {
    sh(
      s.work,
      `git init -q . && mkdir d && for i in $(seq 1 5000); do echo $i > d/some-longer-file-name-$i.txt; done && git add . && git commit -qm many
      printf 'é日本🎉%.0s' $(seq 1 30000) > big-raw`,
    );
    // Each task names all 5,000 files (a ~190 KB request) and the raw value (~300 KB).
    const task = (i: number) =>
      `taskrunner -n t${i} bash -c 'snapshot --raw "$(cat big-raw)" --raw ${i} $(cd d && printf "d/%s " *) && echo ran ${i}' &`;
    const script = `${Array.from({ length: 6 }, (_, i) => task(i)).join("\n")}\nwait`;
    const first = await run(s, script);
    expect(first.code).toBe(0);
    expect(hashedHere(s)).toEqual([]);
    expect(first.stderr).toBe("");
    for (let i = 0; i < 6; i++) expect(first.stdout).toContain(`[t${i}] stdout | ran ${i}`);

    const listing = haskellStrip(referenceListing(s.work, ["d"])!);
    const raw = readFileSync(join(s.work, "big-raw"), "utf8");
    for (let i = 0; i < 6; i++) {
      const saved = JSON.parse(readFileSync(join(s.dir, "state", "hash", `t${i}.hash`), "utf8"));
      expect(saved.hash === sha1Hex(`${listing}${raw}\n${i}`)).toBe(true);
    }
    // And once more: every task skipped, by the hash the service gives.
    const second = await run(s, script);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe("");
    expect(hashedHere(s)).toEqual([]);
    const logs = readdirSync(join(s.dir, "state", "builds")).flatMap((b) =>
      readdirSync(join(s.dir, "state", "builds", b, "logs")),
    );
    expect(logs.filter((l) => l === "t0.log").length).toBe(2);
  } finally {
    s.cleanup();
  }
}, 120_000);
