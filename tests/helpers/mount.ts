// Small file systems for tests, without root: a tmpfs mounted in a private
// mount namespace (`unshare -Urm`, an unprivileged user namespace). The mount
// lives as long as the command it runs; nothing to unmount afterwards.
import type { Scratch } from "./run";

/** Why tmpfs mounts are impossible here (to skip a test, saying so), or null when they work. */
export const noTmpfs: string | null = (() => {
  const probe = Bun.spawnSync(
    [
      "unshare",
      "-Urm",
      "sh",
      "-c",
      'd=$(mktemp -d) && mount -t tmpfs -o size=64k none "$d" && umount "$d" && rmdir "$d"',
    ],
    {
      stderr: "pipe",
    },
  );
  if (probe.success) return null;
  return `cannot mount a tmpfs in a user namespace here (unshare -Urm: ${probe.stderr.toString().trim() || "not available"})`;
})();

/**
 * Runs `bash -c script` in the scratch directory's work tree, in a mount
 * namespace where a fresh tmpfs (with these mount options) is mounted at
 * `mountPoint` first (`taskrunner` in the script is the binary under test).
 */
export async function withTmpfs(
  s: Scratch,
  mountPoint: string,
  options: string,
  script: string,
  extraEnv: Record<string, string> = {},
) {
  const mountThenRun = `mkdir -p "$1" && mount -t tmpfs -o "$2" none "$1" && shift 2 && exec bash -c "$@"`;
  const p = Bun.spawn(["unshare", "-Urm", "bash", "-c", mountThenRun, "mount", mountPoint, options, script], {
    cwd: s.work,
    env: { ...s.env, ...extraEnv },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { stdout, stderr, code };
}
