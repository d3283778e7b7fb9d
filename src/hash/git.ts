// Running git: argv only (never a shell string), stdin closed, output captured.
import { withUmask } from "../sys/umask";
import { encodeBytes, hasRawBytes } from "../sys/bytes";
export interface GitRun {
  code: number;
  stdout: Uint8Array;
  stderr: string;
}

/** env: added to this process's environment. umask: the one to run git with (see sys/umask.ts), when not this process's. */
export async function git(cwd: string, args: string[], opts: { env?: Record<string, string>; umask?: number | null } = {}): Promise<GitRun> {
  const { env, umask = null } = opts;
  const byBytes = args.some(hasRawBytes);
  try {
    const p = withUmask(umask, () =>
      Bun.spawn(byBytes ? ["bash", "-c", ARGV_FROM_STDIN] : ["git", ...args], {
        cwd,
        env: byBytes ? withoutBashEnv({ ...process.env, ...env }) : env ? { ...process.env, ...env } : undefined,
        stdin: byBytes ? argvBytes(args) : "ignore",
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

// Bun encodes every argument as UTF-8, so a pathspec that is not (`caf\xe9.txt`)
// would reach git as another name. Such an argv goes to git through bash,
// NUL-separated on its stdin, byte for byte; git's own stdin is /dev/null still.
// `read` byte-wise (LC_ALL=C): in a UTF-8 locale bash takes a NUL after a stray
// lead byte for part of one character, and two arguments run together.
const ARGV_FROM_STDIN = 'a=(); while IFS= LC_ALL=C read -r -d "" x; do a+=("$x"); done; exec git "${a[@]}" </dev/null';

function argvBytes(args: string[]): Uint8Array {
  return Buffer.concat(args.flatMap((a) => [encodeBytes(a), Uint8Array.of(0)]));
}

/** The environment without BASH_ENV, which the bash above would run first. */
function withoutBashEnv(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const { BASH_ENV: _, ...rest } = env;
  return rest;
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
export async function oneLine(cwd: string, args: string[]): Promise<string | null> {
  const r = await git(cwd, args);
  const v = text(r.stdout).trim();
  return r.code === 0 && v ? v : null;
}
