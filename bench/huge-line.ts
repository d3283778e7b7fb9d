// Peak memory of the toplevel while its task prints one huge line (a minified
// bundle, an endless `\r` progress bar): the line must reach the terminal and
// the log whole, but be held about once. Measured: VmHWM (peak resident set)
// of the taskrunner process, read from /proc/<pid>/status until it exits,
// for lines of 50 and 200 MB; for comparison in the same run, the same bytes
// as 1 KB lines. The terminal is /dev/null; the log goes to a scratch state
// directory. Run: bun bench/huge-line.ts [binary]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, scratchDir } from "./lib";

const binary = process.argv[2] ?? BINARY;
const MB = 1_000_000;

/** Peak resident set (bytes) of a run of the binary whose task prints `size` bytes, in one line or in 1 KB lines. */
async function peak(size: number, oneLine: boolean): Promise<number> {
  const dir = scratchDir("huge-line");
  const print = oneLine
    ? `head -c ${size} /dev/zero | tr '\\0' x; echo`
    : `head -c ${size} /dev/zero | tr '\\0' x | fold -w 1023`;
  const p = Bun.spawn([binary, "-n", "big", "bash", "-c", print], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", TASKRUNNER_STATE_DIRECTORY: join(dir, "state") },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "inherit",
  });
  let hwm = 0;
  const poll = setInterval(() => {
    try {
      const m = readFileSync(`/proc/${p.pid}/status`, "utf8").match(/VmHWM:\s+(\d+) kB/);
      if (m) hwm = Math.max(hwm, Number(m[1]) * 1024);
    } catch {
      // exited between polls: the last reading stands
    }
  }, 10);
  const code = await p.exited;
  clearInterval(poll);
  if (code !== 0) throw new Error(`the run failed with ${code}`);
  return hwm;
}

const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
for (const size of [50 * MB, 200 * MB]) {
  const lines = await peak(size, false);
  const one = await peak(size, true);
  console.log(
    `${size / MB} MB: one line ${mib(one)} (${(one / size).toFixed(2)}× the line); as 1 KB lines ${mib(lines)}`,
  );
}
