// Running git: argv only (never a shell string), stdin closed, output captured.
import { withUmask } from "../sys/umask";
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
  try {
    const p = withUmask(umask, () =>
      Bun.spawn(["git", ...args], {
        cwd,
        env: (add ? { ...env, ...add } : env) as Record<string, string | undefined>,
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      }),
    );
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).bytes(), new Response(p.stderr).text(), p.exited]);
    return { code, stdout, stderr };
  } catch (e) {
    // A cwd that does not exist, or no git on PATH.
    return { code: -1, stdout: new Uint8Array(), stderr: `fatal: cannot run git in ${cwd}: ${(e as Error).message}` };
  }
}

export const text = (b: Uint8Array) => Buffer.from(b).toString("utf8");

/** What went wrong, in git's words, as one line. */
export function gitError(run: GitRun, cwd: string): string {
  const lines = run.stderr.split("\n").map((l) => l.trim()).filter(Boolean);
  if (lines.some((l) => /not a git repository/i.test(l))) return `not a git repository: ${cwd} (file inputs are git pathspecs)`;
  const told = lines.filter((l) => !/^hint:/.test(l));
  const at = Math.max(0, told.findIndex((l) => /^(fatal|error):/.test(l)));
  let first = (told[at] ?? "").replace(/^(fatal|error):\s*/, "");
  // "The following paths are ignored by one of your .gitignore files:" is followed by the paths.
  if (first.endsWith(":") && told.length > at + 1) first += ` ${told.slice(at + 1).join(", ")}`;
  return first || `git exited with code ${run.code}`;
}

/** The trimmed first line of a successful run's output, or null. */
export async function oneLine(cwd: string, args: string[], env: GitEnv): Promise<string | null> {
  const r = await git(cwd, args, env);
  const v = text(r.stdout).trim();
  return r.code === 0 && v ? v : null;
}
