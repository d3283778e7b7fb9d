// The command line's heavier half: citty's parser and usage renderer. An
// entry point of the binary of its own (build.ts), loaded by cli.ts only for
// --help and for option words it does not know by sight: citty's parser needs
// node:util, which costs every start ~1.5 ms when it is in the main entry.
import { isatty } from "node:tty";
import { defineCommand, parseArgs, renderUsage, type ArgsDef, type CommandMeta } from "citty";

/** citty's reading of the option words (never the task's words): every key it set, aliases included. */
export function parseOptionWords(words: string[], args: ArgsDef): Record<string, unknown> {
  return { ...parseArgs(words, args) };
}

// citty colours its usage unless NO_COLOR, TERM=dumb, CI or TEST is set; a
// pipe or a file gets plain text.
const ANSI = /\u001b\[[0-9;]*m/g;

/** The command line as cli.ts defines it (meta, args), rendered by citty, and the epilogue below it. */
export async function renderHelp<T extends ArgsDef>(meta: CommandMeta, args: T, epilogue: string): Promise<string> {
  const text = `${await renderUsage(defineCommand({ meta, args }))}\n\n${epilogue}`;
  return isatty(1) ? text : text.replace(ANSI, "");
}
