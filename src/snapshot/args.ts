// The `snapshot` argument grammar (docs/contract.md §7): words before -o/--outputs are
// input pathspecs, words after it are outputs.

export interface SnapshotArgs {
  fileInputs: string[];
  rawInputs: string[];
  outputs: string[];
  postUnpackCommands: string[];
  fuzzyCache: boolean;
  cacheRoot: string | null;
  cacheVersion: string | null;
  commitStatus: boolean;
  cacheSuccess: boolean;
  longRunning: boolean;
  /** Ours (--hash-command): the task's command line is an input too (commandInput). */
  hashCommand: boolean;
}

export type ParsedSnapshotArgs = { ok: true; args: SnapshotArgs } | { ok: false; error: string };

export function parseSnapshotArgs(words: string[]): ParsedSnapshotArgs {
  const args: SnapshotArgs = {
    fileInputs: [],
    rawInputs: [],
    outputs: [],
    postUnpackCommands: [],
    fuzzyCache: false,
    cacheRoot: null,
    cacheVersion: null,
    commitStatus: false,
    cacheSuccess: false,
    longRunning: false,
    hashCommand: false,
  };
  let afterOutputs = false;
  const invalid = (word: string): ParsedSnapshotArgs => ({
    ok: false,
    error: `Invalid option or missing argument: ${word}`,
  });
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    const hasValue = i + 1 < words.length;
    switch (word) {
      case "-o":
      case "--outputs":
        afterOutputs = true;
        continue;
      case "-c":
      case "--cmd":
        if (!hasValue) return invalid(word);
        if (!afterOutputs) return { ok: false, error: "--cmd is supported only after --outputs" };
        args.postUnpackCommands.push(words[++i]);
        continue;
      case "-l":
      case "--long-running":
        args.longRunning = true;
        continue;
      case "-n":
      case "--unskippable":
        continue; // accepted for compatibility; it never did anything
      case "--raw":
        if (!hasValue) return invalid(word);
        args.rawInputs.push(words[++i]);
        continue;
      case "--fuzzy-cache":
        args.fuzzyCache = true;
        continue;
      case "--cache-root":
        if (!hasValue) return invalid(word);
        args.cacheRoot = words[++i];
        continue;
      case "--cache-version":
        if (!hasValue) return invalid(word);
        args.cacheVersion = words[++i];
        continue;
      case "--commit-status":
        args.commitStatus = true;
        continue;
      case "--cache-success":
        args.cacheSuccess = true;
        continue;
      case "--hash-command":
        args.hashCommand = true;
        continue;
    }
    if (word.startsWith("-")) return invalid(word);
    (afterOutputs ? args.outputs : args.fileInputs).push(word);
  }
  return { ok: true, args };
}

export function hasInputs(a: SnapshotArgs): boolean {
  return a.fileInputs.length > 0 || a.rawInputs.length > 0 || a.hashCommand;
}

/**
 * The task's command line as one more raw input (--hash-command): `command: `
 * and its argv as a JSON array, as JSON.stringify writes it. A stable text the
 * docs/guides/snapshot.md documents, so the same hash can be had from the old tool with
 * `--raw 'command: [...]'` as the last raw input.
 */
export function commandInput(argv: string[]): string {
  return `command: ${JSON.stringify(argv)}`;
}

/** The raw strings the hash covers: the --raw values, then the command line with --hash-command. */
export function hashedRawInputs(a: SnapshotArgs, argv: string[]): string[] {
  return a.hashCommand ? [...a.rawInputs, commandInput(argv)] : a.rawInputs;
}

export function usesRemoteCache(a: SnapshotArgs): boolean {
  return a.cacheSuccess || a.outputs.length > 0;
}
