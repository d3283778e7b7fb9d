// The nested-task server's wire format (toplevel/nested-server.ts): what the
// exported bash function `taskrunner` (src/controller/shell/taskrunner.sh)
// sends over its loopback TCP connection, read byte by byte as it arrives.
//
// A request, NUL-separated: the build's TOKEN, the output of `umask; ulimit -a;
// ulimit -Ha`, PWD, BASH (the caller's bash), ARGC and the ARGC arguments,
// then the caller's environment as `env -0` prints it, then one more NUL (an
// environment entry is never empty). The reply is one line: `exit N`, or
// `fallback` (run the binary instead). The token is checked, and taken off,
// before anything else is read.
import type { Env } from "../config";
import { decodeBytes } from "../sys/bytes";

/**
 * Linux lets a new process have at most 6 MiB of arguments and environment (a
 * quarter of the stack limit, capped), so a caller's real request is smaller;
 * a larger one gets `fallback` (the binary then gets what exec allows).
 */
export const MAX_REQUEST = 8 * 1024 * 1024;

export interface Request {
  umask: number;
  /** The caller's resource limits, as its bash prints them. */
  limits: string;
  pwd: string;
  bash: string;
  args: string[];
  env: Env;
}

export const Replies = {
  fallback: "fallback",
  exit: (code: number) => `exit ${code}`,
} as const;

/** a and b hold the same bytes, in a time that does not tell how much of a guess was right. */
export function sameSecret(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a[i] | 0) ^ b[i];
  return diff === 0;
}

/** The request after the token, null while more bytes are due, or "bad". */
export function parseRequest(data: Buffer): Request | null | "bad" {
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

/** What the bytes so far of one connection amount to. */
export type Reading =
  | { kind: "more" }
  /** The token is shown: from now on the request has its own deadline. */
  | { kind: "authenticated" }
  /** Not the token: dropped unanswered. */
  | { kind: "wrong-token" }
  | { kind: "request"; request: Request }
  | { kind: "bad"; why: string };

/** One connection's bytes: the token's until it is checked, then the request's. */
export class RequestReader {
  private chunks: Buffer[] = [];
  private size = 0;
  authenticated = false;

  constructor(private readonly token: Uint8Array) {}

  push(data: Uint8Array): Reading {
    this.chunks.push(Buffer.from(data));
    this.size += data.length;
    if (!this.authenticated) {
      if (this.size < this.token.length) return { kind: "more" };
      const received = Buffer.concat(this.chunks);
      // Only once all of it is in, whatever it is: dropping at the first wrong
      // byte would tell a guesser how much of the token was right.
      if (!sameSecret(received.subarray(0, this.token.length), this.token)) return { kind: "wrong-token" };
      this.authenticated = true;
      this.chunks = [received.subarray(this.token.length)];
      this.size = this.chunks[0].length;
      return { kind: "authenticated" };
    }
    return this.request(data);
  }

  /** After "authenticated": what arrived with the token may be the whole request already. */
  rest(): Reading {
    return this.size === 0 ? { kind: "more" } : this.request(this.chunks[this.chunks.length - 1]);
  }

  private request(last: Uint8Array): Reading {
    // A request ends in NUL: parse only then.
    if (last[last.length - 1] !== 0 && this.size <= MAX_REQUEST) return { kind: "more" };
    if (this.size > MAX_REQUEST) return { kind: "bad", why: `larger than ${MAX_REQUEST} bytes` };
    const req = parseRequest(Buffer.concat(this.chunks));
    if (req === null) return { kind: "more" };
    return req === "bad" ? { kind: "bad", why: "that does not parse" } : { kind: "request", request: req };
  }

  /** Done with reading: its buffers go. */
  clear(): void {
    this.chunks = [];
    this.size = 0;
  }
}
