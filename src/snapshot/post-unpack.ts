// Post-unpack commands (`snapshot -o ... --cmd CMD`): run with `sh -c` after a
// successful run or restore; their stdout and stderr both become the task's
// stderr lines, in the order the command wrote them: one pipe takes both (the
// `exec 2>&1;` prefix keeps the command on line 1 for the shell's messages).
import type { TaskContext } from "../task/context";
import { pumpLines } from "../output/lines";
import { INTERNAL } from "../internal-env";
import { withUmask } from "../sys/umask";
import { describeError } from "../sys/errors";

/** null on success, else a message saying what failed. */
export async function runPostUnpack(ctx: TaskContext, cmd: string): Promise<string | null> {
  ctx.out.debug(`Running post-unpack cmd ${JSON.stringify(cmd)}`);
  let proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  try {
    proc = withUmask(ctx.umask, () =>
      Bun.spawn(["sh", "-c", `exec 2>&1; ${cmd}`], {
        cwd: ctx.cwd,
        env: { ...ctx.env, [INTERNAL.buildId]: ctx.paths.buildId } as Record<string, string>,
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );
  } catch (e) {
    return `post-unpack command ${JSON.stringify(cmd)} could not start: ${describeError(e)}`;
  }
  const drain = (stream: ReadableStream<Uint8Array>) =>
    pumpLines(
      stream,
      (lines) => ctx.out.lines("stderr", lines),
      (e) => ctx.out.debug(`reading the post-unpack command's output failed: ${describeError(e)}`),
    ).done;
  const stop = ctx.interruption.onSignal((signal) => proc.kill(signal));
  try {
    await Promise.all([drain(proc.stdout), drain(proc.stderr), proc.exited]);
  } finally {
    stop();
  }
  const code = proc.exitCode ?? 1;
  return code === 0 ? null : `post-unpack command ${JSON.stringify(cmd)} failed with exit code ${code}`;
}
