// Nested tasks served by the toplevel. A nested `taskrunner` used to be a new
// process: ~3 ms of Bun start-up, ~2 ms of set-up and a cold first hash for
// every task, most of a skipped task's cost. The toplevel lives for the whole
// build, so it runs nested tasks itself: their tasks' bash gets an exported
// function `taskrunner` (src/controller/shell/taskrunner.sh) that sends the toplevel its
// arguments, cwd, umask, limits and environment over a loopback TCP connection (bash
// has no Unix sockets), and gets back `exit N`.
//
// The toplevel declines — reply `fallback`, and the function runs the binary,
// the classic way — whenever serving here could differ from a process of its
// own: no valid run request, another build or state directory (or a relative
// one), other resource limits or closed toplevel streams, an environment
// that changes what this process's git, AWS or GitHub code would do, a parent
// task that is not ours, or a job lock held elsewhere (waiting must not block
// this process).
//
// The port is open to every local user (and listed in /proc/net/tcp), so a
// connection must start with the build's random token, which only its tasks'
// environments hold; one that does not is dropped after its first bytes,
// having cost this process nothing. Connections still without the token are
// few (the oldest is told to run the binary when there are too many) and
// short-lived; a request is capped in size and in the time to send it.
import { decodeBytes } from "../sys/bytes";
import { parseCli } from "../cli";
import { loadConfig, ConfigError, type Env } from "../config";
import type { Host, RunLocked, RunRequest } from "../task/context";
import { INTERNAL, readInternalEnv } from "../internal-env";
import { realPath } from "../sys/libc";
import { releaseJob, tryLockJob } from "../state/locks";
import { processEnvironmentDifference, processVariables } from "./process-env";
import { describeError } from "../sys/errors";
import { processLine } from "../output/render";
import type { Interruption } from "../sys/signals";

/**
 * Linux lets a new process have at most 6 MiB of arguments and environment (a
 * quarter of the stack limit, capped), so a caller's real request is smaller;
 * a larger one gets `fallback` (the binary then gets what exec allows).
 */
const MAX_REQUEST = 8 * 1024 * 1024;
/** Connections that have not shown the token yet; one more sends the oldest away. */
const MAX_UNAUTHENTICATED = 64;
/** To show the token (the function sends it first, at once)… */
const TOKEN_DEADLINE_MS = 10_000;
/** …and then the whole request (`fallback` after that: the caller runs the binary). */
const REQUEST_DEADLINE_MS = 60_000;

/** a and b hold the same bytes, in a time that does not tell how much of a guess was right. */
function sameSecret(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a[i] | 0) ^ b[i];
  return diff === 0;
}

/**
 * A request as the function sends it, NUL-separated: the build's TOKEN, the
 * output of `umask; ulimit -a; ulimit -Ha`, PWD, BASH (the caller's bash),
 * ARGC and the ARGC arguments, then the caller's environment as `env -0`
 * prints it, then one more NUL (an environment entry is never empty).
 * The reply is one line: `exit N`, or `fallback` (run the binary instead).
 * The token is checked, and taken off, before anything else is read.
 */
interface Request {
  umask: number;
  /** The caller's resource limits, as its bash prints them. */
  limits: string;
  pwd: string;
  bash: string;
  args: string[];
  env: Env;
}

/** The request after the token, null while more bytes are due, or "bad". */
function parseRequest(data: Buffer): Request | null | "bad" {
  // Complete once it ends in the empty entry: NUL after the last field or entry.
  if (data.length === 0 || data[data.length - 1] !== 0) return null;
  const fields = decodeBytes(data).split("\0"); // bytes kept: an argument need not be UTF-8
  const [shell, pwd, bash, argcText] = fields;
  const newline = shell.indexOf("\n");
  const umaskText = shell.slice(0, newline);
  if (newline < 0 || !/^[0-7]{1,4}$/.test(umaskText)) return "bad";
  if (fields.length < 5) return null;
  const argc = Number(argcText);
  if (!/^\d+$/.test(argcText)) return "bad";
  const firstEnv = 4 + argc;
  if (fields.length < firstEnv + 1) return null;
  const env: Env = {};
  let i = firstEnv;
  for (; i < fields.length && fields[i] !== ""; i++) {
    const eq = fields[i].indexOf("=");
    if (eq <= 0) return "bad";
    env[fields[i].slice(0, eq)] = fields[i].slice(eq + 1);
  }
  if (i >= fields.length - 1) return null; // the final empty entry has not arrived
  // `env -0` missing or refused: we cannot know the caller's environment.
  if (i === firstEnv) return "bad";
  return {
    umask: Number.parseInt(umaskText, 8),
    limits: shell.slice(newline + 1),
    pwd,
    bash,
    args: fields.slice(4, firstEnv),
    env,
  };
}

/**
 * What `ulimit -a; ulimit -Ha` prints in a bash started by this process: the
 * limits a task started here gets, or why they cannot be known. Asked of the
 * caller's own bash, so the two texts compare like for like.
 */
async function limitsOf(bash: string): Promise<{ limits: string } | { error: string }> {
  try {
    const p = Bun.spawn([bash, "-c", "ulimit -a; ulimit -Ha"], { env: {}, stdio: ["ignore", "pipe", "ignore"] });
    const [text, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    return code === 0 ? { limits: text } : { error: `${bash} -c 'ulimit -a' exited with ${code}` };
  } catch (e) {
    return { error: `cannot run ${bash}: ${describeError(e)}` };
  }
}

export interface NestedServer {
  /** For the toplevel task's environment. */
  env: Record<string, string>;
  /** Waits for the nested tasks still running here, then stops listening. */
  stop(): Promise<void>;
}

export function serveNested(
  base: Omit<Host, "jobLock" | "toParent" | "umask" | "isToplevel" | "inToplevelProcess">,
  runLocked: RunLocked,
  ownEnv: Env,
  debug: (m: string) => void,
  toplevel: Interruption,
): NestedServer | null {
  const token = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex");
  // What a connection must start with.
  const tokenBytes = Buffer.from(`${token}\0`);
  // Taken on first use: enumerating process.env is slow.
  let own: Record<string, string> | null = null;
  const ownVariables = () => (own ??= processVariables(ownEnv));
  const running = new Set<Promise<unknown>>();
  // The limits a task started here gets, per bash, asked once per build.
  const ownLimits = new Map<string, ReturnType<typeof limitsOf>>();
  const limitsHere = (bash: string) => ownLimits.get(bash) ?? ownLimits.set(bash, limitsOf(bash)).get(bash)!;

  /**
   * The exit code, or null when the caller is to run the binary instead (said
   * at debug level, in the parent task's log when it runs here, else the
   * toplevel's).
   */
  async function serve(req: Request, onCallerGone: Host["onCallerGone"]): Promise<number | null> {
    let say = debug;
    const decline = (reason: string) => {
      say(`Nested taskrunner ${JSON.stringify(req.args)} not served in the toplevel, it runs in a process of its own: ${reason}`);
      return null;
    };
    const cli = parseCli(req.args);
    // The binary prints the help, the version or the usage error, and parses options spelled another way.
    if (cli.kind === "unusual") return decline(`the option ${JSON.stringify(cli.word)} is not spelled plainly; the binary parses it`);
    if (cli.kind !== "run") return decline(`not a plain run (${cli.kind})`);
    // A signal to the toplevel reaches the tasks running then; one asked for after it (its caller's
    // bash outlived the signal: it trapped it, or was waiting for a command that ended normally)
    // does not start, and its caller gets the interrupted exit code.
    if (toplevel.by !== null) {
      debug(`Subtask ${cli.name} not started: the build was interrupted by ${toplevel.by}`);
      return toplevel.exitCode;
    }
    const { env } = req;
    const internal = readInternalEnv(env);
    if (internal.buildId !== base.paths.buildId) return decline(`it belongs to another build (${internal.buildId ?? "none"})`);
    const parent = base.registry.get(internal.parentJob ?? "");
    if (!parent) return decline(`its parent task ${JSON.stringify(internal.parentJob)} does not run in the toplevel`);
    say = (m) => parent.debug(m);
    const difference = processEnvironmentDifference(env, ownVariables());
    if (difference) return decline(difference);
    if (!req.bash.startsWith("/")) return decline(`the caller's bash is not an absolute path (${JSON.stringify(req.bash)})`);
    // A script that raised or lowered a limit (`ulimit -n 4096`) gets a process of its own.
    const limits = await limitsHere(req.bash);
    if ("error" in limits) return decline(`the toplevel's resource limits cannot be known: ${limits.error}`);
    if (limits.limits !== req.limits) return decline("the caller's resource limits differ from the toplevel's");
    // The physical directory, as getcwd(3) gives a taskrunner process.
    const cwd = realPath(req.pwd);
    if (cwd === null) return decline(`the caller's directory ${req.pwd} cannot be resolved`);
    let config;
    try {
      config = loadConfig(env, cwd);
    } catch (e) {
      if (e instanceof ConfigError) return decline(`a setting does not parse (${e.message})`);
      throw e;
    }
    if (!config.stateDirectory.startsWith("/")) return decline(`a relative state directory (${config.stateDirectory}) names another one in another directory`);
    if (config.stateDirectory !== base.paths.stateDir) return decline(`another state directory (${config.stateDirectory})`);
    if (config.nestedProcesses) return decline("TASKRUNNER_NESTED_PROCESSES=1");

    const lock = tryLockJob(base.paths.lockFile(cli.name));
    // Held: the binary waits for it, in a process of its own; this one must not block.
    if (lock.kind === "busy") return decline(`the job ${cli.name} is locked; the binary waits for it`);
    if (lock.kind === "failed") return decline(lock.message);
    const lockFd = lock.fd;
    const toParent = (text: string) => parent.debug(text);
    toParent(`Starting subtask ${cli.name}`);
    const request: RunRequest = { name: cli.name, force: cli.force, cmd: cli.cmd, args: cli.args };
    // The task holds the lock too: killing this process does not free the job while its body runs (state/locks.ts).
    const host: Host = { ...base, jobLock: lockFd, isToplevel: false, inToplevelProcess: true, toParent, umask: req.umask, onCallerGone };
    try {
      return await runLocked(request, config, env, cwd, host);
    } finally {
      releaseJob(lockFd);
    }
  }

  interface Connection {
    /** The bytes so far: the token's until it is checked, then the request's. */
    chunks: Buffer[];
    size: number;
    authenticated: boolean;
    /** Nothing more is read: the request is being served, or was answered or dropped. */
    done: boolean;
    gone: (() => void)[];
    closed: boolean;
    /** Drops the connection (not authenticated yet) or replies `fallback` when it takes too long. */
    deadline: ReturnType<typeof setTimeout>;
    reply: (text: string) => void;
    drop: () => void;
  }
  // Connections that have not shown the token yet, oldest first.
  const unauthenticated = new Set<Connection>();
  // Authenticated ones whose request has not arrived whole yet: told to run the binary when we stop.
  const pending = new Set<Connection>();
  let stopping = false;
  /** Done with reading a connection: its buffers and timer go. */
  const forget = (c: Connection) => {
    clearTimeout(c.deadline);
    unauthenticated.delete(c);
    pending.delete(c);
    c.chunks = [];
    c.size = 0;
    c.done = true;
  };
  try {
    const server = Bun.listen<Connection>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(socket) {
          // Crowded out, or too slow to show the token: told to run the binary, in case it is one of
          // our callers (a neighbour learns nothing it did not know); a wrong token is dropped.
          if (unauthenticated.size >= MAX_UNAUTHENTICATED) unauthenticated.values().next().value?.reply("fallback");
          const c: Connection = {
            chunks: [],
            size: 0,
            authenticated: false,
            done: false,
            gone: [],
            closed: false,
            deadline: setTimeout(() => c.reply("fallback"), TOKEN_DEADLINE_MS),
            reply(text) {
              forget(c);
              if (c.closed) return;
              socket.write(`${text}\n`);
              socket.end();
            },
            drop() {
              forget(c);
              if (!c.closed) socket.terminate();
            },
          };
          c.deadline.unref();
          socket.data = c;
          unauthenticated.add(c);
        },
        data(socket, data) {
          const c = socket.data;
          if (c.done) return;
          c.chunks.push(Buffer.from(data));
          c.size += data.length;
          if (!c.authenticated) {
            if (c.size < tokenBytes.length) return;
            const received = Buffer.concat(c.chunks);
            // Only once all of it is in, whatever it is: dropping at the first wrong
            // byte would tell a guesser how much of the token was right.
            if (!sameSecret(received.subarray(0, tokenBytes.length), tokenBytes)) return c.drop();
            c.authenticated = true;
            unauthenticated.delete(c);
            pending.add(c);
            clearTimeout(c.deadline);
            c.deadline = setTimeout(() => {
              debug(`nested task server: a request did not arrive whole within ${REQUEST_DEADLINE_MS / 1000} s; its caller runs the binary`);
              c.reply("fallback");
            }, REQUEST_DEADLINE_MS);
            c.deadline.unref();
            c.chunks = [received.subarray(tokenBytes.length)];
            c.size = c.chunks[0].length;
            if (c.size === 0) return;
          }
          // A request ends in NUL: parse only then.
          if (data[data.length - 1] !== 0 && c.size <= MAX_REQUEST) return;
          const tooLarge = c.size > MAX_REQUEST;
          const req = tooLarge ? "bad" : parseRequest(Buffer.concat(c.chunks));
          if (req === null) return;
          forget(c);
          if (req === "bad" || stopping) {
            const why = tooLarge ? `larger than ${MAX_REQUEST} bytes` : req === "bad" ? "that does not parse" : "arriving as the build ends";
            debug(`nested task server: a request ${why}; its caller runs the binary`);
            return c.reply("fallback");
          }
          const work = serve(req, (interrupt) => c.gone.push(interrupt))
            .then((code) => c.reply(code === null ? "fallback" : `exit ${code}`))
            .catch((e) => {
              // As a taskrunner process would say it (main.ts).
              base.terminal.write(false, new TextEncoder().encode(`${processLine(`internal error: ${describeError(e)}`)}\n`));
              c.reply("exit 1");
            })
            .finally(() => running.delete(work));
          running.add(work);
        },
        close(socket) {
          socket.data.closed = true;
          forget(socket.data);
          for (const interrupt of socket.data.gone) interrupt();
        },
        error(_socket, e) {
          debug(`nested task server: connection failed: ${e.message}`);
        },
      },
    });
    // Every served task listens for the signals the toplevel forwards.
    process.setMaxListeners(0);
    return {
      env: { [INTERNAL.runPort]: String(server.port), [INTERNAL.runToken]: token },
      async stop() {
        if (running.size > 0) debug(`Waiting for ${running.size} nested task(s) still running`);
        while (running.size > 0) await Promise.allSettled([...running]);
        stopping = true;
        if (pending.size > 0) debug(`nested task server: ${pending.size} request(s) still arriving as the build ends; their callers run the binary`);
        for (const c of pending) c.reply("fallback");
        for (const c of unauthenticated) c.drop();
        server.stop(true);
      },
    };
  } catch (e) {
    debug(`nested task server not started: ${describeError(e)}`);
    return null;
  }
}
