// Output under stress: byte-exact passthrough, huge lines, parallel writers,
// redirection. Asserted on the bytes the user receives.
import { test, expect, beforeAll } from "bun:test";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary, BINARY } from "./helpers/binary";
import { scratch, runToEnd } from "./helpers/run";

beforeAll(ensureBinary, 120_000);

const text = (b: Uint8Array) => Buffer.from(b).toString("latin1");

test("bytes that are not UTF-8 pass through unchanged, to the terminal and the log", async () => {
  const s = scratch("bytes");
  try {
    const r = await runToEnd(s, ["-n", "bin", "bash", "-c", String.raw`printf 'a\xff\xfe\x80b\r\n\xc3(\n'`], {});
    expect(r.code).toBe(0);
    expect(text(r.stdout)).toBe("[bin] stdout | a\xff\xfe\x80b\r\n[bin] stdout | \xc3(\n");
    const build = readdirSync(join(s.dir, "state", "builds"))[0];
    const log = readFileSync(join(s.dir, "state", "builds", build, "logs", "bin.log"), "latin1");
    expect(log).toContain("stdout | a\xff\xfe\x80b\r\nstdout | \xc3(\n");
  } finally {
    s.cleanup();
  }
});

test("a 2 MiB line from a nested task arrives whole", async () => {
  const s = scratch("bigline");
  try {
    const script = `taskrunner -n inner bash -c 'head -c 2097152 /dev/zero | tr "\\\\0" x; echo; echo after'`;
    const r = await runToEnd(s, ["-n", "outer", "bash", "-c", script]);
    expect(r.code).toBe(0);
    const lines = text(r.stdout).split("\n");
    expect(lines[0]).toBe(`[inner] stdout | ${"x".repeat(2 * 1024 * 1024)}`);
    expect(lines.slice(1)).toEqual(["[inner] stdout | after", ""]);
  } finally {
    s.cleanup();
  }
});

test("8 parallel nested tasks writing long lines never tear them", async () => {
  const s = scratch("parallel");
  try {
    // 10,000-byte lines are far above PIPE_BUF (4096), where a pipe stops keeping writes whole.
    const script = `for i in 1 2 3 4 5 6 7 8; do
      taskrunner -n "job$i" bash -c 'line=$(head -c 10000 /dev/zero | tr "\\\\0" "$0"); for j in $(seq 1 60); do echo "$line"; echo "e$j" >&2; done' "$i" &
    done; wait`;
    const r = await runToEnd(s, ["-n", "outer", "bash", "-c", script]);
    expect(r.code).toBe(0);
    const lines = text(r.stdout).trimEnd().split("\n");
    expect(lines.length).toBe(8 * 60);
    for (const line of lines) expect(line).toMatch(/^\[job(\d)\] stdout \| (\d)\2{9999}$/);
    for (const line of lines) expect(line[4]).toBe(line[17]);
    const errLines = r.stderr.trimEnd().split("\n");
    expect(errLines.length).toBe(8 * 60);
    for (const line of errLines) expect(line).toMatch(/^\[job\d\] stderr \| e\d+$/);
  } finally {
    s.cleanup();
  }
});

test("the toplevel's stdout redirected to a file gets the nested tasks' lines", async () => {
  const s = scratch("redirect");
  try {
    const script = `taskrunner -n inner bash -c 'echo inner-line' > /dev/null`;
    const p = Bun.spawn(["bash", "-c", `"${BINARY}" -n outer bash -c "$1" > out.txt 2> err.txt`, "x", script], {
      cwd: s.work,
      env: s.env,
    });
    expect(await p.exited).toBe(0);
    expect(readFileSync(join(s.work, "out.txt"), "utf8")).toBe("[inner] stdout | inner-line\n");
  } finally {
    s.cleanup();
  }
});

test("timestamps are HH:MM:SS in UTC unless disabled", async () => {
  const s = scratch("stamps");
  try {
    const r = await runToEnd(s, ["-n", "t", "echo", "hi"], { TASKRUNNER_DISABLE_TIMESTAMPS: "" });
    expect(text(r.stdout)).toMatch(/^\d\d:\d\d:\d\d \[t\] stdout \| hi\n$/);
    const hour = Number(text(r.stdout).slice(0, 2));
    expect([new Date().getUTCHours(), (new Date().getUTCHours() + 23) % 24]).toContain(hour);
  } finally {
    s.cleanup();
  }
});
