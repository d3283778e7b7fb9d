// A running task's two channels to its runner: its output, pumped into the
// sinks line by line, and the controller channel it sends `snapshot` and debug
// requests on (docs/contract.md §7), served until it exits and is drained.
import { LineSplitter, pumpLines } from "../output/lines";
import { closeFd, hasInput, writeAll } from "../sys/libc";
import { signalNumber } from "../sys/signals";
import { parseRequest, Reply, requestErrorLines } from "../controller/protocol";
import type { SpawnedTask } from "../task/process";
import type { SnapshotSession } from "../snapshot/session";
import type { TaskContext } from "../task/context";
import { describeError, unreachable } from "../sys/errors";
import { endsWithin } from "../sys/time";
import { decodeBytes } from "../sys/bytes";

const encoder = new TextEncoder();

/** Serves the task until it exits and its output is drained (or the drain times out). Returns its exit code. */
export async function superviseTask(task: SpawnedTask, ctx: TaskContext, session: SnapshotSession): Promise<number> {
  const { proc } = task;
  const stopForwarding = ctx.interruption.onSignal((signal) => {
    try {
      process.kill(-proc.pid, signal); // the whole process group
    } catch {
      proc.kill(signal);
    }
  });

  const controller = serveRequests(task, ctx, session);
  const pump = (name: "stdout" | "stderr") =>
    pumpLines(
      proc[name],
      (lines) => ctx.out.lines(name, lines),
      (e) => ctx.out.debug(`reading task ${name} failed: ${describeError(e)}`),
    );
  const stdout = pump("stdout");
  const stderr = pump("stderr");
  const exitCode = await proc.exited;
  const code = proc.signalCode ? 128 + signalNumber(String(proc.signalCode)) : exitCode;

  for (const [name, stream] of [
    ["stdout", stdout],
    ["stderr", stderr],
  ] as const) {
    const seconds = ctx.config.outputStreamTimeoutSeconds;
    if (!(await endsWithin(stream.done, seconds * 1000))) {
      ctx.out.say({ kind: "stream-left-open", stream: name, seconds });
      stream.cancel();
    }
  }
  stopForwarding();
  // A snapshot request still being answered (a restore cleaning up after a
  // signal) finishes before anything else happens to the task.
  await controller.stop();
  return code;
}

/** How long a task that has exited may keep its controller channel busy with lines still to read. */
const DRAIN_MS = 1000;

/** The controller side of the request/response pipes (docs/contract.md §7). */
function serveRequests(task: SpawnedTask, ctx: TaskContext, session: SnapshotSession) {
  const reader = Bun.file(task.requestFd).stream().getReader();
  const splitter = new LineSplitter();
  const reply = (text: string) => writeAll(task.responseFd, encoder.encode(`${text}\n`));
  let shellPwd: string | null = null;
  const loop = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (const bytes of splitter.push(value)) {
          // Bytes kept (sys/bytes.ts): a pathspec or --raw value need not be UTF-8.
          const line = decodeBytes(bytes);
          const req = parseRequest(line);
          switch (req.kind) {
            case "debug":
              ctx.out.debug(req.words.join(" "));
              break; // no reply: debug lines come from nested runners, concurrently
            case "log":
              ctx.out.debug(req.text, true);
              break; // no reply, as for debug
            case "pwd":
              shellPwd = req.dir;
              break; // no reply: the snapshot request that follows gets it
            case "snapshot":
              ctx.out.debug(`Running cmdpipe command: ${JSON.stringify(["snapshot", ...req.args])}`);
              reply(await session.handle(req.args, shellPwd));
              break;
            case "invalid":
            case "unknown":
              for (const l of requestErrorLines(req)) ctx.out.error(l);
              reply(Reply.fail);
              break;
            default:
              unreachable(req);
          }
        }
      }
    } catch (e) {
      ctx.out.debug(`controller channel closed: ${describeError(e)}`);
    }
  })();
  return {
    async stop() {
      // The task has exited, but the lines its nested runners wrote just before
      // may still wait in the channel: on a loaded machine this process can be
      // scheduled only after the task is gone. Read what is there (a writer that
      // outlives the task, a background process holding the descriptor, does not
      // hold us up: the channel is then empty, not readable), then stop.
      await Bun.sleep(0);
      const until = Date.now() + DRAIN_MS;
      while (hasInput(task.requestFd) && Date.now() < until) {
        if (await endsWithin(loop, 1)) break;
      }
      await reader.cancel().catch((e) => ctx.out.debug(`closing the controller channel: ${describeError(e)}`));
      await loop;
      // Both ends are ours to close (Bun hands extra pipes over as bare descriptors): a
      // toplevel that runs thousands of nested tasks must not run out of descriptors.
      // Only now: a reply written after closing could land in whatever reused the number.
      closeFd(task.responseFd);
      closeFd(task.requestFd);
    },
  };
}
