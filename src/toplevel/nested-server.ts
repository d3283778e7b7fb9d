// Nested tasks served by the toplevel. A nested `taskrunner` used to be a new
// process: ~3 ms of Bun start-up, ~2 ms of set-up and a cold first hash for
// every task, most of a skipped task's cost. The toplevel lives for the whole
// build, so it runs nested tasks itself: their tasks' bash gets an exported
// function `taskrunner` (src/controller/shell/taskrunner.sh) that sends the toplevel its
// arguments, cwd, umask, limits and environment over a loopback TCP connection (bash
// has no Unix sockets), and gets back `exit N`.
//
// Three parts: the wire format (nested-wire.ts), whether a request is served
// here or declined (nested-admission.ts), and this file, the socket's life.
//
// The port is open to every local user (and listed in /proc/net/tcp), so a
// connection must start with the build's random token, which only its tasks'
// environments hold; one that does not is dropped after its first bytes,
// having cost this process nothing. Connections still without the token are
// few (the oldest is told to run the binary when there are too many) and
// short-lived; a request is capped in size and in the time to send it.
import type { Socket } from "bun";
import type { Env } from "../config";
import type { HeldJob, ProcessHost, RunHeld } from "../task/context";
import { INTERNAL } from "../internal-env";
import { processVariables } from "./process-env";
import { describeError } from "../sys/errors";
import { processLine } from "../output/render";
import type { Interruption } from "../sys/signals";
import { RequestReader, Replies, type Request } from "./nested-wire";
import { admit, declineLine, type Here } from "./nested-admission";

/** Connections that have not shown the token yet; one more sends the oldest away. */
const MAX_UNAUTHENTICATED = 64;
/** To show the token (the function sends it first, at once)… */
const TOKEN_DEADLINE_MS = 10_000;
/** …and then the whole request (`fallback` after that: the caller runs the binary). */
const REQUEST_DEADLINE_MS = 60_000;

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

/** Admits a request and runs it through run, or declines it. The exit code, or null: the caller runs the binary. */
function server(host: ProcessHost, run: RunHeld, ownEnv: Env, debug: (m: string) => void, toplevel: Interruption) {
  // Taken on first use: enumerating process.env is slow.
  let own: Record<string, string> | null = null;
  // The limits a task started here gets, per bash, asked once per build.
  const ownLimits = new Map<string, ReturnType<typeof limitsOf>>();
  const here: Here = {
    host,
    ownVariables: () => (own ??= processVariables(ownEnv)),
    limitsHere: (bash) => ownLimits.get(bash) ?? ownLimits.set(bash, limitsOf(bash)).get(bash)!,
    interrupted: () => (toplevel.by === null ? null : { signal: toplevel.by, exitCode: toplevel.exitCode! }),
  };
  return async (req: Request, onCallerGone: HeldJob["onCallerGone"]): Promise<number | null> => {
    const a = await admit(req, here);
    if (a.kind === "declined") {
      (a.parent ? (m: string) => a.parent!.debug(m) : debug)(declineLine(req.args, a));
      return null;
    }
    if (a.kind === "interrupted") {
      debug(`Subtask ${a.job} not started: the build was interrupted by ${toplevel.by}`);
      return a.exitCode;
    }
    const { parent } = a;
    const toParent = (text: string, logOnly?: boolean) => parent.debug(text, logOnly);
    toParent(`Starting subtask ${a.name}`);
    const request = { name: a.name, force: a.force, cmd: a.cmd, args: a.args };
    // The task holds the lock too: killing this process does not free the job while its body runs (state/locks.ts).
    return await run(
      request,
      a.config,
      req.env,
      a.cwd,
      { lockFd: a.lockFd, toParent, umask: req.umask, onCallerGone },
      true,
    );
  };
}

interface Connection {
  reader: RequestReader;
  /** Nothing more is read: the request is being served, or was answered or dropped. */
  done: boolean;
  gone: (() => void)[];
  closed: boolean;
  /** Drops the connection (not authenticated yet) or replies `fallback` when it takes too long. */
  deadline: ReturnType<typeof setTimeout>;
  reply: (text: string) => void;
  drop: () => void;
}

/** A new connection, given TOKEN_DEADLINE_MS to show the token; replying or dropping it forgets it first. */
function connection(socket: Socket<Connection>, tokenBytes: Buffer, forget: (c: Connection) => void): Connection {
  const c: Connection = {
    reader: new RequestReader(tokenBytes),
    done: false,
    gone: [],
    closed: false,
    deadline: setTimeout(() => c.reply(Replies.fallback), TOKEN_DEADLINE_MS),
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
  return c;
}

export function serveNested(
  host: ProcessHost,
  run: RunHeld,
  ownEnv: Env,
  debug: (m: string) => void,
  toplevel: Interruption,
): NestedServer | null {
  const token = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex");
  // What a connection must start with.
  const tokenBytes = Buffer.from(`${token}\0`);
  const serve = server(host, run, ownEnv, debug, toplevel);
  const running = new Set<Promise<unknown>>();
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
    c.reader.clear();
    c.done = true;
  };
  const authenticated = (c: Connection) => {
    unauthenticated.delete(c);
    pending.add(c);
    clearTimeout(c.deadline);
    c.deadline = setTimeout(() => {
      debug(
        `nested task server: a request did not arrive whole within ${REQUEST_DEADLINE_MS / 1000} s; ` +
          "its caller runs the binary",
      );
      c.reply(Replies.fallback);
    }, REQUEST_DEADLINE_MS);
    c.deadline.unref();
  };
  const start = (c: Connection, req: Request) => {
    const work = serve(req, (interrupt) => c.gone.push(interrupt))
      .then((code) => c.reply(code === null ? Replies.fallback : Replies.exit(code)))
      .catch((e) => {
        // As a taskrunner process would say it (main.ts).
        host.terminal.write(false, new TextEncoder().encode(`${processLine(`internal error: ${describeError(e)}`)}\n`));
        c.reply(Replies.exit(1));
      })
      .finally(() => running.delete(work));
    running.add(work);
  };
  try {
    const listener = Bun.listen<Connection>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(socket) {
          // Crowded out, or too slow to show the token: told to run the binary, in case it is one of
          // our callers (a neighbour learns nothing it did not know); a wrong token is dropped.
          if (unauthenticated.size >= MAX_UNAUTHENTICATED)
            unauthenticated.values().next().value?.reply(Replies.fallback);
          const c = connection(socket, tokenBytes, forget);
          socket.data = c;
          unauthenticated.add(c);
        },
        data(socket, data) {
          const c = socket.data;
          if (c.done) return;
          let reading = c.reader.push(data);
          if (reading.kind === "wrong-token") return c.drop();
          if (reading.kind === "authenticated") {
            authenticated(c);
            reading = c.reader.rest();
          }
          if (reading.kind === "more" || reading.kind === "authenticated" || reading.kind === "wrong-token") return;
          forget(c);
          if (reading.kind === "bad" || stopping) {
            debug(
              `nested task server: a request ${reading.kind === "bad" ? reading.why : "arriving as the build ends"}; ` +
                "its caller runs the binary",
            );
            return c.reply(Replies.fallback);
          }
          start(c, reading.request);
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
      env: { [INTERNAL.runPort]: String(listener.port), [INTERNAL.runToken]: token },
      async stop() {
        if (running.size > 0) debug(`Waiting for ${running.size} nested task(s) still running`);
        while (running.size > 0) await Promise.allSettled([...running]);
        stopping = true;
        if (pending.size > 0)
          debug(
            `nested task server: ${pending.size} request(s) still arriving as the build ends; ` +
              "their callers run the binary",
          );
        for (const c of pending) c.reply(Replies.fallback);
        for (const c of unauthenticated) c.drop();
        listener.stop(true);
      },
    };
  } catch (e) {
    debug(`nested task server not started: ${describeError(e)}`);
    return null;
  }
}
