// Runs the compiled binary in a scratch directory, for tests that need more
// than a golden comparison (bytes, timing, signals).
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY } from "./binary";
import { baseEnv } from "./golden";
import { sh } from "../fakes/git-repo";

export interface Scratch {
  dir: string;
  work: string;
  env: Record<string, string>;
  cleanup(): void;
}

export function scratch(prefix: string): Scratch {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), `${prefix}-`)));
  const work = join(dir, "work");
  mkdirSync(work);
  return { dir, work, env: baseEnv(dir), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function taskrunner(s: Scratch, args: string[], extraEnv: Record<string, string> = {}) {
  return Bun.spawn([BINARY, ...args], {
    cwd: s.work,
    env: { ...s.env, ...extraEnv },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
}

/** taskrunner(), started by a bash that first runs `setup` (`umask 000`, `ulimit -n 64`): what the user's shell hands it. */
export function taskrunnerAfter(setup: string, s: Scratch, args: string[], extraEnv: Record<string, string> = {}) {
  return Bun.spawn(["bash", "-c", `${setup} && exec "$@"`, "setup", BINARY, ...args], {
    cwd: s.work,
    env: { ...s.env, ...extraEnv },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
}

export async function runToEnd(s: Scratch, args: string[], extraEnv: Record<string, string> = {}) {
  return ended(taskrunner(s, args, extraEnv));
}

/** The input hash of inputRepo's input.txt ("foo\n"), pathspec input.txt. */
export const INPUT_HASH = "6b36308659163b577fd1c832107dc46ca3aa659b";

/** A scratch directory whose work tree is a git repository with input.txt ("foo\n") committed and out/ ignored. */
export function inputRepo(prefix: string): Scratch {
  const s = scratch(prefix);
  sh(s.work, "git init -q . && echo foo > input.txt && echo out/ > .gitignore && git add . && git commit -qm init");
  return s;
}

/** Every line of every task log of the builds in s's state directory so far. */
export function buildLogLines(s: Scratch): string[] {
  const builds = join(s.dir, "state", "builds");
  return readdirSync(builds).flatMap((b) =>
    readdirSync(join(builds, b, "logs")).flatMap((l) => readFileSync(join(builds, b, "logs", l), "utf8").split("\n")),
  );
}

/** ended(), stdout as text. */
export async function endedText(p: ReturnType<typeof taskrunner>) {
  const r = await ended(p);
  return { ...r, stdout: new TextDecoder().decode(r.stdout) };
}

/** What a taskrunner started with `taskrunner()` printed, once it has exited. */
export async function ended(p: ReturnType<typeof taskrunner>) {
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).bytes(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { stdout, stderr, code };
}

/** Every restore staging folder (`.taskrunner-restore-*`) under dir, at any depth. */
export function stagingFolders(dir: string): string[] {
  const found: string[] = [];
  // Polled while a restore runs: a folder removed in the meantime holds nothing.
  const entries = (d: string) => {
    try {
      return readdirSync(d, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
  };
  const walk = (d: string) => {
    for (const e of entries(d)) {
      if (e.name.startsWith(".taskrunner-restore-")) found.push(join(d, e.name));
      else if (e.isDirectory()) walk(join(d, e.name));
    }
  };
  walk(dir);
  return found;
}

export async function waitFor(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error("timed out waiting for a condition");
    await Bun.sleep(20);
  }
}
