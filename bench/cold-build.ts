// bun bench/cold-build.ts [rounds]: a cold CI build (every task runs and
// uploads its cache) against the same commands in plain bash, interleaved.
// Target (issue 15): ≤ 1.03× plain bash, saving to the directory store and to
// S3 (s3rver on 127.0.0.1, in this process).
//
// The build, four tasks in a row as a CI script would have them: `install`
// copies a 2,000-file, 24 MB tree (outputs deps/), `build` concatenates and
// compresses it (outputs dist/), `lint` and `test` read it all (--cache-success,
// no outputs); ~7 s in all here, most of it single-threaded, as CI steps are. Each run has inputs never seen before (a --raw input that
// changes), so nothing is skipped or restored: what taskrunner adds is its
// own work — hashing, logs, and archiving and uploading deps/ and dist/, which
// now overlaps with the next task.
//
//   TASKRUNNER_BASELINE_BINARY=/path/to/older/taskrunner bun bench/cold-build.ts
//     also runs an older build, interleaved with the others.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, median, scratchDir } from "./lib";
import { startFakeS3 } from "../tests/fakes/s3";

const rounds = Number(process.argv[2] ?? 7);

const STEPS = [
  { name: "install", snapshot: "-o deps", run: 'rm -rf deps && cp -a "$FIXTURE" deps' },
  { name: "build", snapshot: "-o dist", run: "mkdir -p dist && find deps -type f | sort | xargs cat | gzip -9 > dist/bundle.gz && sha256sum dist/bundle.gz > dist/SUMS" },
  { name: "lint", snapshot: "--cache-success", run: "find deps -type f | sort | xargs sha1sum > /dev/null" },
  { name: "test", snapshot: "--cache-success", run: "for i in 1 2 3; do find deps -type f | sort -r | xargs cat | gzip -9 > /dev/null; done" },
];

/** 2,000 files of text-like bytes (~12 KB each) in 100 folders. */
function fixture(dir: string): void {
  const words = "const function return import export default module require value index length string number object".split(" ");
  for (let d = 0; d < 100; d++) {
    mkdirSync(join(dir, `pkg${d}/lib`), { recursive: true });
    for (let f = 0; f < 20; f++) {
      const parts: string[] = [];
      for (let n = 0, size = 0; size < 12_000; n++) {
        const w = `${words[(n * 7 + f * 13 + d) % words.length]}${n % 11 === 0 ? (n * f + d) % 9973 : ""}${n % 13 === 0 ? ";\n" : " "}`;
        parts.push(w);
        size += w.length;
      }
      writeFileSync(join(dir, `pkg${d}/lib/f${f}.js`), parts.join(""));
    }
  }
}

async function run(argv: string[], cwd: string, env: Record<string, string | undefined>): Promise<number> {
  const t = performance.now();
  const p = Bun.spawn(argv, { cwd, env, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  const ms = performance.now() - t;
  if (code !== 0 || err.includes("warn |") || err.includes("error |")) throw new Error(`${argv.join(" ")} failed (${code}):\n${out}${err}`);
  return ms;
}

const work = scratchDir("cold-build");
const s3 = await startFakeS3();
try {
  const repo = join(work, "repo");
  mkdirSync(repo);
  fixture(join(work, "fixture"));
  writeFileSync(join(repo, "plain.sh"), `set -e\n${STEPS.map((s) => s.run).join("\n")}\n`);
  writeFileSync(
    join(repo, "ci.sh"),
    `set -e\n${STEPS.map((s) => `taskrunner -n ${s.name} bash -c 'set -e; snapshot --raw "$BENCH_RUN" ${s.snapshot}; ${s.run}'`).join("\n")}\n`,
  );
  Bun.spawnSync(["git", "init", "-q"], { cwd: repo });
  const bucket = await s3.newBucket();
  mkdirSync(join(work, "store"));
  const stores: Record<string, Record<string, string>> = { "directory store": { TASKRUNNER_REMOTE_CACHE_DIR: join(work, "store") }, S3: s3.env(bucket) };

  let runs = 0;
  const env = (extra: Record<string, string>) => ({
    ...process.env,
    FIXTURE: join(work, "fixture"),
    BENCH_RUN: `run-${runs++}`,
    TASKRUNNER_STATE_DIRECTORY: join(work, `state-${runs}`),
    ...extra,
  });
  const contenders: [string, () => Promise<number>][] = [["plain bash", () => run(["bash", "plain.sh"], repo, env({}))]];
  const binaries: [string, string][] = [["taskrunner", BINARY]];
  if (process.env.TASKRUNNER_BASELINE_BINARY) binaries.push(["baseline", process.env.TASKRUNNER_BASELINE_BINARY]);
  for (const [label, bin] of binaries) {
    for (const [store, storeEnv] of Object.entries(stores)) {
      // The nested `taskrunner` calls find this binary first on PATH.
      const path = `${join(work, `bin-${label}`)}:${process.env.PATH}`;
      mkdirSync(join(work, `bin-${label}`), { recursive: true });
      Bun.spawnSync(["ln", "-sf", bin, join(work, `bin-${label}`, "taskrunner")]);
      contenders.push([`${label}, ${store}`, () => run([bin, "-n", "ci", "bash", "ci.sh"], repo, env({ ...storeEnv, PATH: path, TASKRUNNER_SAVE_REMOTE_CACHE: "1" }))]);
    }
    if (label === "taskrunner") {
      // The same without uploading: what taskrunner costs besides the cache.
      contenders.push([`${label}, no upload`, () => run([bin, "-n", "ci", "bash", "ci.sh"], repo, env({ PATH: `${join(work, `bin-${label}`)}:${process.env.PATH}` }))]);
    }
  }

  const times = new Map(contenders.map(([name]) => [name, [] as number[]]));
  for (let round = 0; round < rounds + 1; round++) {
    for (let i = 0; i < contenders.length; i++) {
      const [name, measure] = contenders[(round + i) % contenders.length];
      rmSync(join(repo, "deps"), { recursive: true, force: true });
      rmSync(join(repo, "dist"), { recursive: true, force: true });
      const ms = await measure();
      if (round > 0) times.get(name)!.push(ms); // round 0 warms up
    }
  }
  const plain = times.get("plain bash")!;
  console.log(`cold build of ${STEPS.length} tasks (2,000-file, 24 MB deps/ and its bundle uploaded): median of ${rounds} rounds, interleaved`);
  for (const [name] of contenders) {
    const t = times.get(name)!;
    // The ratio of each round's pair, then their median: steadier than a ratio of medians on a drifting machine.
    const ratios = t.map((ms, i) => ms / plain[i]);
    const r = name === "plain bash" ? "" : `   ${median(ratios).toFixed(3)}× plain bash${name.startsWith("taskrunner") ? (median(ratios) <= 1.03 ? " ok" : " ABOVE the 1.03× target") : ""}`;
    console.log(`  ${name.padEnd(30)} ${median(t).toFixed(0).padStart(6)} ms${r}`);
  }
} finally {
  await s3.stop();
  rmSync(work, { recursive: true, force: true });
}
