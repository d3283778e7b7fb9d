// argv → what to do. Options are recognised only before CMD; from CMD on every
// word belongs to the task (`taskrunner -n x bash -c 'echo -f'` keeps its -f).
import { basename } from "./sys/paths";

export type Cli =
  | { kind: "run"; name: string; force: boolean; cmd: string; args: string[] }
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "explain"; name: string }
  | { kind: "usage-error"; message: string };

export const USAGE = "taskrunner [-n NAME | --name NAME] [-f | --force] CMD [ARGS...]";
export const SHORT_USAGE = "taskrunner [-n NAME] [-f] CMD [ARGS...]";

/**
 * A task name is a file name in the state directory with suffixes added —
 * the longest `<name>.json.<pid>.tmp` while its record is written (a pid has
 * up to 7 digits) — and a file name has at most 255 bytes.
 */
export const MAX_JOB_NAME_BYTES = 255 - ".json.4194304.tmp".length;

export function validateJobName(name: string): string | null {
  if (name === "" || name === "." || name === "..") return `invalid task name ${JSON.stringify(name)}`;
  if (/[/\0\n]/.test(name)) return `invalid task name ${JSON.stringify(name)}: it names a file, so it cannot contain "/" or newlines`;
  const bytes = Buffer.byteLength(name);
  if (bytes > MAX_JOB_NAME_BYTES) {
    return `task name too long (${bytes} bytes): it names files in the state directory, so it can have at most ${MAX_JOB_NAME_BYTES} bytes`;
  }
  return null;
}

export function parseCli(argv: string[]): Cli {
  let name: string | null = null;
  let force = false;
  let i = 0;
  const error = (message: string): Cli => ({ kind: "usage-error", message });
  for (; i < argv.length; i++) {
    const word = argv[i];
    if (word === "--") {
      i++;
      break;
    }
    if (!word.startsWith("-") || word === "-") break;
    if (word === "-h" || word === "--help") return { kind: "help" };
    if (word === "--version" || word === "-V") return { kind: "version" };
    if (word === "--explain") {
      if (i + 1 >= argv.length) return error("option --explain needs a task name: --explain NAME");
      return { kind: "explain", name: argv[i + 1] };
    }
    if (word === "-f" || word === "--force") {
      force = true;
    } else if (word === "-n" || word === "--name") {
      if (i + 1 >= argv.length) return error(`option ${word} needs a value: ${word} NAME`);
      name = argv[++i];
    } else if (word.startsWith("--name=")) {
      name = word.slice("--name=".length);
    } else {
      return error(`unknown option ${JSON.stringify(word)} (options go before CMD)`);
    }
  }
  if (i >= argv.length) return error("no command given");
  const cmd = argv[i];
  const jobName = name ?? basename(cmd);
  const bad = validateJobName(jobName);
  if (bad) return error(bad);
  return { kind: "run", name: jobName, force, cmd, args: argv.slice(i + 1) };
}

export function renderHelp(version: string): string {
  return `taskrunner ${version}
Runs CMD as the named task NAME: one instance at a time system-wide, output
lines labelled [NAME], a log per task, skipped when its declared inputs are
unchanged (see \`snapshot\` in the README).

Usage: ${USAGE}

Options (only before CMD):
  -n, --name NAME   task name (default: the base name of CMD)
  -f, --force       run this task even if its inputs are unchanged or cached
                    (nested tasks are not forced)
  -h, --help        show this help
  -V, --version     show the version
  --explain NAME    say why NAME last ran instead of being skipped (files
                    added/removed/modified, raw inputs, main-branch commit)

Environment: TASKRUNNER_STATE_DIRECTORY (default /tmp/taskrunner),
TASKRUNNER_LOG_INFO=1, TASKRUNNER_DEBUG=1, TASKRUNNER_QUIET=1,
TASKRUNNER_DISABLE_TIMESTAMPS=1 and more: see the README.
`;
}
