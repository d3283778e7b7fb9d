// Running git: argv only (never a shell string), stdin closed, output captured.
import { withUmask } from "../sys/umask";
import { argvThroughBash } from "../sys/bytes";
export interface GitRun {
  code: number;
  stdout: Uint8Array;
  stderr: string;
}

/**
 * The environment git runs with: the caller's (a task's), which may not be this process's — the
 * toplevel hashes for nested tasks. Every function of src/hash that runs git or reads what git
 * would read from its environment takes it as an argument; none reads process.env.
 */
export type GitEnv = Readonly<Record<string, string | undefined>>;

/** add: added to env. umask: the one to run git with (see sys/umask.ts), when not this process's. */
export async function git(
  cwd: string,
  args: string[],
  env: GitEnv,
  opts: { add?: Record<string, string>; umask?: number | null } = {},
): Promise<GitRun> {
  const { add, umask = null } = opts;
  // A pathspec that is not UTF-8 (`caf\xe9.txt`) reaches git through bash (see argvThroughBash).
  const viaBash = argvThroughBash(["git", ...args]);
  try {
    const p = withUmask(umask, () =>
      Bun.spawn(viaBash?.cmd ?? ["git", ...args], {
        cwd,
        env: (add ? { ...env, ...add } : env) as Record<string, string | undefined>,
        stdin: viaBash?.stdin ?? "ignore",
        stdout: "pipe",
        stderr: "pipe",
      }),
    );
    const [stdout, stderr, code] = await Promise.all([
      new Response(p.stdout).bytes(),
      new Response(p.stderr).text(),
      p.exited,
    ]);
    return { code, stdout, stderr };
  } catch (e) {
    // A cwd that does not exist, or no git on PATH.
    return { code: -1, stdout: new Uint8Array(), stderr: `fatal: cannot run git in ${cwd}: ${(e as Error).message}` };
  }
}

export const text = (b: Uint8Array) => Buffer.from(b).toString("utf8");

/**
 * What went wrong, in git's words: from its first `fatal:`/`error:` line (or
 * its first line) to the end, so that what follows — the paths a sparse
 * checkout keeps out, the `safe.directory` command for a repository owned by
 * someone else, git's hints on what to do — reaches the user too. One line
 * where git said one, or named paths after a colon (joined: "…files: a, b").
 */
export function gitError(run: GitRun, cwd: string): string {
  const lines = run.stderr
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  if (lines.some((l) => /not a git repository/i.test(l)))
    return `not a git repository: ${cwd} (file inputs are git pathspecs)`;
  const at = Math.max(
    0,
    lines.findIndex((l) => /^(fatal|error):/.test(l)),
  );
  // Hints on turning git's advice off are about git, not about the task; a usage
  // summary (an option git does not know: a pathspec like "-n") is git's, not the task's.
  const usage = lines.findIndex((l, i) => i > at && l.startsWith("usage:"));
  const told = lines.slice(at, usage < 0 ? undefined : usage).filter((l) => !/^hint:.*\badvice\./.test(l));
  if (told.length === 0) return `git exited with code ${run.code}`;
  told[0] = told[0].replace(/^(fatal|error):\s*/, "");
  const said = told.filter((l) => !l.startsWith("hint:"));
  // "The following paths are ignored by one of your .gitignore files:" is followed by the paths.
  if (said.length > 1 && said[0].endsWith(":")) return `${said[0]} ${said.slice(1).join(", ")}`;
  return told.join("\n");
}

/** The trimmed first line of a successful run's output, or null. */
export async function oneLine(cwd: string, args: string[], env: GitEnv): Promise<string | null> {
  const r = await git(cwd, args, env);
  const v = text(r.stdout).trim();
  return r.code === 0 && v ? v : null;
}
