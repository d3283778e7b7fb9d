// The build's hashing service. A nested taskrunner is a new process: its first
// hash pays for a cold start (parsing the index, JIT warm-up: ~8 ms of a
// skipped task's ~20). The toplevel lives for the whole build, so it answers
// hash requests for its nested tasks over a Unix socket in its build
// directory, warm and with the parsed index cached (~1 ms). It hashes with the
// caller's values of every variable git reads (process-env.ts): hashing takes
// its environment as an argument, so GIT_* variables, another HOME or
// XDG_CONFIG_HOME on either side change nothing. Anything unusual — no
// service, a slow or broken answer — and the nested runner hashes by itself,
// as it would without the service, saying why in a debug line.
//
// The service answers with the blob ids of whatever files the caller names,
// with this process's rights: only its own user may connect. A socket's mode
// follows the umask (under `umask 000` anyone could), so it lives in a
// directory made for it, mode 0700, which must not exist before.
//
// A socket's path may hold ~100 bytes, and a state directory on a CI runner
// (/home/runner/work/<repo>/<repo>/…) makes a longer one. Both sides then
// name it through an open descriptor of its directory, /proc/self/fd/N/hash.sock:
// the kernel follows the descriptor to the same 0700 directory, with the
// same permission checks (an abstract socket, which needs no path, has no
// permissions at all). Only where /proc is missing does the service not start.
//
// One request and one answer per connection, each a frame (sys/frames.ts):
// decoded only once whole, written on as the socket drains, of any size.
import { hashInputs, type HashResult } from "../hash";
import type { Env } from "../config";
import { closeFd, errnoText, mkdir, openDirectory, pathExists, removeFile } from "../sys/libc";
import { processVariables, withoutProcessVariables } from "./process-env";
import { describeError } from "../sys/errors";
import { FrameReader, frame, Outbox } from "../sys/frames";

interface Request {
  cwd: string;
  pathspecs: string[];
  raw: string[];
  /** The caller's processVariables. */
  env: Record<string, string>;
  /** The caller's umask: git may write objects for it (hash/reference.ts). */
  umask?: number;
}

const MAX_PATH = 100; // sun_path is 104–108 bytes

/** The answer, in the old one-line format, to a client that does not send frames. */
const OTHER_PROTOCOL = { ok: false, error: "unsupported", reason: "the toplevel speaks another protocol" };

/**
 * The service's answer: a hash (or the error hashing gives) and why it was hashed the reference way,
 * if it was; or why the caller should hash by itself.
 */
type Answer = (HashResult & { fallback?: string }) | { ok: false; error: "unsupported"; reason: string };

/** A hash the service made, and why it hashed the reference way, when it did (for the caller's log). */
export type ServedHash = HashResult & { fallback?: string };

/**
 * Creates `dir` (0700) and serves at `<dir>/hash.sock`; null (and a debug
 * line saying why) when the path is too long for a socket, `dir` exists
 * already, or listening fails.
 */
export function serveHashing(dir: string, env: Env, debug: (m: string) => void): { path: string; stop(): void } | null {
  const path = `${dir}/hash.sock`;
  if (tooLong(path) && !pathExists(PROC_FDS)) {
    debug(
      `hash service not started: its socket path ${path} is longer than a socket's ${MAX_PATH} bytes, ` +
        `and there is no ${PROC_FDS} to shorten it`,
    );
    return null;
  }
  const made = mkdir(dir, 0o700);
  if (made !== 0) {
    debug(`hash service not started: cannot create ${dir}: ${errnoText(made)}`);
    return null;
  }
  // On first use: enumerating process.env is slow. The rest of git's environment (PATH, say) is ours.
  let base: Env | null = null;
  const answer = async (payload: Uint8Array): Promise<Answer> => {
    const req = decodeMessage(payload) as Request;
    base ??= withoutProcessVariables(env);
    // What git would see in the caller's process.
    const gitEnv = { ...base, ...req.env };
    const { umask } = req;
    const valid = typeof umask === "number" && Number.isInteger(umask) && umask >= 0 && umask <= 0o777;
    let fallback: string | undefined;
    const opts = { env: gitEnv, umask: valid ? umask : null, onFallback: (r: string) => (fallback = r) };
    const hashed = await hashInputs(req.cwd, req.pathspecs, req.raw, opts);
    return fallback === undefined ? hashed : { ...hashed, fallback };
  };
  let address: SocketAddress | null = null;
  try {
    address = socketAddress(path);
    const server = Bun.listen<Connection>({
      unix: address.name,
      socket: {
        open(socket) {
          socket.data = { reader: new FrameReader(), outbox: new Outbox(socket), asked: false };
        },
        data(socket, data) {
          const c = socket.data;
          const [payload] = c.reader.push(data);
          if (c.reader.foreign) {
            // Another version's client (one JSON line): it hashes by itself.
            debug("hash service: a request in another protocol; its caller hashes by itself");
            socket.end(`${JSON.stringify(OTHER_PROTOCOL)}\n`);
            return;
          }
          if (payload === undefined || c.asked) return;
          c.asked = true;
          answer(payload)
            .catch((e): Answer => ({ ok: false, error: `hash service: ${describeError(e)}` }))
            .then((reply) => c.outbox.send(encodeMessage(reply), () => socket.end()));
        },
        drain(socket) {
          socket.data.outbox.flush();
        },
        error(_socket, e) {
          debug(`hash service connection failed: ${e.message}`);
        },
      },
    });
    return {
      path,
      stop() {
        server.stop(true);
        removeFile(path);
      },
    };
  } catch (e) {
    debug(`hash service not started: ${describeError(e)}`);
    return null;
  } finally {
    address?.close(); // bound: the socket stays in the directory
  }
}

const PROC_FDS = "/proc/self/fd";

function tooLong(path: string): boolean {
  return Buffer.byteLength(path) > MAX_PATH;
}

interface SocketAddress {
  /** What to bind or connect to. */
  name: string;
  /** Once bound or connected (again is harmless). */
  close(): void;
}

/** path itself, or when it is too long for a socket, the same file through an open descriptor of its directory. */
function socketAddress(path: string): SocketAddress {
  if (!tooLong(path)) return { name: path, close() {} };
  const slash = path.lastIndexOf("/");
  const dir = path.slice(0, slash) || "/";
  const fd = openDirectory(dir);
  if (fd < 0) throw new Error(`cannot open ${dir}: ${errnoText(-fd)}`);
  let open = true;
  const close = () => {
    // Once only: a second close could close a descriptor the number was given to since.
    if (open) closeFd(fd);
    open = false;
  };
  return { name: `${PROC_FDS}/${fd}${path.slice(slash)}`, close };
}

/** The toplevel's answer, or why the caller should hash by itself. */
export async function hashViaService(
  path: string,
  env: Env,
  cwd: string,
  pathspecs: string[],
  raw: string[],
  timeoutMs = 5000,
): Promise<ServedHash | { declined: string }> {
  const req: Request = { cwd, pathspecs, raw, env: processVariables(env), umask: process.umask() };
  let address: SocketAddress;
  try {
    address = socketAddress(path);
  } catch (e) {
    return { declined: describeError(e) };
  }
  return new Promise((resolve) => {
    const reader = new FrameReader();
    let settled = false;
    const done = (v: ServedHash | { declined: string }) => {
      address.close();
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(v);
    };
    const timer = setTimeout(() => done({ declined: `no answer within ${timeoutMs / 1000} s` }), timeoutMs);
    const request = encodeMessage(req);
    Bun.connect<Outbox>({
      unix: address.name,
      socket: {
        open(socket) {
          address.close(); // connected
          socket.data = new Outbox(socket);
          socket.data.send(request);
        },
        drain(socket) {
          socket.data.flush();
        },
        data(_socket, data) {
          const [payload] = reader.push(data);
          if (reader.foreign) return done({ declined: "its answer is not a frame of this version's protocol" });
          if (payload === undefined) return;
          let reply: Answer;
          try {
            reply = decodeMessage(payload) as Answer;
          } catch (e) {
            return done({ declined: `its answer does not parse (${describeError(e)})` });
          }
          done(!reply.ok && "reason" in reply ? { declined: `it declined: ${reply.reason}` } : reply);
        },
        close() {
          done({ declined: "it closed the connection without answering" });
        },
        error(_socket, e) {
          done({ declined: `the connection failed (${describeError(e)})` });
        },
        connectError(_socket, e) {
          done({ declined: `cannot connect to ${path} (${describeError(e)})` });
        },
      },
    }).catch((e) => done({ declined: `cannot connect to ${path} (${describeError(e)})` }));
  });
}

interface Connection {
  reader: FrameReader;
  outbox: Outbox;
  /** One request per connection: anything after it is ignored. */
  asked: boolean;
}

// JSON keeps the byte strings of sys/bytes.ts (lone surrogates travel as \u escapes);
// the payload is decoded only once whole, so no character is ever cut in two.
const encodeMessage = (v: unknown): Uint8Array => frame(new TextEncoder().encode(JSON.stringify(v)));
const decodeMessage = (payload: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(payload));
