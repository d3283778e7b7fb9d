// The command line (docs/contract.md §1), defined once with citty's defineCommand (meta,
// args); --help is citty's rendering of that definition. Options are
// recognised only before CMD, so this module finds where CMD starts — `-n` /
// `--name` and `--explain` take a value, `--` ends the options — and hands a
// parser only the option words: from CMD on, every word is the task's,
// untouched (`taskrunner -n x bash -c 'echo -f'` keeps its -f).
//
// Start-up cost: citty's parser needs node:util, ~1.5 ms at every start of
// the compiled binary even unused (bench/README.md). So citty runs only
// in usage.ts, a lazily loaded entry point of the binary — for --help, and for
// an option word spelled other than plainly (-nNAME, --no-force, a mistake),
// which citty then parses — and the plain spellings (-n NAME, --name NAME,
// --name=NAME, -f, --force, -h, --help, -V, --version, --explain NAME) are
// matched here, against the same definition. The definition is citty's
// CommandDef as data: usage.ts hands it to defineCommand. Importing anything
// of citty here would put its parser in this entry too (the bundler shares a
// module's code between the entry points that import it).
import type { ArgsDef, CommandMeta } from "citty";
import { basename } from "./sys/paths";
import { PRUNE_ARGS, PRUNE_USAGE, pruneCli, type PruneCli, type PruneValues } from "./cli-prune";
import { VERSION } from "./version";

export type Cli =
  | { kind: "run"; name: string; force: boolean; cmd: string; args: string[] }
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "explain"; name: string }
  | PruneCli
  | { kind: "usage-error"; message: string; usage?: string };

export const SHORT_USAGE = "taskrunner [-n NAME] [-f] CMD [ARGS...]";

const args = {
  name: { type: "string", alias: "n", valueHint: "NAME", description: "task name (default: the base name of CMD)" },
  force: {
    type: "boolean",
    alias: "f",
    description: "run this task even if its inputs are unchanged or cached (nested tasks are not forced)",
  },
  explain: {
    type: "string",
    valueHint: "NAME",
    description:
      "say why NAME last ran instead of being skipped (files added/removed/modified, raw inputs, main-branch commit)",
  },
  ...PRUNE_ARGS,
  help: { type: "boolean", alias: "h", description: "show this help" },
  version: { type: "boolean", alias: "V", description: "show the version" },
  cmd: { type: "positional", description: "the command to run as the task; options are recognised only before it" },
  args: { type: "positional", required: false, description: "its arguments, passed untouched" },
} as const satisfies ArgsDef;

const meta = {
  name: "taskrunner",
  version: VERSION,
  description: "Run build scripts as named tasks",
} satisfies CommandMeta;

/** What --help adds below citty's usage. */
export const HELP_EPILOGUE = `CMD runs as the task NAME: one instance at a time system-wide, its output
lines labelled [NAME], a log per task. Inside it, \`snapshot\` declares its
inputs and outputs, and the task is skipped when they are unchanged (README).

Environment: TASKRUNNER_STATE_DIRECTORY (default /tmp/taskrunner),
TASKRUNNER_LOG_INFO=1, TASKRUNNER_DEBUG=1, TASKRUNNER_QUIET=1,
TASKRUNNER_DISABLE_TIMESTAMPS=1 and more: see the README.`;

/**
 * A task name is a file name in the state directory with suffixes added (the
 * longest, `<name>.json.XXXXXX`, while its record is written), and a file name
 * has at most 255 bytes. 238 leaves room to spare, and is what names could
 * always have.
 */
export const MAX_JOB_NAME_BYTES = 238;

export function validateJobName(name: string): string | null {
  if (name === "" || name === "." || name === "..") return `invalid task name ${JSON.stringify(name)}`;
  if (/[/\0\n]/.test(name))
    return `invalid task name ${JSON.stringify(name)}: it names a file, so it cannot contain "/" or newlines`;
  const bytes = Buffer.byteLength(name);
  if (bytes > MAX_JOB_NAME_BYTES) {
    return (
      `task name too long (${bytes} bytes): it names files in the state directory, ` +
      `so it can have at most ${MAX_JOB_NAME_BYTES} bytes`
    );
  }
  return null;
}

type OptionName = "name" | "force" | "explain" | "help" | "version" | keyof typeof PRUNE_ARGS;

/** Each plain spelling of an option (`--name`, `-n`, …), from the definition. */
function spellings(): Map<string, { name: OptionName; takesValue: boolean }> {
  const map = new Map<string, { name: OptionName; takesValue: boolean }>();
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") continue;
    const spec = { name: name as OptionName, takesValue: def.type === "string" };
    map.set(`--${name}`, spec);
    if ("alias" in def) map.set(`-${def.alias}`, spec);
  }
  return map;
}

/**
 * Whether an option word takes the next word as its value: `-n`, `--name`,
 * `--explain`, and a group of short options whose first value-taking one is
 * its last letter (`-fn NAME`; in `-nNAME` the value is inside the word).
 */
function takesNextWord(word: string, known: ReturnType<typeof spellings>): boolean {
  if (known.get(word)?.takesValue) return true;
  if (word.startsWith("--") || word.includes("=")) return false;
  for (let i = 1; i < word.length; i++) if (known.get(`-${word[i]}`)?.takesValue) return i === word.length - 1;
  return false;
}

/** The words before CMD that are options (with their values), and where CMD starts (argv.length when there is none). */
export function splitAtCommand(argv: string[]): { options: string[]; cmd: number } {
  const known = spellings();
  const options: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const word = argv[i];
    if (word === "--") return { options, cmd: i + 1 };
    if (!word.startsWith("-") || word === "-") break;
    options.push(word);
    if (takesNextWord(word, known) && i + 1 < argv.length) options.push(argv[++i]);
  }
  return { options, cmd: i };
}

type Values = { name?: string; force?: boolean } & PruneValues;

/**
 * argv → what to do, when every option word is a plain spelling; else
 * `unusual`, naming the first word that is not (parseCommandLine has citty
 * parse those). Left to right: --help, --version and --explain answer at once.
 */
export function parseCli(argv: string[]): Cli | { kind: "unusual"; word: string } {
  const known = spellings();
  const { options, cmd } = splitAtCommand(argv);
  const values: Values = {};
  for (let i = 0; i < options.length; i++) {
    const word = options[i];
    const eq = word.startsWith("--") ? word.indexOf("=") : -1;
    const spec = known.get(eq > 0 ? word.slice(0, eq) : word);
    if (!spec || (eq > 0 && !spec.takesValue)) return { kind: "unusual", word };
    if (spec.takesValue) {
      const value = eq > 0 ? word.slice(eq + 1) : options[++i];
      if (value === undefined) return missingValue(spec.name, word);
      if (spec.name === "explain") return explainCli(value);
      if (spec.name === "max-age" || spec.name === "max-size") values[spec.name] = value;
      else values.name = value;
    } else if (spec.name === "help" || spec.name === "version") {
      return { kind: spec.name };
    } else if (spec.name === "prune-cache") {
      values["prune-cache"] = true;
    } else {
      values.force = true;
    }
  }
  return toCli(values, argv, cmd);
}

/** parseCli, with citty parsing the option words when one of them is not a plain spelling. */
export async function parseCommandLine(argv: string[]): Promise<Cli> {
  const quick = parseCli(argv);
  if (quick.kind !== "unusual") return quick;
  const { options, cmd } = splitAtCommand(argv);
  const optionDefs = Object.fromEntries(Object.entries(args).filter(([, def]) => def.type !== "positional"));
  const parsed = (await loadUsage()).parseOptionWords(options, optionDefs);
  // citty sets each kebab-case option under its camelCase name too (max-age, maxAge).
  const names = [...spellings().keys()].map((s) => s.replace(/^-+/, ""));
  const known = new Set(["_", ...names, ...names.map((n) => n.replace(/-(.)/g, (_, c: string) => c.toUpperCase()))]);
  const unknown = Object.keys(parsed).find((k) => !known.has(k));
  if (unknown !== undefined || (parsed._ as string[]).length > 0) {
    const word = unknown === undefined ? quick.word : unknown.length === 1 ? `-${unknown}` : `--${unknown}`;
    return usageError(`unknown option ${JSON.stringify(word)} (options go before CMD)`);
  }
  for (const key of ["name", "explain", "max-age", "max-size"] as const) {
    if (parsed[key] !== undefined && typeof parsed[key] !== "string") return missingValue(key, `--${key}`);
  }
  if (parsed.help === true) return { kind: "help" };
  if (parsed.version === true) return { kind: "version" };
  if (typeof parsed.explain === "string") return explainCli(parsed.explain);
  const values: Values = {
    name: parsed.name as string | undefined,
    force: parsed.force === true,
    "prune-cache": parsed["prune-cache"] === true,
  };
  for (const key of ["max-age", "max-size"] as const) if (typeof parsed[key] === "string") values[key] = parsed[key];
  return toCli(values, argv, cmd);
}

function toCli(values: Values, argv: string[], cmd: number): Cli {
  const prune = pruneCli(values, argv[cmd]);
  if (prune) return prune;
  if (cmd >= argv.length) return usageError("no command given");
  const name = values.name ?? basename(argv[cmd]);
  const bad = validateJobName(name);
  if (bad) return usageError(bad);
  return { kind: "run", name, force: values.force ?? false, cmd: argv[cmd], args: argv.slice(cmd + 1) };
}

/** --explain NAME: a task name by the same rule as -n NAME (it names a file in the state directory, too). */
function explainCli(name: string): Cli {
  const bad = validateJobName(name);
  return bad ? usageError(bad) : { kind: "explain", name };
}

function missingValue(option: OptionName, word: string): Cli {
  if (option === "explain") return usageError("option --explain needs a task name: --explain NAME");
  if (option === "max-age" || option === "max-size") {
    const hint = PRUNE_ARGS[option].valueHint;
    return { ...usageError(`option ${word} needs a value: ${word} ${hint}`), usage: PRUNE_USAGE };
  }
  return usageError(`option ${word} needs a value: ${word} NAME`);
}

function usageError(message: string): Cli & { kind: "usage-error" } {
  return { kind: "usage-error", message };
}

/** --help: citty's usage of the definition, and a few lines of ours. */
export async function renderHelp(): Promise<string> {
  return (await loadUsage()).renderHelp(meta, args, HELP_EPILOGUE);
}

// The specifier is a variable so that the bundler leaves the import alone:
// build.ts compiles usage.ts as an entry point of its own (see load-remote.ts).
const USAGE = "./usage.ts";
function loadUsage(): Promise<typeof import("./usage")> {
  return import(USAGE);
}
