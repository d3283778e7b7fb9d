// TASKRUNNER_OUTPUT=progress in a real terminal: the compiled binary runs in a
// tmux pane, and the test reads the screen (capture-pane) and the cursor
// (cursor_flag) while the build runs, after it ends, and after Ctrl-C.
import { test, expect, beforeAll, afterAll } from "bun:test";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary } from "./helpers/binary";
import { scratch, waitFor, type Scratch } from "./helpers/run";

beforeAll(ensureBinary, 120_000);

const SOCKET = `taskrunner-test-${process.pid}`;
const NO_TMUX = Bun.which("tmux") ? "" : " (skipped: tmux is not installed; apt-get install tmux)";
const inTmux = test.skipIf(NO_TMUX !== "");
afterAll(() => {
  if (NO_TMUX) return;
  Bun.spawnSync(["tmux", "-L", SOCKET, "kill-server"], { stderr: "ignore" });
});

function tmux(...args: string[]): string {
  const p = Bun.spawnSync(["tmux", "-L", SOCKET, ...args], { stderr: "pipe" });
  if (!p.success) throw new Error(`tmux ${args.join(" ")}: ${p.stderr.toString()}`);
  return p.stdout.toString();
}

/** A tmux window running `script` (bash) with the scratch's environment; the shell says EXIT=<code> when the build ends. */
function startPane(
  s: Scratch,
  name: string,
  script: string,
): { screen(): string; cursorShown(): boolean; keys(...k: string[]): void } {
  const file = join(s.dir, `${name}.sh`);
  const env = Object.entries({ ...s.env, TASKRUNNER_OUTPUT: "progress", TERM: "xterm-256color" })
    .map(([k, v]) => `export ${k}='${v.replaceAll("'", "'\\''")}'`)
    .join("\n");
  writeFileSync(
    file,
    `${env}\ncd '${s.work}'\ntaskrunner -n top bash -c '${script.replaceAll("'", "'\\''")}'\necho EXIT=$?\nsleep 600\n`,
  );
  const target = `${SOCKET}-${name}`;
  tmux("new-session", "-d", "-s", target, "-x", "100", "-y", "24", `bash --norc --noprofile ${file}`);
  return {
    screen: () => tmux("capture-pane", "-p", "-t", target),
    cursorShown: () => tmux("display", "-p", "-t", target, "#{cursor_flag}").trim() === "1",
    keys: (...k) => void tmux("send-keys", "-t", target, ...k),
  };
}

const lines = (screen: string) =>
  screen
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => l !== "");
const SPINNER = /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/;
const ELAPSED = "(\\d+ ms|\\d+\\.\\d\\d s)";

inTmux(
  `a 3-task parallel build: the running tasks with elapsed times and the counts, redrawn in place, then one line${NO_TMUX}`,
  async () => {
    const s = scratch("progress-parallel");
    try {
      const pane = startPane(
        s,
        "parallel",
        'for t in a b c; do taskrunner -n "$t" bash -c "sleep 2; echo $t done" & done; wait',
      );
      await waitFor(() => pane.screen().includes("3 running"));
      const during = lines(pane.screen());
      expect(during).toHaveLength(4);
      for (const job of ["a", "b", "c"])
        expect(during.some((l) => new RegExp(`^ ${SPINNER.source} ${job}  ${ELAPSED}$`).test(l))).toBe(true);
      expect(during[3]).toBe(" 3 running · 0 done · 0 skipped · 0 restored · 0 failed");
      expect(pane.cursorShown()).toBe(false);
      // In place: later screens still have the area once, with times that moved on.
      await Bun.sleep(600);
      expect(lines(pane.screen()).filter((l) => l.includes("running ·"))).toHaveLength(1);

      await waitFor(() => pane.screen().includes("EXIT="));
      const after = lines(pane.screen());
      expect(after[0]).toMatch(new RegExp(`^ 3 done · 0 skipped · 0 restored · 0 failed in ${ELAPSED}$`));
      expect(after.slice(1)).toEqual(["EXIT=0"]);
      expect(pane.cursorShown()).toBe(true);
      // The logs are written as ever.
      const build = readdirSync(join(s.dir, "state", "builds"))[0];
      expect(readFileSync(join(s.dir, "state", "builds", build, "logs", "b.log"), "utf8")).toContain(
        "\nstdout | b done\ndebug | Command",
      );
    } finally {
      s.cleanup();
    }
  },
  60_000,
);

inTmux(
  `a failed task's full output is printed above the area, which goes on${NO_TMUX}`,
  async () => {
    const s = scratch("progress-failure");
    try {
      const pane = startPane(
        s,
        "failure",
        'taskrunner -n slow bash -c "sleep 3" & taskrunner -n bad bash -c "sleep 0.5; echo one; echo two >&2; exit 4"; r=$?; wait; exit $r',
      );
      await waitFor(() => pane.screen().includes("1 failed"));
      const during = lines(pane.screen());
      expect(during.slice(0, 2)).toEqual(["[bad] stdout | one", "[bad] stderr | two"]);
      expect(during.slice(2)).toEqual([
        expect.stringMatching(new RegExp(`^ ${SPINNER.source} slow  ${ELAPSED}$`)),
        " 1 running · 0 done · 0 skipped · 0 restored · 1 failed",
      ]);
      await waitFor(() => pane.screen().includes("EXIT="));
      const after = lines(pane.screen());
      expect(after).toEqual([
        "[bad] stdout | one",
        "[bad] stderr | two",
        expect.stringMatching(/^ 1 done · 0 skipped · 0 restored · 2 failed in /),
        "EXIT=4",
      ]);
      expect(pane.cursorShown()).toBe(true);
    } finally {
      s.cleanup();
    }
  },
  60_000,
);

inTmux(
  `Ctrl-C leaves a clean terminal: the area gone, the cursor shown${NO_TMUX}`,
  async () => {
    const s = scratch("progress-interrupt");
    try {
      const pane = startPane(
        s,
        "interrupt",
        'taskrunner -n x bash -c "sleep 30" & taskrunner -n y bash -c "sleep 30" & wait',
      );
      await waitFor(() => pane.screen().includes("2 running"));
      expect(pane.cursorShown()).toBe(false);
      pane.keys("C-c");
      await waitFor(() => pane.screen().includes("EXIT="));
      const after = lines(pane.screen());
      expect(after.some((l) => SPINNER.test(l) || l.includes("running ·"))).toBe(false);
      expect(after.at(-1)).toBe("EXIT=130");
      expect(pane.cursorShown()).toBe(true);
    } finally {
      s.cleanup();
    }
  },
  60_000,
);

inTmux(
  `a build with nothing to do leaves nothing${NO_TMUX}`,
  async () => {
    const s = scratch("progress-nothing");
    try {
      const pane = startPane(s, "nothing", "true");
      await waitFor(() => pane.screen().includes("EXIT="));
      expect(lines(pane.screen())).toEqual(["EXIT=0"]);
    } finally {
      s.cleanup();
    }
  },
  60_000,
);
