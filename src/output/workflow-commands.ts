// GitHub Actions workflow commands (`::group::`, `::error`) and how a task's
// own lines are kept from being read as one. The runner (actions/runner,
// src/Runner.Common/ActionCommand.cs) reads a step's output line by line with
// .NET's ReadLine, which also ends a line at a lone "\r", and takes a line as a
// command when, after leading whitespace, it starts with "::" (TryParseV2), or
// when it holds "##[" anywhere (the legacy TryParse). Our lines start with a
// timestamp or "[NAME]", so only the second form, or a "\r" that starts a new
// line inside one of ours, can reach it: a batch holding either is wrapped in
// `::stop-commands::TOKEN` … `::TOKEN::`, with a token no task can know, and
// the runner prints it as it is (ActionCommandManager.TryProcessCommand).

const encoder = new TextEncoder();

/** A command's message (RFC-less: the runner's UnescapeData reverses exactly this). */
export function escapeData(text: string): string {
  return text.replaceAll("%", "%25").replaceAll("\r", "%0D").replaceAll("\n", "%0A");
}

/** A command's property value (UnescapeProperty). */
export function escapeProperty(text: string): string {
  return escapeData(text).replaceAll(":", "%3A").replaceAll(",", "%2C");
}

const HASH = 0x23;
const BRACKET = 0x5b;
const CR = 0x0d;

/** Whether the runner could read a command somewhere in these bytes: a "\r" (a new line to it) or "##[". */
export function couldHoldCommand(data: Uint8Array): boolean {
  if (data.indexOf(CR) !== -1) return true;
  for (let i = data.indexOf(HASH); i !== -1 && i + 2 < data.length; i = data.indexOf(HASH, i + 1)) {
    if (data[i + 1] === HASH && data[i + 2] === BRACKET) return true;
  }
  return false;
}

/** The bytes, wrapped so that the runner takes nothing in them as a command. */
export function shielded(data: Uint8Array): Uint8Array[] {
  if (!couldHoldCommand(data)) return [data];
  const token = `taskrunner-${crypto.randomUUID().replaceAll("-", "")}`;
  return [encoder.encode(`::stop-commands::${token}\n`), data, encoder.encode(`::${token}::\n`)];
}
