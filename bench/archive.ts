// bun bench/archive.ts [runs] [dir]: saving and restoring a 200 MB output
// tree through the directory store, against `tar -cf - | zstd -3` and
// `zstd -dc | tar -xf -` on the same tree in the same run. Each of our
// operations runs in a child process (as in a real build), which reports its
// time, CPU and peak RSS. Medians of a few runs; targets: ≥ 0.7× the CLI's
// throughput both ways, peak RSS < 200 MB.
//
// On a VM the file system's cost varies a lot from run to run (and it is most
// of a restore), so the CPU time (user + system) is shown too; `dir` (e.g.
// /dev/shm) runs it all on tmpfs, which takes the disk out of the picture.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync, statSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { median, scratchDir } from "./lib";

const MB = 1024 * 1024;

if (process.argv[2] === "--child") {
  await child(process.argv[3] as "save" | "restore", process.argv[4], process.argv[5], process.argv[6]);
  process.exit(0);
}

/** One operation, measured from before the cache module is imported (its lazy imports count). */
async function child(op: "save" | "restore", root: string, store: string, buildDir: string): Promise<void> {
  const t = performance.now();
  const { openRemoteCache } = await import("../src/cache/index");
  const { loadConfig } = await import("../src/config");
  const log = { warn: (m: string) => console.error(m), debug() {} };
  const cache = openRemoteCache(loadConfig({ TASKRUNNER_REMOTE_CACHE_DIR: store }, root), log, buildDir)!;
  const r =
    op === "save"
      ? await cache.saveArchive("bench.tar.zst", root, ["out"])
      : await cache.restoreArchive("bench.tar.zst", root);
  if (r.kind !== (op === "save" ? "saved" : "restored")) throw new Error(JSON.stringify(r));
  const ru = process.resourceUsage();
  console.log(
    JSON.stringify({ ms: performance.now() - t, rssKb: ru.maxRSS, cpuMs: (ru.userCPUTime + ru.systemCPUTime) / 1000 }),
  );
}

/** 100 MB of random bytes in 40 files, 100 MB of text-like bytes in 2000 files over 20 directories. */
function makeTree(root: string): number {
  mkdirSync(join(root, "out/bin"), { recursive: true });
  for (let i = 0; i < 40; i++) writeFileSync(join(root, `out/bin/blob${i}.bin`), randomBytes(2.5 * MB));
  const words =
    "const function return import export default module require value index length string number object".split(" ");
  for (let d = 0; d < 20; d++) {
    mkdirSync(join(root, `out/src/d${d}`), { recursive: true });
    for (let i = 0; i < 100; i++) {
      const parts: string[] = [];
      let size = 0;
      for (let n = 0; size < 50 * 1024; n++) {
        const w = `${words[(n * 7 + i * 13 + d) % words.length]}${n % 11 === 0 ? (n * i) % 9973 : ""}${n % 13 === 0 ? ";\n" : " "}`;
        parts.push(w);
        size += w.length;
      }
      writeFileSync(join(root, `out/src/d${d}/f${i}.js`), parts.join(""));
    }
  }
  return treeBytes(join(root, "out"));
}

function treeBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true }))
    n += e.isDirectory() ? treeBytes(join(dir, e.name)) : statSync(join(dir, e.name)).size;
  return n;
}

type Measure = { ms: number; rssKb: number | null; cpuMs: number | null };

function sh(script: string): Measure {
  const timeBin = "/usr/bin/time";
  const useTime = (() => {
    try {
      return statSync(timeBin).isFile();
    } catch {
      return false;
    }
  })();
  const argv = useTime ? [timeBin, "-f", "%M %U %S", "sh", "-c", script] : ["sh", "-c", script];
  const t = performance.now();
  const p = Bun.spawnSync(argv, { stderr: "pipe" });
  const ms = performance.now() - t;
  if (!p.success) throw new Error(`${script}: ${p.stderr}`);
  const [rss, user, sys] = useTime
    ? p.stderr.toString().trim().split("\n").pop()!.split(" ").map(Number)
    : [NaN, NaN, NaN];
  return {
    ms,
    rssKb: Number.isFinite(rss) ? rss : null,
    cpuMs: Number.isFinite(user + sys) ? (user + sys) * 1000 : null,
  };
}

function ours(op: "save" | "restore", root: string, store: string, buildDir: string): Measure {
  const p = Bun.spawnSync([process.execPath, import.meta.path, "--child", op, root, store, buildDir], {
    stderr: "pipe",
  });
  if (!p.success) throw new Error(`${op}: ${p.stderr}`);
  return JSON.parse(p.stdout.toString());
}

const runs = Number(process.argv[2] ?? 5);
const hasZstd = Bun.spawnSync(["sh", "-c", "command -v zstd"]).exitCode === 0;
const dir = process.argv[3] ? mkdtempSync(join(process.argv[3], "bench-archive-")) : scratchDir("archive");
try {
  const src = join(dir, "src");
  const bytes = makeTree(src);
  const store = join(dir, "store");
  mkdirSync(store);
  const dest = join(dir, "dest");
  const cliArchive = join(dir, "cli.tar.zst");
  const results: Record<string, Measure[]> = { "ours save": [], "ours restore": [], "cli save": [], "cli restore": [] };
  for (let i = 0; i < runs; i++) {
    // Alternate who goes first, so neither always meets a colder page cache.
    const pairs: [string, () => Measure][] = [
      ["ours save", () => ours("save", src, store, join(dir, `build-${i}`))],
      ["cli save", () => sh(`tar -C '${src}' -cf - out | zstd -3 -q -f -o '${cliArchive}'`)],
    ];
    const restores: [string, () => Measure][] = [
      ["ours restore", () => ours("restore", dest, store, join(dir, `build-${i}`))],
      ["cli restore", () => sh(`mkdir -p '${dest}' && zstd -dcq '${cliArchive}' | tar -C '${dest}' -xf -`)],
    ];
    if (!hasZstd) pairs.pop(), restores.pop();
    // Before each measurement, flush what the previous one wrote (untimed):
    // otherwise its writeback, or the discards of a deleted tree, land in
    // whoever runs next. Restores go to a fresh directory, deleted at the end.
    for (const [name, run] of i % 2 ? pairs.reverse() : pairs) {
      Bun.spawnSync(["sync"]);
      results[name].push(run());
    }
    for (const [name, run] of i % 2 ? restores.reverse() : restores) {
      Bun.spawnSync(["sync"]);
      results[name].push(run());
      renameSync(dest, join(dir, `restored-${name.replace(" ", "-")}-${i}`));
    }
  }
  const archived = statSync(join(store, "taskrunner/bundles/bench.tar.zst")).size;
  console.log(
    `tree: ${(bytes / MB).toFixed(0)} MB in 2040 files (half random, half text) under ${dir}; our archive ${(archived / MB).toFixed(1)} MB; median of ${runs} runs`,
  );
  const mbps = (name: string) => bytes / MB / (median(results[name].map((r) => r.ms)) / 1000);
  const cpu = (name: string) => {
    const ms = results[name].map((r) => r.cpuMs).filter((x): x is number => x !== null);
    return ms.length ? `CPU ${median(ms).toFixed(0)} ms` : "CPU n/a";
  };
  const peak = (name: string) => {
    const kb = results[name].map((r) => r.rssKb).filter((x): x is number => x !== null);
    return kb.length ? `${(Math.max(...kb) / 1024).toFixed(0)} MB` : "n/a";
  };
  for (const op of ["save", "restore"]) {
    const o = mbps(`ours ${op}`);
    const line = `${op.padEnd(8)} ours ${o.toFixed(0).padStart(4)} MB/s (${median(results[`ours ${op}`].map((r) => r.ms)).toFixed(0)} ms, ${cpu(`ours ${op}`)}, peak RSS ${peak(`ours ${op}`)})`;
    if (!hasZstd) {
      console.log(`${line}   cli: zstd CLI not installed, no comparison`);
      continue;
    }
    const c = mbps(`cli ${op}`);
    const ratio = o / c;
    console.log(
      `${line}\n${"".padEnd(8)} cli  ${c.toFixed(0).padStart(4)} MB/s (${median(results[`cli ${op}`].map((r) => r.ms)).toFixed(0)} ms, ${cpu(`cli ${op}`)}, peak RSS ${peak(`cli ${op}`)})   ours/cli ${ratio.toFixed(2)}× ${ratio >= 0.7 ? "ok" : "BELOW the 0.7× target"}`,
    );
  }
  const worst = Math.max(...[...results["ours save"], ...results["ours restore"]].map((r) => r.rssKb ?? 0)) / 1024;
  console.log(`peak RSS of ours: ${worst.toFixed(0)} MB ${worst < 200 ? "ok" : "ABOVE the 200 MB target"}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
