// `taskrunner --prune-cache` on a real directory store filled by real builds,
// with the compiled binary: by age, by size in least-recently-used order (a
// restore marks an archive as used), a restore in progress while its archive
// is removed, a fuzzy-cache pointer left naming a removed archive, sidecars
// and temporary files, bad option values, an empty and a missing store.
import { beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { BINARY, ensureBinary } from "./helpers/binary";
import { ended, endedText, INPUT_HASH, inputRepo, runToEnd, taskrunner, type Scratch } from "./helpers/run";
import { sh } from "./fakes/git-repo";
import { formatBytes } from "../src/sys/units";

beforeAll(ensureBinary, 120_000);

const DAY = 86_400_000;
const archive = (job: string, hash = INPUT_HASH) => `${job}-${hash}.tar.zst`;

interface Store {
  dir: string;
  bundles: string;
  env: Record<string, string>;
}

function directoryStore(s: Scratch): Store {
  const dir = join(s.dir, "remote");
  mkdirSync(dir);
  return { dir, bundles: join(dir, "taskrunner", "bundles"), env: { TASKRUNNER_REMOTE_CACHE_DIR: dir } };
}

/** Job `job` saves out-<job>/blob (`size` random bytes) to the store, then its outputs and local hash are gone. */
async function saved(s: Scratch, store: Store, job: string, size: number): Promise<void> {
  const build = `snapshot input.txt -o out-${job}; mkdir -p out-${job}; head -c ${size} /dev/urandom > out-${job}/blob`;
  const r = await runToEnd(s, ["-n", job, "bash", "-c", build], { ...store.env, TASKRUNNER_SAVE_REMOTE_CACHE: "1" });
  expect(r.code).toBe(0);
  sh(s.work, `rm -rf out-${job} "$0/state/hash/${job}.hash"`.replace("$0", s.dir));
}

/** Sets both times of a file to `days` ago: it was written then and not read since. */
function lastUsed(path: string | Buffer, days: number): void {
  const t = new Date(Date.now() - days * DAY);
  utimesSync(path, t, t);
}

/** `taskrunner --prune-cache ARGS`; stdout as Latin-1 text, so that each byte of a name is one character. */
async function prune(s: Scratch, store: Store | null, args: string[], env: Record<string, string> = {}) {
  const r = await ended(taskrunner(s, ["--prune-cache", ...args], { ...(store?.env ?? {}), ...env }));
  return { stdout: Buffer.from(r.stdout).toString("latin1"), stderr: r.stderr, code: r.code };
}

function files(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir, { encoding: "latin1" }).sort() : [];
}

test("by age: archives unused for over --max-age go with their sidecars; stale temporaries and orphan sidecars go; the rest stays", async () => {
  const s = inputRepo("prune-age");
  try {
    const store = directoryStore(s);
    for (const job of ["old", "older", "recent"]) await saved(s, store, job, 20_000);
    const b = store.bundles;
    const at = (name: string) => join(b, name);
    writeFileSync(at(`${archive("old")}.sig`), "signature");
    writeFileSync(at("README"), "not an archive: left alone");
    writeFileSync(at("gone-1.tar.zst.sig"), "an orphan, over an hour old...");
    writeFileSync(at("fresh-1.tar.zst.sig"), "an orphan just written: its archive may be on its way");
    writeFileSync(at(`${archive("recent")}.tmp-123-0123abcd`), "a write in progress");
    writeFileSync(at(`${archive("old")}.tmp-456-89abcdef`), "a write whose writer is gone");
    // A name that is not UTF-8 (Latin-1 "café"), from another tool's build: found and removed like any other.
    const cafe = Buffer.from(at(`caf\xe9-${INPUT_HASH}.tar.zst`), "latin1");
    writeFileSync(cafe, "x".repeat(100));
    lastUsed(at(archive("old")), 40);
    lastUsed(at(`${archive("old")}.sig`), 40);
    lastUsed(at(archive("older")), 50);
    lastUsed(cafe, 45);
    lastUsed(at("gone-1.tar.zst.sig"), 2);
    utimesSync(at(`${archive("old")}.tmp-456-89abcdef`), new Date(), new Date(Date.now() - 3 * 3600_000));
    lastUsed(at(archive("recent")), 1);
    const size = (name: string) => statSync(at(name)).size;
    const [old, older, recent] = [size(archive("old")), size(archive("older")), size(archive("recent"))];
    const latest = join(store.dir, "taskrunner", "latest");
    mkdirSync(latest);
    writeFileSync(join(latest, "old-main.txt"), INPUT_HASH);

    const r = await prune(s, store, ["--max-age", "30"]);
    expect(r).toEqual({
      stdout: [
        `removed taskrunner/bundles/${archive("older")}: ${formatBytes(older)}, last used 50 days ago (--max-age 30)`,
        `removed taskrunner/bundles/caf\xe9-${INPUT_HASH}.tar.zst: 100 B, last used 45 days ago (--max-age 30)`,
        `removed taskrunner/bundles/${archive("old")} (+ .sig): ${formatBytes(old + 9)}, last used 40 days ago (--max-age 30)`,
        `removed taskrunner/bundles/${archive("old")}.tmp-456-89abcdef: 28 B, a temporary file its writer left, untouched for 3 hours`,
        "removed taskrunner/bundles/gone-1.tar.zst.sig: 30 B, a sidecar whose archive is gone, untouched for 2 days",
        `pruned ${b}: removed 3 archives and 2 other files, freed ${formatBytes(older + 100 + old + 9 + 28 + 30)}; kept 1 archive, ${formatBytes(recent)}`,
        "",
      ].join("\n"),
      stderr: "",
      code: 0,
    });
    expect(files(b)).toEqual(
      ["README", archive("recent"), `${archive("recent")}.tmp-123-0123abcd`, "fresh-1.tar.zst.sig"].sort(),
    );
    expect(files(latest)).toEqual(["old-main.txt"]);
    // Nothing more to do: a second run says so.
    expect(await prune(s, store, ["--max-age", "30"])).toEqual({
      stdout: `pruned ${b}: nothing to remove; kept 1 archive, ${formatBytes(recent)}\n`,
      stderr: "",
      code: 0,
    });
  } finally {
    s.cleanup();
  }
});

test("by size: the least recently used go first, and a restore counts as a use (without changing the archive's bytes or mtime)", async () => {
  const s = inputRepo("prune-size");
  try {
    const store = directoryStore(s);
    const sizes = { a: 300_000, b: 200_000, c: 100_000 };
    for (const [job, size] of Object.entries(sizes)) await saved(s, store, job, size);
    const at = (job: string) => join(store.bundles, archive(job));
    lastUsed(at("a"), 10);
    lastUsed(at("b"), 5);
    lastUsed(at("c"), 1);
    const before = { bytes: readFileSync(at("a")), mtimeMs: statSync(at("a")).mtimeMs };
    // a, the oldest, is restored by a build: used now.
    const restored = await endedText(
      taskrunner(s, ["-n", "a", "bash", "-c", "snapshot input.txt -o out-a; echo ran instead of restoring"], store.env),
    );
    expect(restored).toMatchObject({ stdout: "", stderr: "", code: 0 });
    expect(existsSync(join(s.work, "out-a", "blob"))).toBe(true);
    const after = statSync(at("a"));
    expect(readFileSync(at("a")).equals(before.bytes)).toBe(true);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(Date.now() - after.atimeMs).toBeLessThan(DAY);

    // Room for a and c, not b: b goes (least recently used), c stays although older than a's write.
    const sizeOf = Object.fromEntries(["a", "b", "c"].map((job) => [job, statSync(at(job)).size]));
    const size = (job: string) => sizeOf[job];
    const budget = size("a") + size("c") + 100;
    const r = await prune(s, store, ["--max-size", String(budget)]);
    expect(r).toEqual({
      stdout: [
        `removed taskrunner/bundles/${archive("b")}: ${formatBytes(size("b"))}, last used 5 days ago (least recently used, --max-size ${budget})`,
        `pruned ${store.bundles}: removed 1 archive, freed ${formatBytes(size("b"))}; kept 2 archives, ${formatBytes(budget - 100)}`,
        "",
      ].join("\n"),
      stderr: "",
      code: 0,
    });
    expect(files(store.bundles)).toEqual([archive("a"), archive("c")]);
    // Under a smaller budget c goes before a, and a whole zero empties the store.
    const smaller = await prune(s, store, ["--max-size", "300K"]);
    expect(smaller.stdout.split("\n")[0]).toStartWith(`removed taskrunner/bundles/${archive("c")}: `);
    expect(files(store.bundles)).toEqual([archive("a")]);
    expect((await prune(s, store, ["--max-size", "0"])).code).toBe(0);
    expect(files(store.bundles)).toEqual([]);
  } finally {
    s.cleanup();
  }
});

/** Whether process pid has path open (Linux: /proc/<pid>/fd); `path (deleted)` once it is unlinked. */
function holds(pid: number, path: string): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === path;
      } catch {
        return false; // closed meanwhile
      }
    });
  } catch {
    return false; // the process is gone
  }
}

/**
 * Freezes p (SIGSTOP) at a moment it has path open and has marked it as used
 * (its atime moved to now, just after opening): true when caught, false when
 * it ended first.
 */
async function stopWhileOpen(p: ReturnType<typeof taskrunner>, path: string): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  const marked = () => Date.now() - (statSync(path, { throwIfNoEntry: false })?.atimeMs ?? 0) < 3600_000;
  while (Date.now() < deadline && p.exitCode === null) {
    if (holds(p.pid, path) && marked()) {
      p.kill("SIGSTOP");
      if (holds(p.pid, path)) return true;
      p.kill("SIGCONT");
      return false;
    }
    await Bun.sleep(1);
  }
  return false;
}

test("a restore in progress survives a prune that removes its archive: it reads on from the descriptor it opened", async () => {
  const s = inputRepo("prune-in-progress");
  try {
    const store = directoryStore(s);
    // Many small files, then a big one: the archive stays open while the small files are created.
    const build = `snapshot input.txt -o out; mkdir -p out/small; for i in $(seq 3000); do echo $i > out/small/f$i; done
      head -c 30000000 /dev/urandom > out/z-blob`;
    expect(
      (await runToEnd(s, ["-n", "big", "bash", "-c", build], { ...store.env, TASKRUNNER_SAVE_REMOTE_CACHE: "1" })).code,
    ).toBe(0);
    const blob = readFileSync(join(s.work, "out", "z-blob"));
    const path = join(store.bundles, archive("big"));
    const archiveSize = statSync(path).size;
    lastUsed(path, 10);
    const forget = () => sh(s.work, `rm -rf out "${s.dir}/state/hash"`);
    forget();
    const restoreOnly = [
      "-n",
      "big",
      "bash",
      "-c",
      `snapshot input.txt -o out; mkdir -p out; echo "ran instead of restoring"`,
    ];

    // The moment is caught, not timed: a restore that ended before it was seen is tried again.
    let p = taskrunner(s, restoreOnly, store.env);
    for (let attempt = 1; !(await stopWhileOpen(p, path)); attempt++) {
      expect((await endedText(p)).code).toBe(0);
      console.error(`attempt ${attempt} missed`);
      if (attempt === 5) throw new Error("never caught the restore with its archive open in 5 attempts");
      forget();
      p = taskrunner(s, restoreOnly, store.env);
    }
    try {
      // Opening it marked it as used: by age it stays.
      expect(await prune(s, store, ["--max-age", "1"])).toEqual({
        stdout: `pruned ${store.bundles}: nothing to remove; kept 1 archive, ${formatBytes(archiveSize)}\n`,
        stderr: "",
        code: 0,
      });
      const r = await prune(s, store, ["--max-size", "0"]);
      expect(r.stdout).toBe(
        `removed taskrunner/bundles/${archive("big")}: ${formatBytes(archiveSize)}, last used under a minute ago (least recently used, --max-size 0)\n` +
          `pruned ${store.bundles}: removed 1 archive, freed ${formatBytes(archiveSize)}; kept 0 archives, 0 B\n`,
      );
      expect(existsSync(path)).toBe(false);
      expect(holds(p.pid, `${path} (deleted)`)).toBe(true);
    } finally {
      p.kill("SIGCONT");
    }
    // Restored whole, not run.
    expect(await endedText(p)).toEqual({ stdout: "", stderr: "", code: 0 });
    expect(readFileSync(join(s.work, "out", "z-blob")).equals(blob)).toBe(true);
    expect(readdirSync(join(s.work, "out", "small"))).toHaveLength(3000);
    // The next restore is a plain miss: the task runs.
    forget();
    expect(await endedText(taskrunner(s, restoreOnly, store.env))).toEqual({
      stdout: "[big] stdout | ran instead of restoring\n",
      stderr: "",
      code: 0,
    });
  } finally {
    s.cleanup();
  }
}, 180_000);

test("a fuzzy-cache pointer left naming a pruned archive is a plain miss: the next branch is tried, no warning", async () => {
  const s = inputRepo("prune-pointer");
  try {
    const store = directoryStore(s);
    // Each run prints what the fuzzy cache restored (or "none"), then builds out/file from $V (a raw input).
    const build = [
      "-n",
      "f",
      "bash",
      "-c",
      `snapshot input.txt --raw "$V" -o out --fuzzy-cache; cat out/file 2>/dev/null || echo none; mkdir -p out; echo "v$V" > out/file`,
    ];
    const run = (v: string, env: Record<string, string> = {}) =>
      endedText(taskrunner(s, build, { ...store.env, V: v, ...env }));
    sh(s.work, "git checkout -q -b other");
    expect(await run("1", { TASKRUNNER_SAVE_REMOTE_CACHE: "1" })).toMatchObject({
      stdout: "[f] stdout | none\n",
      code: 0,
    });
    sh(s.work, "git checkout -q -b feature");
    expect(await run("2", { TASKRUNNER_SAVE_REMOTE_CACHE: "1" })).toMatchObject({
      stdout: "[f] stdout | v1\n",
      code: 0,
    });
    const latest = join(store.dir, "taskrunner", "latest");
    const featureHash = readFileSync(join(latest, "f-feature.txt"), "utf8").trim();
    // feature's archive is old and goes; other's stays.
    lastUsed(join(store.bundles, archive("f", featureHash)), 10);
    const pruned = await prune(s, store, ["--max-age", "5"]);
    expect(pruned.stdout).toStartWith(`removed taskrunner/bundles/${archive("f", featureHash)}: `);
    expect(files(latest)).toEqual(["f-feature.txt", "f-other.txt"]);

    sh(s.work, "rm -r out");
    // feature's pointer names nothing now: a miss; other's archive is restored.
    expect(await run("3", { TASKRUNNER_FALLBACK_BRANCHES: "other" })).toEqual({
      stdout: "[f] stdout | v1\n",
      stderr: "",
      code: 0,
    });
    sh(s.work, "rm -r out");
    // With no other branch to try, the task runs as on any miss.
    expect(await run("4")).toEqual({ stdout: "[f] stdout | none\n", stderr: "", code: 0 });
    // What the log says about it: the missing archive, at debug level.
    const debug = await run("5", { TASKRUNNER_DEBUG: "1" });
    expect(debug.stderr).toContain(
      `[f] debug | No remote cache archive at ${join(store.bundles, archive("f", featureHash))}\n`,
    );
    expect(debug.stderr).not.toContain("warn");
  } finally {
    s.cleanup();
  }
});

describe("what cannot be pruned is one line on stderr", () => {
  const USAGE = "usage: taskrunner --prune-cache [--max-age DAYS] [--max-size SIZE] (see --help)";

  test("bad option values: exit 2, nothing removed", async () => {
    const s = inputRepo("prune-usage");
    try {
      const store = directoryStore(s);
      await saved(s, store, "job", 1000);
      lastUsed(join(store.bundles, archive("job")), 100);
      const cases: [string[], string][] = [
        [["--prune-cache"], "--prune-cache needs --max-age DAYS, --max-size SIZE or both"],
        [
          ["--prune-cache", "--max-age", "soon"],
          '--max-age "soon" is not a number of days (e.g. 30, or 0.5 for 12 hours)',
        ],
        [["--prune-cache", "--max-age=-3"], '--max-age "-3" is not a number of days (e.g. 30, or 0.5 for 12 hours)'],
        [["--prune-cache", "--max-age", ""], '--max-age "" is not a number of days (e.g. 30, or 0.5 for 12 hours)'],
        [
          ["--prune-cache", "--max-size", "20X"],
          '--max-size "20X" is not a size (bytes, or a number with K, M, G or T: 500M, 20G)',
        ],
        [
          ["--prune-cache", "--max-size", "1e9"],
          '--max-size "1e9" is not a size (bytes, or a number with K, M, G or T: 500M, 20G)',
        ],
        [["--prune-cache", "--max-size"], "option --max-size needs a value: --max-size SIZE"],
        [["--max-age", "30"], "--max-age goes with --prune-cache"],
        [["--max-size", "1G", "true"], "--max-size goes with --prune-cache"],
        [["--prune-cache", "--max-age", "30", "echo", "hi"], '--prune-cache takes no command (found "echo")'],
        [["-n", "x", "--prune-cache", "--max-age", "30"], "--prune-cache takes no task options (-n, -f)"],
      ];
      for (const [args, message] of cases) {
        const r = await endedText(taskrunner(s, args, store.env));
        expect({ args, ...r }).toEqual({ args, stdout: "", stderr: `taskrunner: ${message}; ${USAGE}\n`, code: 2 });
      }
      expect(files(store.bundles)).toEqual([archive("job")]);
      // The accepted spellings of a size, each leaving the small archive (a few hundred bytes) in place.
      for (const size of ["1048576", "500M", "20G", "1.5g", "2KiB", "1T", "300kb"]) {
        expect({ size, ...(await prune(s, store, ["--max-size", size])) }).toMatchObject({ size, code: 0, stderr: "" });
      }
      expect(files(store.bundles)).toEqual([archive("job")]);
    } finally {
      s.cleanup();
    }
  });

  test("no directory store, a bucket only, a missing directory; an empty store has nothing to remove", async () => {
    const s = inputRepo("prune-missing");
    try {
      expect(await prune(s, null, ["--max-age", "1"])).toEqual({
        stdout: "",
        stderr: "taskrunner: --prune-cache needs a directory store: set TASKRUNNER_REMOTE_CACHE_DIR\n",
        code: 2,
      });
      expect(await prune(s, null, ["--max-age", "1"], { TASKRUNNER_REMOTE_CACHE_BUCKET: "ci-cache" })).toEqual({
        stdout: "",
        stderr:
          "taskrunner: --prune-cache prunes a directory store (TASKRUNNER_REMOTE_CACHE_DIR), not the bucket s3://ci-cache: " +
          "give the bucket a lifecycle rule instead (docs/guides/cache-retention.md)\n",
        code: 2,
      });
      const missing = join(s.dir, "unmounted");
      expect(await prune(s, null, ["--max-age", "1"], { TASKRUNNER_REMOTE_CACHE_DIR: missing })).toEqual({
        stdout: "",
        stderr: `taskrunner: cannot prune ${missing}: no such directory (TASKRUNNER_REMOTE_CACHE_DIR must name an existing directory: is it mounted?)\n`,
        code: 1,
      });
      expect(existsSync(missing)).toBe(false);
      const store = directoryStore(s);
      expect(await prune(s, store, ["--max-age", "0", "--max-size", "0"])).toEqual({
        stdout: `pruned ${store.bundles}: nothing to remove; kept 0 archives, 0 B\n`,
        stderr: "",
        code: 0,
      });
      // Another prefix is another bundles folder.
      expect(await prune(s, store, ["--max-age", "1"], { TASKRUNNER_REMOTE_CACHE_PREFIX: "team-a/" })).toMatchObject({
        stdout: `pruned ${join(store.dir, "team-a", "bundles")}: nothing to remove; kept 0 archives, 0 B\n`,
        code: 0,
      });
      expect(
        (await prune(s, store, ["--max-age", "1"], { TASKRUNNER_REMOTE_CACHE_PREFIX: "../elsewhere/" })).stderr,
      ).toBe(`taskrunner: TASKRUNNER_REMOTE_CACHE_PREFIX="../elsewhere/" leaves the cache directory ${store.dir}\n`);
    } finally {
      s.cleanup();
    }
  });

  test("an archive the user may not remove: one line naming it, exit 1, the rest pruned", async () => {
    const s = inputRepo("prune-denied");
    try {
      const store = directoryStore(s);
      for (const job of ["mine", "theirs"]) await saved(s, store, job, 1000);
      // theirs sits in a folder below bundles that only root may write to, and another that only root may read;
      // the pruning user owns the rest.
      const locked = join(store.bundles, "locked");
      const hidden = join(store.bundles, "hidden");
      mkdirSync(locked);
      mkdirSync(hidden);
      sh(
        s.work,
        `mv "${join(store.bundles, archive("theirs"))}" "${locked}/" && echo x > "${hidden}/${archive("unseen")}"`,
      );
      for (const path of [
        join(store.bundles, archive("mine")),
        join(locked, archive("theirs")),
        join(hidden, archive("unseen")),
      ])
        lastUsed(path, 10);
      sh(
        s.work,
        `chmod 755 "${s.dir}" "${s.work}" && chown -R 65534:65534 "${store.dir}" && chown -R root:root "${locked}" "${hidden}"`,
      );
      chmodSync(locked, 0o755);
      chmodSync(hidden, 0o700);
      const asNobody = Bun.spawn(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", BINARY, "--prune-cache", "--max-age", "1"],
        { env: { TASKRUNNER_REMOTE_CACHE_DIR: store.dir }, stdout: "pipe", stderr: "pipe", cwd: "/" },
      );
      const r = await ended(asNobody);
      const stdout = new TextDecoder().decode(r.stdout);
      expect(r.stderr).toBe(
        `taskrunner: cannot read ${hidden}: permission denied (EACCES); the archives in it were not pruned\n` +
          `taskrunner: cannot remove ${join(locked, archive("theirs"))}: permission denied (EACCES)\n`,
      );
      expect(stdout).toStartWith(`removed taskrunner/bundles/${archive("mine")}: `);
      expect(stdout).toContain(": removed 1 archive, freed ");
      expect(r.code).toBe(1);
      expect(files(locked)).toEqual([archive("theirs")]);
      expect(files(hidden)).toEqual([archive("unseen")]);
    } finally {
      s.cleanup();
    }
  });
});
