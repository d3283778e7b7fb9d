// bun bench/verify-restore.ts [rounds]: the cost of checking a signature on
// restore (TASKRUNNER_CACHE_TRUSTED_KEYS): the same signed archive of a
// 20,000-file tree restored from a directory store with and without
// verification, interleaved (the order alternates each round), end to end
// with the compiled binary. Target (issue 22): verified ≤ 1.05× unverified.
//
// The tree is synthetic and fixed: 400 directories of 50 files of 64 B to
// 4 KiB of hex text (so that zstd and the digest have work to do): ~42 MB,
// a ~21 MB archive.
import { createHash, generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, median, scratchDir } from "./lib";

const rounds = Number(process.argv[2] ?? 11);

/** Wall time, and CPU time (user + system, in ms) of the process and its children: the latter varies less on a loaded machine. */
function run(
  argv: string[],
  cwd: string,
  env: Record<string, string | undefined>,
): { ms: number; cpu: number; out: string } {
  const t = performance.now();
  const p = Bun.spawnSync(argv, { cwd, env, stdout: "pipe", stderr: "pipe" });
  const ms = performance.now() - t;
  if (!p.success) throw new Error(`${argv.join(" ")} failed (${p.exitCode}):\n${p.stdout}${p.stderr}`);
  const { user, system } = p.resourceUsage.cpuTime;
  return { ms, cpu: Number(user + system) / 1000, out: `${p.stdout}${p.stderr}` };
}

/** Deterministic, poorly compressible text (hex of a SHA-256 chain, ~2:1 under zstd, like minified code): the same tree every run. */
function makeTree(root: string): number {
  let state = Buffer.from("bench");
  const block = () => (state = createHash("sha256").update(state).digest()).toString("hex");
  let files = 0;
  for (let d = 0; d < 400; d++) {
    const dir = join(root, `pkg${d}`, "lib");
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 50; f++) {
      const size = 64 + (state.readUInt32BE(0) % 4032);
      let text = "";
      while (text.length < size) text += block();
      writeFileSync(join(dir, `file${f}.js`), text.slice(0, size));
      files++;
    }
  }
  return files;
}

const work = scratchDir("verify-restore");
const repo = join(work, "repo");
const trash = join(work, "trash");
const store = join(work, "store");
for (const d of [repo, trash, store]) mkdirSync(d);
const { privateKey, publicKey } = generateKeyPairSync("ed25519");
writeFileSync(join(work, "main.pem"), privateKey.export({ type: "pkcs8", format: "pem" }) as string);
writeFileSync(join(work, "main.pub"), publicKey.export({ type: "spki", format: "pem" }) as string);

const populate = join(work, "populate");
writeFileSync(
  join(repo, "task.sh"),
  `snapshot input.txt -o out\n[ -e '${populate}' ] || { echo "not restored"; exit 1; }\n`,
);
writeFileSync(join(repo, "input.txt"), "bench\n");
writeFileSync(join(repo, ".gitignore"), "out/\n");
run(
  ["sh", "-c", "git init -q && git add -A && git -c user.email=b@e -c user.name=b commit -qm bench"],
  repo,
  process.env,
);
const files = makeTree(join(repo, "out"));

let states = 0;
const env = (extra: Record<string, string> = {}) => ({
  ...process.env,
  TASKRUNNER_REMOTE_CACHE_DIR: store,
  TASKRUNNER_STATE_DIRECTORY: join(work, `state-${states++}`),
  ...extra,
});
writeFileSync(populate, "");
run(
  [BINARY, "-n", "restore", "bash", "task.sh"],
  repo,
  env({ TASKRUNNER_SAVE_REMOTE_CACHE: "1", TASKRUNNER_CACHE_SIGNING_KEY: join(work, "main.pem") }),
);
let moved = 0;
const clear = () => existsSync(join(repo, "out")) && renameSync(join(repo, "out"), join(trash, `${moved++}`));
clear();
Bun.spawnSync(["rm", "-f", populate]);

const variants: [string, Record<string, string>][] = [
  ["unverified", {}],
  ["verified", { TASKRUNNER_CACHE_TRUSTED_KEYS: join(work, "main.pub") }],
];
const times = variants.map(() => [] as number[]);
const cpus = variants.map(() => [] as number[]);
const bundles = join(store, "taskrunner/bundles");
const archive = readdirSync(bundles).find((n) => n.endsWith(".tar.zst"))!;
const mb = (statSync(join(bundles, archive)).size / 1e6).toFixed(1);
console.log(`restoring ${files} files (a ${mb} MB archive), ${rounds} rounds (+1 warm-up), interleaved`);
// The work verification adds, apart from any load: the archive's SHA-256 in 1 MiB chunks, as a restore feeds it.
const bytes = readFileSync(join(bundles, archive));
const digestCpu: number[] = [];
for (let i = 0; i < 7; i++) {
  const before = process.cpuUsage();
  const h = createHash("sha256");
  for (let at = 0; at < bytes.length; at += 1 << 20) h.update(bytes.subarray(at, at + (1 << 20)));
  h.digest();
  const used = process.cpuUsage(before);
  digestCpu.push((used.user + used.system) / 1000);
}
console.log(`SHA-256 of the archive: median ${median(digestCpu).toFixed(1)} ms CPU`);
for (let round = 0; round <= rounds; round++) {
  const order = round % 2 === 0 ? [0, 1] : [1, 0];
  for (const i of order) {
    clear();
    const r = run(
      [BINARY, "-n", "restore", "bash", "task.sh"],
      repo,
      env({ TASKRUNNER_DEBUG: "1", ...variants[i][1] }),
    );
    if (!r.out.includes("Restored ")) throw new Error(`${variants[i][0]}: not restored:\n${r.out}`);
    if (i === 1 && !r.out.includes("signed by trusted key")) throw new Error(`verified: not verified:\n${r.out}`);
    if (round > 0) {
      times[i].push(r.ms);
      cpus[i].push(r.cpu);
    }
  }
}
for (const [i, [name]] of variants.entries()) {
  console.log(
    `${name.padEnd(11)} wall median ${median(times[i]).toFixed(0)} ms (${times[i].map((t) => t.toFixed(0)).join(" ")})`,
  );
  console.log(
    `${"".padEnd(11)} CPU  median ${median(cpus[i]).toFixed(0)} ms (${cpus[i].map((t) => t.toFixed(0)).join(" ")})`,
  );
}
const ratio = (xs: number[][]) => median(xs[1].map((v, k) => v / xs[0][k]));
console.log(
  `verified / unverified: wall ${(median(times[1]) / median(times[0])).toFixed(3)}× (median of the rounds' ratios ${ratio(times).toFixed(3)}×)`,
);
console.log(
  `verified / unverified: CPU  ${(median(cpus[1]) / median(cpus[0])).toFixed(3)}× (median of the rounds' ratios ${ratio(cpus).toFixed(3)}×)`,
);
// GNU rm is much faster than the exit handler's rmSync at 20,000 × 2 × rounds files.
Bun.spawnSync(["rm", "-rf", work]);
