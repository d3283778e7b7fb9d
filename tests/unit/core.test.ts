// Pure logic: line splitting, controller framing, configuration, command line,
// snapshot arguments.
import { test, expect, describe } from "bun:test";
import { LineSplitter } from "../../src/output/lines";
import { parseRequest, requestErrorLines } from "../../src/controller/protocol";
import { loadConfig, ConfigError } from "../../src/config";
import { parseCli, parseCommandLine, renderHelp, splitAtCommand } from "../../src/cli";
import { commandInput, parseSnapshotArgs } from "../../src/snapshot/args";
import { changedPaths, explainChange, movedInputs } from "../../src/snapshot/rerun-reasons";
import { formatBuildId } from "../../src/state/layout";
import { quotePath, unquotePath } from "../../src/hash/text";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

describe("LineSplitter", () => {
  test("splits complete lines and keeps the rest for later", () => {
    const s = new LineSplitter();
    expect(s.push(enc("a\nb")).map(dec)).toEqual(["a"]);
    expect(s.push(enc("c\n\nd")).map(dec)).toEqual(["bc", ""]);
    expect(dec(s.end()!)).toBe("d");
    expect(s.end()).toBeNull();
  });
  test("a line gathered from many chunks", () => {
    const s = new LineSplitter();
    for (let i = 0; i < 1000; i++) expect(s.push(enc("xy"))).toEqual([]);
    const [line] = s.push(enc("z\n"));
    expect(line.length).toBe(2001);
  });
  test("bytes are kept as they are", () => {
    const s = new LineSplitter();
    const [line] = s.push(new Uint8Array([0xff, 0x00, 0x0d, 0x0a]));
    expect([...line]).toEqual([0xff, 0x00, 0x0d]);
  });
});

describe("controller requests", () => {
  test("snapshot, debug, unknown, invalid", () => {
    expect(parseRequest('["snapshot","a b","-o"]')).toEqual({ kind: "snapshot", args: ["a b", "-o"] });
    expect(parseRequest('["debug","Starting","subtask x"]')).toEqual({
      kind: "debug",
      words: ["Starting", "subtask x"],
    });
    const unknown = parseRequest('["random","command"]');
    expect(requestErrorLines(unknown)).toEqual(['Unknown command in command pipe: ["random","command"]']);
    const junk = parseRequest("junk");
    expect(requestErrorLines(junk)[0]).toBe('Invalid command pipe request: "junk"');
    expect(requestErrorLines(junk)[1]).toStartWith("Error: ");
    expect(parseRequest("[1,2]").kind).toBe("invalid");
    expect(parseRequest("{}").kind).toBe("invalid");
    expect(parseRequest("[]").kind).toBe("unknown");
  });
  test("pwd: the calling shell's directory, sent by our snapshot function before its request", () => {
    expect(parseRequest('["pwd","/a dir/x"]')).toEqual({ kind: "pwd", dir: "/a dir/x" });
    expect(parseRequest('["pwd"]').kind).toBe("unknown");
    expect(parseRequest('["pwd","/a","/b"]').kind).toBe("unknown");
    expect(parseRequest('["log","Subtask x logs to /s/x.log"]')).toEqual({
      kind: "log",
      text: "Subtask x logs to /s/x.log",
    });
    expect(parseRequest('["log","a","b"]').kind).toBe("unknown");
  });
});

describe("configuration", () => {
  test("defaults", () => {
    const c = loadConfig({}, "/here");
    expect(c.stateDirectory).toBe("/tmp/taskrunner");
    expect(c.rootDirectory).toBe("/here");
    expect(c.outputStreamTimeoutSeconds).toBe(5);
    expect(c.timestamps).toBe(true);
    expect(c.remoteCachePrefix).toBe("taskrunner/");
    expect(c.s3.region).toBe("eu-central-1");
    expect(c.s3.endpoint).toBeNull();
    expect(c.s3.downloadConnections).toBe(1);
  });
  test("an empty prefix is an empty prefix", () => {
    expect(loadConfig({ TASKRUNNER_REMOTE_CACHE_PREFIX: "" }, "/").remoteCachePrefix).toBe("");
  });
  test("a malformed value names the variable", () => {
    expect(() => loadConfig({ TASKRUNNER_OUTPUT_STREAM_TIMEOUT: "soon" }, "/")).toThrow(
      new ConfigError('TASKRUNNER_OUTPUT_STREAM_TIMEOUT="soon" is not valid: expected a number of seconds, e.g. 5'),
    );
    expect(() => loadConfig({ TASKRUNNER_S3_ENDPOINT: "::" }, "/")).toThrow(/TASKRUNNER_S3_ENDPOINT/);
    for (const bad of ["0", "17", "2.5", "many"])
      expect(() => loadConfig({ TASKRUNNER_S3_DOWNLOAD_CONNECTIONS: bad }, "/")).toThrow(
        new ConfigError(
          `TASKRUNNER_S3_DOWNLOAD_CONNECTIONS="${bad}" is not valid: expected a whole number from 1 to 16, e.g. 4`,
        ),
      );
    expect(loadConfig({ TASKRUNNER_S3_DOWNLOAD_CONNECTIONS: " 4 " }, "/").s3.downloadConnections).toBe(4);
    expect(() => loadConfig({ TASKRUNNER_GITHUB_TOKEN_REFRESH_THRESHOLD_SECONDS: "-1" }, "/")).toThrow(
      /TASKRUNNER_GITHUB_TOKEN_REFRESH_THRESHOLD_SECONDS/,
    );
  });
  test("GITHUB_REPOSITORY as owner/repo or a bare name; keys with | for newlines", () => {
    const a = loadConfig({ GITHUB_REPOSITORY: "acme/app" }, "/").github;
    expect([a.owner, a.repo]).toEqual(["acme", "app"]);
    const b = loadConfig({ GITHUB_REPOSITORY: "app", GITHUB_REPOSITORY_OWNER: "acme" }, "/").github;
    expect([b.owner, b.repo]).toEqual(["acme", "app"]);
    expect(loadConfig({ GITHUB_APP_PRIVATE_KEY: "a|b" }, "/").github.privateKey).toBe("a\nb");
    expect(loadConfig({ TASKRUNNER_S3_ENDPOINT: "default-aws" }, "/").s3.endpoint).toBeNull();
  });
});

describe("command line", () => {
  test("options only before CMD; default name is the base name of CMD", async () => {
    expect(await parseCommandLine(["-n", "x", "bash", "-c", "echo -f"])).toEqual({
      kind: "run",
      name: "x",
      force: false,
      cmd: "bash",
      args: ["-c", "echo -f"],
    });
    expect(await parseCommandLine(["-f", "./scripts/build.sh", "-n", "y"])).toEqual({
      kind: "run",
      name: "build.sh",
      force: true,
      cmd: "./scripts/build.sh",
      args: ["-n", "y"],
    });
    expect(await parseCommandLine(["--name=z", "--", "-weird"])).toMatchObject({
      kind: "run",
      name: "z",
      cmd: "-weird",
    });
  });
  test("help, version and usage errors", async () => {
    expect((await parseCommandLine(["--help"])).kind).toBe("help");
    expect((await parseCommandLine(["--help", "--bogus"])).kind).toBe("help");
    expect((await parseCommandLine(["--version"])).kind).toBe("version");
    expect(await parseCommandLine(["--explain", "job", "ignored"])).toEqual({ kind: "explain", name: "job" });
    expect(await parseCommandLine([])).toEqual({ kind: "usage-error", message: "no command given" });
    expect(await parseCommandLine(["-x", "true"])).toEqual({
      kind: "usage-error",
      message: 'unknown option "-x" (options go before CMD)',
    });
    expect(await parseCommandLine(["--bogus", "--help"])).toEqual({
      kind: "usage-error",
      message: 'unknown option "--bogus" (options go before CMD)',
    });
    expect(await parseCommandLine(["-n"])).toEqual({
      kind: "usage-error",
      message: "option -n needs a value: -n NAME",
    });
    expect(await parseCommandLine(["--explain"])).toEqual({
      kind: "usage-error",
      message: "option --explain needs a task name: --explain NAME",
    });
    expect((await parseCommandLine(["-n", "../x", "true"])).kind).toBe("usage-error");
  });
  test("the plain spellings need no parser; citty parses the others, from the option words only", async () => {
    expect(parseCli(["-n", "x", "-f", "true"]).kind).toBe("run");
    expect(parseCli(["-nfoo", "true"])).toEqual({ kind: "unusual", word: "-nfoo" });
    expect(await parseCommandLine(["-nfoo", "bash", "-nbar"])).toEqual({
      kind: "run",
      name: "foo",
      force: false,
      cmd: "bash",
      args: ["-nbar"],
    });
    expect(await parseCommandLine(["-fn", "x", "bash", "--no-force"])).toEqual({
      kind: "run",
      name: "x",
      force: true,
      cmd: "bash",
      args: ["--no-force"],
    });
    expect(await parseCommandLine(["-f", "--no-force", "true"])).toMatchObject({ kind: "run", force: false });
    expect(await parseCommandLine(["--force=false", "true"])).toMatchObject({ kind: "run", force: false });
    expect((await parseCommandLine(["-fV"])).kind).toBe("version");
    expect(await parseCommandLine(["-nx", "-fy", "true"])).toEqual({
      kind: "usage-error",
      message: 'unknown option "-y" (options go before CMD)',
    });
  });
  test("where CMD starts: -n/--name and --explain take a value, `--` ends the options", () => {
    expect(splitAtCommand(["-n", "-f", "x", "-f"])).toEqual({ options: ["-n", "-f"], cmd: 2 });
    expect(splitAtCommand(["-fn", "name", "cmd"])).toEqual({ options: ["-fn", "name"], cmd: 2 });
    expect(splitAtCommand(["-nname", "cmd", "-n"])).toEqual({ options: ["-nname"], cmd: 1 });
    expect(splitAtCommand(["-f", "--", "-n", "x"])).toEqual({ options: ["-f"], cmd: 2 });
    expect(splitAtCommand(["-", "x"])).toEqual({ options: [], cmd: 0 });
  });
  test("--help is citty's usage of the definition, plain text on a pipe", async () => {
    const help = await renderHelp();
    expect(help).toStartWith("Run build scripts as named tasks (taskrunner v");
    expect(help).toContain("USAGE taskrunner [OPTIONS] <CMD> [ARGS]");
    expect(help).toMatch(/-n, --name=<NAME> +task name \(default: the base name of CMD\)/);
    expect(help).not.toContain("\u001b[");
  });
});

describe("snapshot arguments", () => {
  test("inputs before --outputs, outputs after", () => {
    const r = parseSnapshotArgs([
      "src",
      "--raw",
      "v1",
      "-o",
      "dist",
      "--cmd",
      "touch x",
      "--fuzzy-cache",
      "--cache-root",
      "/r",
      "--cache-version",
      "3",
      "--commit-status",
      "--cache-success",
      "-l",
      "-n",
      "--hash-command",
    ]);
    expect(r).toEqual({
      ok: true,
      args: {
        fileInputs: ["src"],
        rawInputs: ["v1"],
        outputs: ["dist"],
        postUnpackCommands: ["touch x"],
        fuzzyCache: true,
        cacheRoot: "/r",
        cacheVersion: "3",
        commitStatus: true,
        cacheSuccess: true,
        longRunning: true,
        hashCommand: true,
      },
    });
  });
  test("errors", () => {
    expect(parseSnapshotArgs(["--bogus"])).toEqual({ ok: false, error: "Invalid option or missing argument: --bogus" });
    expect(parseSnapshotArgs(["--raw"])).toEqual({ ok: false, error: "Invalid option or missing argument: --raw" });
    expect(parseSnapshotArgs(["-o", "x", "--cmd"])).toEqual({
      ok: false,
      error: "Invalid option or missing argument: --cmd",
    });
    expect(parseSnapshotArgs(["--cmd", "x"])).toEqual({ ok: false, error: "--cmd is supported only after --outputs" });
    expect(parseSnapshotArgs(["--raw", "-starts-with-dash"])).toMatchObject({ ok: true });
  });
});

test("changedPaths names what moved between two hash inputs, the raw part glued to the last line left out", () => {
  const info = (hashInput: string) => ({
    hash: "h",
    hashInput,
    mainBranchCommit: null,
    rawInputs: ["v1"],
    command: ["make"],
  });
  const raw = `v1\n${commandInput(["make"])}`;
  const before = info(`100644 blob aaa\ta.txt\n100644 blob bbb\tb.txt\n100644 blob ccc\tc.txt${raw}`);
  const after = info(`100644 blob aaa\ta.txt\n100755 blob bbb\tb.txt\n100644 blob ddd\td.txt${raw}`);
  expect(changedPaths(before, after)).toEqual(["b.txt", "c.txt", "d.txt"]);
});

test("movedInputs: whether every changed path is a declared output (or lies below one), listing paths from the work tree's top", () => {
  const info = (hashInput: string) => ({ hash: "h", hashInput, mainBranchCommit: null, rawInputs: [] });
  const before = info("100644 blob aaa\tapp/package-lock.json\n100644 blob bbb\tapp/src/a.ts");
  const lockRewritten = info("100644 blob ccc\tapp/package-lock.json\n100644 blob bbb\tapp/src/a.ts");
  const generated = info(
    `100644 blob aaa\tapp/package-lock.json\n100644 blob bbb\tapp/src/a.ts\n100644 blob ddd\t"app/gen/caf\\303\\251.ts"`,
  );
  const sourceToo = info("100644 blob ccc\tapp/package-lock.json\n100644 blob eee\tapp/src/a.ts");
  const outputs = ["/repo/app/package-lock.json", "/repo/app/gen"];
  expect(movedInputs(before, lockRewritten, "/repo", outputs)).toEqual({
    paths: ["app/package-lock.json"],
    allOutputs: true,
  });
  expect(movedInputs(before, generated, "/repo", outputs)).toEqual({
    paths: [`"app/gen/caf\\303\\251.ts"`],
    allOutputs: true,
  });
  expect(movedInputs(before, sourceToo, "/repo", outputs)).toEqual({
    paths: ["app/package-lock.json", "app/src/a.ts"],
    allOutputs: false,
  });
  // An output named like the start of a path is not above it; an unknown work tree names no output.
  expect(movedInputs(before, lockRewritten, "/repo", ["/repo/app/package-lock"]).allOutputs).toBe(false);
  expect(movedInputs(before, lockRewritten, null, outputs).allOutputs).toBe(false);
});

test("unquotePath undoes ls-tree's quoting", () => {
  expect(unquotePath("plain/file.txt")).toBe("plain/file.txt");
  expect(unquotePath(`"caf\\303\\251 \\"q\\" \\\\ \\t\\n"`)).toBe('café "q" \\ \t\n');
  for (const name of ["tab\there", "new\nline", 'quote"d', "back\\slash", "ünï", "\x01ctl"]) {
    expect(unquotePath(quotePath(Buffer.from(name), true))).toBe(name);
    expect(unquotePath(quotePath(Buffer.from(name), false))).toBe(name);
  }
});

test("build ids are ISO-8601 UTC with microseconds", () => {
  expect(formatBuildId(1_764_324_000_123_456)).toBe("2025-11-28T10:00:00.123456Z");
});

describe("why a task reran", () => {
  const line = (sha: string, path: string) => `100644 blob ${sha.repeat(40)}\t${path}`;
  test("files, raw inputs and the main-branch commit", () => {
    const saved = {
      hash: "h1",
      hashInput: `${line("a", "x.txt")}\n${line("b", "y.txt")}v1`,
      mainBranchCommit: "c1",
      rawInputs: ["v1"],
    };
    const current = {
      hash: "h2",
      hashInput: `${line("c", "x.txt")}\n${line("d", "z.txt")}v2`,
      mainBranchCommit: "c2",
      rawInputs: ["v2"],
    };
    expect(explainChange(saved, current)).toEqual([
      "files modified: x.txt",
      "files added: z.txt",
      "files removed: y.txt",
      "raw inputs changed (--raw values)",
      "main-branch commit moved: c1 → c2",
    ]);
  });
  test("the command, with --hash-command", () => {
    const files = line("a", "x.txt");
    const info = (command?: string[]) => ({
      hash: "h",
      hashInput: files + (command ? commandInput(command) : ""),
      mainBranchCommit: null,
      rawInputs: [],
      ...(command ? { command } : {}),
    });
    expect(explainChange(info(["make", "a"]), { ...info(["make", "b"]), hash: "h2" })).toEqual([
      "command changed (--hash-command)",
    ]);
    expect(explainChange(info(), { ...info(["make"]), hash: "h2" })).toEqual([
      "the command is hashed now (--hash-command added)",
    ]);
    expect(explainChange(info(["make"]), { ...info(), hash: "h2" })).toEqual([
      "the command is not hashed any more (--hash-command removed)",
    ]);
    // Raw values and the command apart: only the command changed.
    const both = (cmd: string) => ({
      hash: "h",
      hashInput: `${files}v1\n${commandInput([cmd])}`,
      mainBranchCommit: null,
      rawInputs: ["v1"],
      command: [cmd],
    });
    expect(explainChange(both("a"), { ...both("b"), hash: "h2" })).toEqual(["command changed (--hash-command)"]);
  });
  test("a hash file written by the old tool (no rawInputs key)", () => {
    const saved = { hash: "h1", hashInput: `${line("a", "x.txt")}v1`, mainBranchCommit: null };
    const current = { hash: "h2", hashInput: `${line("a", "x.txt")}v2`, mainBranchCommit: null, rawInputs: ["v2"] };
    expect(explainChange(saved, current)).toEqual(["raw inputs changed (--raw values)"]);
  });
  test("no saved hash", () => {
    expect(
      explainChange(
        { hash: "", hashInput: "", mainBranchCommit: null },
        { hash: "h", hashInput: "x", mainBranchCommit: null },
      ),
    ).toEqual(["no saved hash: first run here (or the hash file was missing or damaged)"]);
  });
});
