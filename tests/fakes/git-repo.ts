// Throw-away git repositories for the hashing tests and benchmark, and the
// established tool's pipeline run by bash exactly as it ran it — the oracle the
// hash must equal byte for byte.
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeBytes, hasRawBytes } from "../../src/sys/bytes";

/** The old pipeline, verbatim but for the final hashing (done by the caller). */
export const REFERENCE_SCRIPT = `GIT_INDEX_FILE="$(mktemp)"; export GIT_INDEX_FILE
trap 'rm -f "$GIT_INDEX_FILE"' 0
cp "$(git rev-parse --git-dir)/index" "$GIT_INDEX_FILE"
tree="$(git add "$@" && git write-tree)" || exit 1
git ls-tree -r --full-name "$tree" "$@"`;

export const gitEnv: Record<string, string> = {
  ...(process.env as Record<string, string>),
  GIT_AUTHOR_NAME: "T",
  GIT_AUTHOR_EMAIL: "t@example.com",
  GIT_COMMITTER_NAME: "T",
  GIT_COMMITTER_EMAIL: "t@example.com",
};

export class Repos {
  private dirs: string[] = [];

  /** A new directory (git init'ed unless bare), then `setup` run in it by bash -e. */
  make(setup: string, opts: { init?: boolean } = {}): string {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), "hash-")));
    this.dirs.push(dir);
    sh(dir, `${opts.init === false ? "" : "git init -q . && git config commit.gpgsign false\n"}${setup}`);
    return dir;
  }

  cleanup(): void {
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
    this.dirs = [];
  }
}

export function sh(cwd: string, script: string): string {
  const p = Bun.spawnSync(["bash", "-ec", script], {
    cwd,
    env: gitEnv,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  if (!p.success) throw new Error(`setup failed (${p.exitCode}): ${script}\n${p.stderr.toString()}`);
  return p.stdout.toString();
}

/** The old pipeline's listing (ls-tree output), or null when it failed. */
export function referenceListing(cwd: string, pathspecs: string[]): string | null {
  const p = bashWithArgs(cwd, REFERENCE_SCRIPT, pathspecs);
  return p.success ? p.stdout.toString() : null;
}

/** `git status --porcelain --untracked-files=no -- <pathspecs>` is not empty. */
export function referenceStatus(cwd: string, pathspecs: string[]): boolean {
  const p = bashWithArgs(cwd, 'git --no-optional-locks status --porcelain --untracked-files=no -- "$@"', pathspecs);
  return p.stdout.toString().trim() !== "";
}

/**
 * bash runs script with args as "$@". Bun passes arguments as UTF-8, so
 * arguments holding bytes that are not (strings from src/sys/bytes.ts) go
 * NUL-separated through stdin instead, byte for byte.
 */
function bashWithArgs(cwd: string, script: string, args: string[]) {
  if (!args.some(hasRawBytes))
    return Bun.spawnSync(["bash", "-c", script, "hash-files", ...args], {
      cwd,
      env: gitEnv,
      stdin: "ignore",
      stderr: "pipe",
    });
  const read = 'a=(); while IFS= LC_ALL=C read -r -d "" x; do a+=("$x"); done; exec </dev/null; set -- "${a[@]}"\n';
  const stdin = Buffer.concat(args.flatMap((a) => [encodeBytes(a), Uint8Array.of(0)]));
  return Bun.spawnSync(["bash", "-c", read + script, "hash-files"], { cwd, env: gitEnv, stdin, stderr: "pipe" });
}
