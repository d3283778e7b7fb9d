// trace.html in a real headless browser (Debian's chromium driven by
// playwright-core): the bars are there, sized, placed by track, the hover card
// works, names are shown as text, and the page asks the network for nothing.
// Leaves a screenshot at /tmp/trace-screenshot.png (docs/trace.png, shown in docs/guides/seeing-a-build.md).
import { test, expect } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Page } from "playwright-core";
import type { Phase, TaskRecord } from "../src/trace/record";
import { traceHtml } from "../src/trace/html";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = "/tmp/trace-screenshot.png";
const haveChromium = existsSync(CHROMIUM);
const why = haveChromium ? "" : ` [SKIPPED: ${CHROMIUM} not found; CI installs it with apt-get install -y chromium]`;

const T0 = Date.UTC(2026, 2, 14, 9, 30, 0) + 0.125;
const s = (sec: number) => T0 + sec * 1000;
const ph = (name: Phase["name"], a: number, b: number): Phase => ({ name, start: s(a), end: s(b) });
const FIXTURES = `fixtures <db> & "seed"`; // must arrive as text, not markup

// A CI build: deps restored, then lint, unit and docs in parallel (unit with a
// nested task), then bundle, which fails and fails the build.
const records: TaskRecord[] = [
  {
    job: "ci",
    parent: null,
    pid: 4100,
    start: s(0),
    end: s(14.2),
    outcome: "failed",
    exitCode: 1,
    phases: [ph("run", 0, 14.2)],
  },
  {
    job: "deps",
    parent: "ci",
    pid: 4101,
    start: s(0.08),
    end: s(1.35),
    outcome: "restored-exact",
    exitCode: 0,
    phases: [ph("hash", 0.08, 0.22), ph("restore", 0.22, 1.3), ph("post-unpack", 1.3, 1.35)],
  },
  {
    job: "lint",
    parent: "ci",
    pid: 4102,
    start: s(1.4),
    end: s(6.1),
    outcome: "ran",
    exitCode: 0,
    phases: [ph("hash", 1.4, 1.55), ph("run", 1.55, 6.1)],
    explain: ["Inputs changed: .eslintrc.json"],
  },
  {
    job: "unit",
    parent: "ci",
    pid: 4103,
    start: s(1.42),
    end: s(9.8),
    outcome: "ran",
    exitCode: 0,
    phases: [ph("hash", 1.42, 1.6), ph("run", 1.6, 9.3), ph("upload", 9.3, 9.8)],
    explain: ["Inputs changed:", "  src/parser.ts", "  src/lexer.ts"],
  },
  {
    job: FIXTURES,
    parent: "unit",
    pid: 4110,
    start: s(1.9),
    end: s(2.6),
    outcome: "skipped",
    exitCode: 0,
    phases: [ph("hash", 1.9, 2.6)],
  },
  {
    job: "docs",
    parent: "ci",
    pid: 4104,
    start: s(1.45),
    end: s(3.2),
    outcome: "restored-fuzzy",
    exitCode: 0,
    phases: [ph("hash", 1.45, 1.6), ph("restore", 1.6, 3.2)],
  },
  {
    job: "bundle",
    parent: "ci",
    pid: 4105,
    start: s(9.9),
    end: s(14.1),
    outcome: "failed",
    exitCode: 2,
    phases: [ph("hash", 9.9, 10.05), ph("run", 10.05, 14.1)],
    explain: ["Inputs changed: src/parser.ts"],
  },
];

interface Box {
  job: string;
  x: number;
  y: number;
  w: number;
  h: number;
}
const boxes = (page: Page) =>
  page.$$eval(".task-bar", (els) =>
    els.map((e) => {
      const r = e.getBoundingClientRect();
      return { job: e.getAttribute("data-job")!, x: r.x, y: r.y, w: r.width, h: r.height };
    }),
  );

test.skipIf(!haveChromium)(
  `trace.html renders, places and explains every task in headless chromium${why}`,
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "trace-browser-"));
    const file = join(dir, "trace.html");
    writeFileSync(file, traceHtml("2026-03-14T09:30:00.000125Z", records));
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 600 }, deviceScaleFactor: 2 });
      const requests: string[] = [];
      const problems: string[] = [];
      page.on("request", (r) => requests.push(r.url()));
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
      });
      await page.goto(`file://${file}`);

      // One bar per task, with the right job names, and a visible size.
      const bars = await boxes(page);
      expect(bars.map((b) => b.job).sort()).toEqual(records.map((r) => r.job).sort());
      for (const b of bars) {
        expect(b.w).toBeGreaterThan(0);
        expect(b.h).toBeGreaterThan(0);
      }
      const at = Object.fromEntries(bars.map((b) => [b.job, b])) as Record<string, Box>;
      // Width follows duration: ci spans the build, bundle is ~4.2/14.2 of it.
      expect(Math.abs(at.bundle.w / at.ci.w - 4.2 / 14.2)).toBeLessThan(0.01);
      // Nested: inside its parent's time, on a lane below it.
      const inside = (c: Box, p: Box) => c.x >= p.x - 0.5 && c.x + c.w <= p.x + p.w + 0.5 && c.y > p.y;
      expect(inside(at[FIXTURES], at.unit)).toBe(true);
      expect(inside(at.deps, at.ci)).toBe(true);
      // Parallel: lint, unit and docs overlap in time, so no two share a row.
      const rows = new Set(["lint", "unit", "docs"].map((j) => at[j].y));
      expect(rows.size).toBe(3);

      // Hovering shows the card: job, outcome, exit code, phases, why it ran.
      const tip = page.locator("#tip");
      expect(await tip.isVisible()).toBe(false);
      await page.hover('.task-bar[data-job="bundle"]');
      expect(await tip.isVisible()).toBe(true);
      const card = await tip.textContent();
      for (const part of [
        "bundle",
        "failed",
        "exit code",
        "2",
        "4.20 s",
        "hash",
        "run",
        "Inputs changed: src/parser.ts",
      ])
        expect(card).toContain(part);

      // A name full of markup is shown as the text it is, in the bar and the card.
      const nasty = page.locator(".task-bar").filter({ hasText: FIXTURES });
      expect(await nasty.count()).toBe(1);
      await nasty.hover();
      expect(await tip.textContent()).toContain(FIXTURES);
      expect(await page.locator(".task-bar db, .task-bar [seed]").count()).toBe(0);

      // Keyboard users get the same card.
      await page.mouse.move(1, 1);
      await page.focus('.task-bar[data-job="lint"]');
      expect(await tip.textContent()).toContain(".eslintrc.json");

      // The docs' picture: the card of a task with phases and a reason.
      await page.locator('.task-bar[data-job="lint"]').blur();
      await page.hover('.task-bar[data-job="unit"]');
      await page.screenshot({ path: SCREENSHOT, fullPage: true });

      expect(requests.filter((u) => !u.startsWith("file://"))).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
  60_000,
);
