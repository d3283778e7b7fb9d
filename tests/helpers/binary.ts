// The golden cases run against the compiled binary, as users run it. It is
// (re)built once per test run when any source is newer than it.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "../..");
export const BINARY = join(ROOT, "dist", "taskrunner");

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

let built: Promise<void> | null = null;

export function ensureBinary(): Promise<void> {
  built ??= (async () => {
    const sources = Math.max(newestSource(join(ROOT, "src")), statSync(join(ROOT, "build.ts")).mtimeMs);
    if (existsSync(BINARY) && statSync(BINARY).mtimeMs > sources && !process.env.TASKRUNNER_TEST_REBUILD) return;
    const p = Bun.spawn([process.execPath, "build.ts"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([
      new Response(p.stdout).text(),
      new Response(p.stderr).text(),
      p.exited,
    ]);
    if (code !== 0) throw new Error(`build failed:\n${out}${err}`);
  })();
  return built;
}
