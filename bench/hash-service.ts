// The build's hashing service (src/toplevel/hash-service.ts) answering one
// 5,000-path request (~270 KB of JSON, a ~300 KB answer) — what a nested
// taskrunner of its own asks for a task with 5,000 file inputs. Baseline,
// measured in the same run, interleaved: the same hash computed in-process
// (hashInputs), which is the service's own work. The difference is the cost
// of the socket and the framing. Run: bun bench/hash-service.ts
import { join } from "node:path";
import { hashInputs } from "../src/hash";
import { hashViaService, serveHashing } from "../src/toplevel/hash-service";
import { sh } from "../tests/fakes/git-repo";
import { median, row, scratchDir } from "./lib";

const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const FILES = 5000;
const dir = scratchDir("hash-service");
const repo = join(dir, "repo");
const name = (i: number) => `packages/some-package/src/components/module-${String(i).padStart(5, "0")}.ts`;

console.log(`building a ${FILES}-file repository…`);
sh(
  dir,
  `mkdir -p repo/packages/some-package/src/components && cd repo && git init -q . && for i in $(seq 1 ${FILES}); do printf '%s\\n' $i > "packages/some-package/src/components/module-$(printf %05d $i).ts"; done
git add . && git -c gc.auto=0 commit -qm init && find . -path ./.git -prune -o -type f -exec touch -d '2001-02-03 04:05:06' {} + && git update-index -q --refresh`,
);

const specs = Array.from({ length: FILES }, (_, i) => name(i + 1));
const env = { HOME: process.env.HOME ?? "", PATH: process.env.PATH ?? "" };
const service = serveHashing(join(dir, "svc"), env, (m) => console.log(m));
if (!service) throw new Error("the service did not start");
const requestBytes = JSON.stringify({ cwd: repo, pathspecs: specs, raw: [] }).length;

const viaService: number[] = [];
const local: number[] = [];
const declined: string[] = [];
for (let round = 0; round < RUNS + 3; round++) {
  let t = performance.now();
  const a = await hashViaService(service.path, env, repo, specs, [], 30_000);
  const ms = performance.now() - t;
  // An older build's service may not answer at all: say so, with the time the caller lost.
  if (!("ok" in a)) declined.push(a.declined);
  t = performance.now();
  const b = await hashInputs(repo, specs, [], { env: process.env });
  const localMs = performance.now() - t;
  if ("ok" in a && (!b.ok || !a.ok || b.hash !== a.hash)) throw new Error("the service and local hashing disagree");
  if (round >= 3) {
    viaService.push(ms);
    local.push(localMs);
  }
}
service.stop();
console.log(`request ${(requestBytes / 1024).toFixed(0)} KB, ${RUNS} rounds, medians:`);
console.log(row("hashInputs in-process (baseline)", median(local)));
console.log(row(`through the service (${FILES} paths)`, median(viaService), median(local)));
console.log(row("  slowest round through the service", Math.max(...viaService)));
if (declined.length) console.log(`declined ${declined.length} of ${RUNS + 3} times, e.g.: ${declined[0]}`);
