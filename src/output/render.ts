// How a task's events read: each becomes the runner messages the user sees
// (texts fixed by the contract where it names them, docs/contract.md §5 and §7). Pure, so
// a change of wording is a change here and nowhere else.
import type { Decision, TaskEvent } from "./events";
import { unreachable } from "../sys/errors";

export type Level = "debug" | "info" | "warn" | "error";
export interface Message {
  level: Level;
  text: string;
}

const debug = (text: string): Message => ({ level: "debug", text });
const info = (text: string): Message => ({ level: "info", text });
const warn = (text: string): Message => ({ level: "warn", text });
const error = (text: string): Message => ({ level: "error", text });

const NOT_IN_ACTIONS =
  'TASKRUNNER_OUTPUT=github is for GitHub Actions steps, and GITHUB_ACTIONS is not "true" here: plain output';

/** A message of the taskrunner process itself (a usage error, an internal error), not of a task. */
export function processLine(text: string): string {
  return `taskrunner: ${text}`;
}

/** A few paths of a list, and how many more. */
function fewOf(paths: string[], few = 3): string {
  return `${paths.slice(0, few).join(", ")}${paths.length > few ? ` and ${paths.length - few} more` : ""}`;
}

/** What an event says, as plain text, for the task's record (--explain): the same words as its log. */
export function noteOf(e: TaskEvent): string[] {
  return render(e).map((m) => m.text);
}

export function renderDecision(d: Decision): Message[] {
  switch (d.kind) {
    case "run":
      return d.hashed ? [info("Inputs changed, running task")] : [];
    case "skip":
      return d.because === "unchanged"
        ? [debug(`Hash matches, hash=${d.hash}, skipping`)]
        : [debug("Prime cache mode, assuming task is done and skipping")];
    case "restore":
      return [info("Restored from remote cache")];
    case "fault":
      return [error(d.message)];
    case "interrupted":
      return [];
    default:
      return unreachable(d);
  }
}

export function render(e: TaskEvent): Message[] {
  switch (e.kind) {
    case "decided":
      return renderDecision(e.decision);
    case "cd-ignored":
      return [
        warn(
          `snapshot: relative paths are taken from the directory the task started in, ${e.startDir}, ` +
            `not from the shell's current directory ${e.shellDir} (a cd in the script does not move them)`,
        ),
      ];
    case "hashing":
      return [debug(`Files to hash: ${JSON.stringify(e.files)}`), debug(`Raw inputs: ${JSON.stringify(e.raw)}`)];
    case "wildcards-literal":
      return [
        debug(
          `Wildcards in ${e.pathspecs.join(" ")}: the hash covers only paths named like them ` +
            "(git ls-tree takes pathspecs literally, as in the established tool), not the files they match",
        ),
      ];
    case "hashed-by-service":
      return [debug("Inputs hashed by the toplevel's hashing service")];
    case "hash-service-declined":
      return [debug(`Hashing here, not by the toplevel's hashing service: ${e.reason}`)];
    case "reference-hashing":
      return [debug(`Hashing the reference way: ${e.reason}`)];
    case "hash-file-damaged":
      return [debug(`Invalid HashInfo in hash file ${e.path}: ${e.reason}`)];
    case "outputs-missing":
      // A warning, not info: the old tool skipped here and left the build without its outputs.
      return [warn(`Inputs unchanged but outputs missing (${e.outputs.join(", ")}), not skipping`)];
    case "rerun":
      return [
        ...(e.mismatch ? [debug(`Hash mismatch, saved=${e.mismatch.saved}, current=${e.mismatch.current}`)] : []),
        ...e.reasons.map((r) => debug(`Rerun because ${r}`)),
      ];
    case "remote-not-tried":
      return [
        debug(
          "Remote cache not used: uncommitted changes to tracked inputs" +
            `${e.uncommitted.length ? ` (${fewOf(e.uncommitted)})` : ""}; ` +
            "the exact remote cache is used only for committed inputs",
        ),
      ];
    case "remote-found":
      return [info(`Found remote cache ${e.archive}, restoring`)];
    case "remote-not-used":
      return [warn(`Remote cache not used: ${e.message}`)];
    case "fuzzy-restored":
      return [info(`Restored fuzzy cache from branch ${e.branch}, hash=${e.hash}`)];
    case "fuzzy-not-used":
      return [warn(`Fuzzy cache from branch ${e.branch} not used: ${e.message}`)];
    case "fuzzy-changed-inputs":
      return [
        warn(
          `The fuzzy cache changed inputs of this task${e.paths.length ? ` (${fewOf(e.paths)})` : ""}, ` +
            "so it does not run from the inputs it hashed; " +
            "not saving its hash or cache, so the next run runs it again",
        ),
      ];
    default:
      return renderRunAndSave(e);
  }
}

/** The events of a task's run and of what it saves: render's second half. */
type RunAndSaveEvent = Extract<
  TaskEvent,
  {
    kind:
      | "cannot-start"
      | "spawn-failed"
      | "stream-left-open"
      | "ended"
      | "skipped"
      | "outputs-not-created"
      | "outputs-outside-root"
      | "cache-not-saved"
      | "upload-stopped"
      | "uploads-cut-short"
      | "inputs-moved"
      | "outputs-rewrote-inputs"
      | "log-not-uploaded"
      | "post-unpack-failed"
      | "interrupted"
      | "not-in-github-actions";
  }
>;

function renderRunAndSave(e: RunAndSaveEvent): Message[] {
  switch (e.kind) {
    case "cannot-start":
    case "spawn-failed":
      return [error(e.message)];
    case "stream-left-open":
      return [
        warn(`taskrunner: Task did not close ${e.stream} ${e.seconds} seconds after exiting.`),
        warn("Perhaps the file descriptor was leaked to a background process?"),
        warn("Build will continue despite this error, but some output may be lost."),
      ];
    case "ended":
      return [e.code === 0 ? info("success") : error(`Failed, exit code: ${e.code}`)];
    case "skipped":
      return [info("skipped, inputs unchanged")];
    case "outputs-not-created": {
      const which = e.outputs
        .map((o) => (o.declared === o.path ? o.declared : `${o.declared} (looked for ${o.path})`))
        .join(", ");
      return [
        warn(
          `Declared output not created: ${which}; ` +
            `its hash is not saved${e.uploading ? " and nothing is uploaded" : ""}, ` +
            "so the next run runs it again",
        ),
      ];
    }
    case "outputs-outside-root":
      return [
        warn(
          `Remote cache not saved: ${e.message}; ` +
            `outputs are taken from the directory the task started in (${e.startDir}) ` +
            "and must lie inside the cache root: pass --cache-root DIR or set TASKRUNNER_ROOT_DIRECTORY",
        ),
      ];
    case "cache-not-saved":
      return [warn(`Remote cache not saved: ${e.message}`)];
    case "upload-stopped":
      return [
        e.atBuildEnd
          ? debug(`Cache upload stopped: ${e.why}`)
          : warn(`Cache upload stopped (${e.why}); nothing uploaded`),
      ];
    case "uploads-cut-short":
      return [
        warn(
          `Cache uploads of ${e.jobs.join(", ")} did not finish within ${e.seconds} s ` +
            "(TASKRUNNER_UPLOAD_WAIT_SECONDS); stopped, nothing of them uploaded",
        ),
      ];
    case "inputs-moved":
      return [
        warn(
          `Inputs changed while the task ran${e.paths.length ? `: ${e.paths.join(", ")}` : ""}; ` +
            "not saving its hash or cache, so the next run runs it again",
        ),
      ];
    case "outputs-rewrote-inputs":
      return [
        debug(
          e.by === "run"
            ? `Inputs that are declared outputs changed while the task ran (${fewOf(e.paths)}): ` +
                `saving the hash after the run, ${e.after}, for the local skip; ` +
                `its cache is saved under the hash before it, ${e.before}, which another machine computes`
            : `The restore rewrote inputs that are declared outputs (${fewOf(e.paths)}): ` +
                `saving the hash after it, ${e.after}, for the local skip`,
        ),
      ];
    case "log-not-uploaded":
      return [
        warn(
          e.message === null
            ? "TASKRUNNER_UPLOAD_LOGS=1 but no store is configured " +
                "(TASKRUNNER_REMOTE_CACHE_BUCKET or TASKRUNNER_REMOTE_CACHE_DIR)"
            : `Log not uploaded: ${e.message}`,
        ),
      ];
    case "post-unpack-failed":
      return [error(e.message), ...(e.ran ? [error("Failed, exit code: 1")] : [])];
    case "interrupted":
      return [warn(`Interrupted by ${e.signal}`)];
    case "not-in-github-actions":
      return [warn(NOT_IN_ACTIONS)];
    default:
      return unreachable(e);
  }
}
