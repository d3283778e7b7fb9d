// The pure parts of --prune-cache: the option values, the order archives go
// in, and the units the report prints.
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCommandLine } from "../../src/cli";
import { planPrune } from "../../src/cache/prune-plan";
import { scanBundles, type ArchiveEntry } from "../../src/cache/prune-scan";
import { formatAge, formatBytes, parseDays, parseSize } from "../../src/sys/units";

describe("option values", () => {
  test("sizes: bytes, or K/M/G/T in powers of 1024 with an optional B or iB, any case", () => {
    const sizes: [string, number | null][] = [
      ["0", 0],
      ["1048576", 1048576],
      ["500M", 500 * 2 ** 20],
      ["20G", 20 * 2 ** 30],
      ["1.5g", 1.5 * 2 ** 30],
      ["2KiB", 2048],
      ["300kb", 300 * 1024],
      ["1T", 2 ** 40],
      ["10B", 10],
      ["", null],
      ["20X", null],
      ["-1", null],
      ["1e9", null],
      ["5iB", null],
      ["1,5G", null],
      [" 5M", null],
      ["M", null],
    ];
    for (const [text, bytes] of sizes) expect({ text, bytes: parseSize(text) }).toEqual({ text, bytes });
  });
  test("days: a plain decimal, never negative", () => {
    expect([parseDays("30"), parseDays("0.5"), parseDays("0")]).toEqual([30, 0.5, 0]);
    for (const bad of ["", "-1", "+7", "1e3", "soon", "7d", ".5"]) expect(parseDays(bad)).toBeNull();
  });
  test("the command line: --prune-cache with its limits, in every spelling", async () => {
    expect(await parseCommandLine(["--prune-cache", "--max-age", "30", "--max-size=20G"])).toEqual({
      kind: "prune-cache",
      maxAge: { days: 30, text: "30" },
      maxSize: { bytes: 20 * 2 ** 30, text: "20G" },
    });
    expect(await parseCommandLine(["--max-size", "1M", "--prune-cache"])).toEqual({
      kind: "prune-cache",
      maxAge: null,
      maxSize: { bytes: 2 ** 20, text: "1M" },
    });
    // Spellings citty parses (one word is not a plain one).
    expect(await parseCommandLine(["--prune-cache=true", "--max-age", "1"])).toMatchObject({
      kind: "prune-cache",
      maxAge: { days: 1 },
    });
    expect(await parseCommandLine(["--no-prune-cache", "--max-age", "1"])).toMatchObject({
      kind: "usage-error",
      message: "--max-age goes with --prune-cache",
    });
    expect(await parseCommandLine(["--prune-cache", "--max-age", "1", "--bogus"])).toMatchObject({
      kind: "usage-error",
      message: 'unknown option "--bogus" (options go before CMD)',
    });
    // A task named like an option's value is still a task.
    expect(await parseCommandLine(["prune-cache"])).toMatchObject({ kind: "run", name: "prune-cache" });
    expect(await parseCommandLine(["--", "--prune-cache"])).toMatchObject({ kind: "run", cmd: "--prune-cache" });
  });
});

describe("which archives go", () => {
  const DAY = 86_400_000;
  const now = 1_000 * DAY;
  const entry = (name: string, daysAgo: number, size: number): ArchiveEntry => ({
    file: { path: Buffer.from(`/s/b/${name}`), key: Buffer.from(`b/${name}`), size, atimeMs: 0, mtimeMs: 0, ino: 1 },
    sidecars: [],
    size,
    lastUsed: now - daysAgo * DAY,
  });
  const names = (list: ArchiveEntry[]) => list.map((a) => a.file.key.toString().slice(2));

  test("over --max-age first (strictly over), the rest least recently used first, ties by key", () => {
    const archives = [entry("c", 1, 10), entry("a", 31, 10), entry("b", 30, 10), entry("e", 5, 10), entry("d", 5, 10)];
    const plan = planPrune(archives, { maxAge: { days: 30, text: "30" }, maxSize: null }, now);
    expect(names(plan.expired)).toEqual(["a"]);
    expect(names(plan.byLastUse)).toEqual(["b", "d", "e", "c"]);
  });
  test("without --max-age nothing is expired; --max-age 0 expires everything used before now", () => {
    const archives = [entry("a", 0, 1), entry("b", 0.001, 1)];
    expect(names(planPrune(archives, { maxAge: null, maxSize: { bytes: 0, text: "0" } }, now).expired)).toEqual([]);
    expect(names(planPrune(archives, { maxAge: { days: 0, text: "0" }, maxSize: null }, now).expired)).toEqual(["b"]);
  });
});

test("the report's units", () => {
  expect([0, 1000, 1024, 1536, 12.34 * 2 ** 20, 1.4 * 2 ** 30, 3 * 2 ** 40].map(formatBytes)).toEqual([
    "0 B",
    "1000 B",
    "1.0 KiB",
    "1.5 KiB",
    "12.3 MiB",
    "1.4 GiB",
    "3.0 TiB",
  ]);
  expect(
    [0, 59_000, 60_000, 119 * 60_000, 2 * 3600_000, 47 * 3600_000, 48 * 3600_000, 45.9 * 86_400_000].map(formatAge),
  ).toEqual([
    "under a minute",
    "under a minute",
    "1 minute",
    "119 minutes",
    "2 hours",
    "47 hours",
    "2 days",
    "45 days",
  ]);
});

test("the scan: each sidecar goes to the longest archive name it starts with; folders below bundles count; the rest is left", async () => {
  const store = mkdtempSync(join(tmpdir(), "prune-scan-"));
  try {
    const bundles = join(store, "p", "bundles");
    mkdirSync(join(bundles, "v2"), { recursive: true });
    const names = [
      "a.tar.zst",
      "a.tar.zst.sig", // a job named "a"
      "a.tar.zst.b-1.tar.zst",
      "a.tar.zst.b-1.tar.zst.sig", // a job named "a.tar.zst.b": its own archive and sidecar
      "c-2.tar.zst.sig", // no archive: an orphan
      "c-3.tar.zst.tmp-12-0123abcd", // a write in progress
      "notes.txt",
      ".nfs0000000000a1b2c300000001", // not ours to judge
      "v2/d-4.tar.zst",
    ];
    for (const name of names) writeFileSync(join(bundles, name), name);
    const scan = await scanBundles(store, bundles);
    const key = (b: Buffer) => b.toString();
    const archives = scan.archives.map((a) => [key(a.file.key), a.sidecars.map((s) => key(s.key)), a.size]).sort();
    expect(archives).toEqual([
      ["p/bundles/a.tar.zst", ["p/bundles/a.tar.zst.sig"], "a.tar.zst".length + "a.tar.zst.sig".length],
      ["p/bundles/a.tar.zst.b-1.tar.zst", ["p/bundles/a.tar.zst.b-1.tar.zst.sig"], 21 + 25],
      ["p/bundles/v2/d-4.tar.zst", [], 14],
    ]);
    expect(scan.orphans.map((f) => key(f.key))).toEqual(["p/bundles/c-2.tar.zst.sig"]);
    expect(scan.temporaries.map((f) => key(f.key))).toEqual(["p/bundles/c-3.tar.zst.tmp-12-0123abcd"]);
    expect(scan.unreadable).toEqual([]);
    // A bundles folder not made yet is an empty scan, not a fault.
    expect(await scanBundles(store, join(store, "q", "bundles"))).toEqual({
      archives: [],
      temporaries: [],
      orphans: [],
      unreadable: [],
    });
  } finally {
    rmSync(store, { recursive: true, force: true });
  }
});
