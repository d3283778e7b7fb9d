// One huge line (a minified bundle, an endless `\r` progress bar) reaches the
// terminal and the log whole, its bytes unchanged, and never torn by the lines
// of a task running alongside — though the runner holds it in pieces, never
// joined (src/output/lines.ts). How much memory it takes: bench/huge-line.ts.
import { test, expect, beforeAll } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary } from "./helpers/binary";
import { ended, scratch, taskrunner } from "./helpers/run";

beforeAll(ensureBinary, 120_000);

/** n bytes of every value but "\n" (so: \r, NUL, bytes that are not UTF-8), in a pattern that shifts with each block. */
function lineBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const b = (i * 31 + seed + (i >> 12)) & 0xff;
    out[i] = b === 10 ? 13 : b;
  }
  return out;
}

const sha1 = (b: Uint8Array) => new Bun.CryptoHasher("sha1").update(b).digest("hex");

/** The lines of out (split at "\n") that start with prefix, without it. */
function linesStarting(out: Uint8Array, prefix: string): Uint8Array[] {
  const p = new TextEncoder().encode(prefix);
  const found: Uint8Array[] = [];
  let start = 0;
  while (start < out.length) {
    let nl = out.indexOf(10, start);
    if (nl < 0) nl = out.length;
    const line = out.subarray(start, nl);
    if (line.length >= p.length && p.every((b, i) => line[i] === b)) found.push(line.subarray(p.length));
    start = nl + 1;
  }
  return found;
}

test("a 24 MB line and a 10 MB last line without a newline, with short lines of a parallel task around them: whole and unchanged, terminal and log", async () => {
  const s = scratch("huge-line");
  try {
    const big = lineBytes(24_000_000, 1);
    const last = lineBytes(10_000_000, 7);
    writeFileSync(join(s.work, "big"), big);
    writeFileSync(join(s.work, "last"), last);
    const script = `taskrunner -n chatty bash -c 'for i in $(seq 1 3000); do echo "short line $i"; done' &
taskrunner -n huge bash -c 'echo before; cat big; echo; cat last' ; wait`;
    const r = await ended(taskrunner(s, ["-n", "top", "bash", "-c", script], { TASKRUNNER_DISABLE_TIMESTAMPS: "1" }));
    expect(r.code).toBe(0);
    const huge = linesStarting(r.stdout, "[huge] stdout | ");
    expect(huge.length).toBe(3);
    expect(new TextDecoder().decode(huge[0])).toBe("before");
    expect(huge[1].length).toBe(big.length);
    expect(sha1(huge[1])).toBe(sha1(big));
    expect(sha1(huge[2])).toBe(sha1(last));
    // Every line of the parallel task whole: none torn by the huge ones.
    const chatty = linesStarting(r.stdout, "[chatty] stdout | ").map((l) => new TextDecoder().decode(l));
    expect(chatty).toEqual(Array.from({ length: 3000 }, (_, i) => `short line ${i + 1}`));
    const builds = join(s.dir, "state", "builds");
    const [build] = readdirSync(builds);
    const log = new Uint8Array(readFileSync(join(builds, build, "logs", "huge.log")));
    const logged = linesStarting(log, "stdout | ");
    expect(logged.length).toBe(3);
    expect(sha1(logged[1])).toBe(sha1(big));
    expect(sha1(logged[2])).toBe(sha1(last));
  } finally {
    s.cleanup();
  }
}, 120_000);

test("quiet mode: a failed task's held-back huge line is printed whole", async () => {
  const s = scratch("huge-line");
  try {
    const big = lineBytes(5_000_000, 3);
    writeFileSync(join(s.work, "big"), big);
    const r = await ended(
      taskrunner(s, ["-n", "q", "bash", "-c", "cat big; echo; exit 3"], {
        TASKRUNNER_DISABLE_TIMESTAMPS: "1",
        TASKRUNNER_QUIET: "1",
      }),
    );
    expect(r.code).toBe(3);
    const lines = linesStarting(r.stdout, "[q] stdout | ");
    expect(lines.length).toBe(1);
    expect(sha1(lines[0])).toBe(sha1(big));
  } finally {
    s.cleanup();
  }
}, 60_000);
