import snapshotBody from "./shell/snapshot.sh" with { type: "text" };
import taskrunnerBody from "./shell/taskrunner.sh" with { type: "text" };

// The controller channel between a taskrunner and its task (docs/contract.md §7): one JSON
// array of strings per request line, one line of shell code per reply.

export type Request =
  | { kind: "snapshot"; args: string[] }
  | { kind: "debug"; words: string[] }
  /** Ours, sent by our `snapshot` function just before its request: the calling shell's $PWD. No reply. */
  | { kind: "pwd"; dir: string }
  /**
   * Ours, from a nested taskrunner process: a debug line for this task's log file only, never its terminal. No reply.
   */
  | { kind: "log"; text: string }
  | { kind: "unknown"; words: string[] }
  | { kind: "invalid"; line: string; error: string };

export function parseRequest(line: string): Request {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    return { kind: "invalid", line, error: (e as Error).message };
  }
  if (!Array.isArray(value) || !value.every((w) => typeof w === "string")) {
    return { kind: "invalid", line, error: "expected a JSON array of strings" };
  }
  const [command, ...rest] = value as string[];
  if (command === "snapshot") return { kind: "snapshot", args: rest };
  if (command === "debug") return { kind: "debug", words: rest };
  if (command === "pwd" && rest.length === 1) return { kind: "pwd", dir: rest[0] };
  if (command === "log" && rest.length === 1) return { kind: "log", text: rest[0] };
  return { kind: "unknown", words: value as string[] };
}

/** The runner's error lines for a request it cannot serve (texts fixed by the contract). */
export function requestErrorLines(req: Request): string[] {
  switch (req.kind) {
    case "invalid":
      return [`Invalid command pipe request: ${JSON.stringify(req.line)}`, `Error: ${req.error}`];
    case "unknown":
      return [`Unknown command in command pipe: ${JSON.stringify(req.words)}`];
    default:
      return [];
  }
}

export const Reply = { run: "true", skip: "exit 0", fail: "exit 1" } as const;

/** Encodes a request line the way the bash `snapshot` function does (used by nested runners and tests). */
export function encodeRequest(words: string[]): string {
  return JSON.stringify(words);
}

/** The exported bash function `snapshot` (BASH_FUNC_snapshot%% value). */
export const SNAPSHOT_FUNCTION = `() {\n${snapshotBody}\n}`;

/** The exported bash function `taskrunner`: nested tasks through the toplevel (toplevel/nested-server.ts). */
export const TASKRUNNER_FUNCTION = `() {\n${taskrunnerBody
  .split("\n")
  .filter((line) => !/^\s*#/.test(line))
  .join("\n")}\n}`;
