// A misbehaving HTTP endpoint for fault tests (an "S3" store, a release download folder),
// on raw TCP so that it can do what a well-behaved HTTP server library will not: never
// answer, or stop half-way through a body.
import { createServer, type Socket } from "node:net";

export type Misbehaviour =
  /** Every request gets a 500 with an S3-style XML error. */
  | { kind: "error500" }
  /** The connection is accepted and never answered. */
  | { kind: "silent" }
  /** A 200 with a Content-Length of `declared`, then only `body`, then silence. */
  | { kind: "stall-body"; body: Buffer; declared: number }
  /** The same, but the connection is closed after `body`. */
  | { kind: "drop-body"; body: Buffer; declared: number };

export interface FaultyServer {
  readonly endpoint: string;
  /** HTTP requests received so far. */
  readonly requests: number;
  stop(): Promise<void>;
}

export async function startFaultyServer(how: Misbehaviour): Promise<FaultyServer> {
  let requests = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    // A minimal HTTP/1.1 reader: answer each request once its headers and
    // body (Content-Length) are in, as a real server does. (Bun's client
    // ignores an answer that arrives while it is still sending.)
    let buf: Buffer = Buffer.alloc(0);
    let need = -1; // body bytes still expected for the current request; -1: reading headers
    socket.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (need < 0) {
          const end = buf.indexOf("\r\n\r\n");
          if (end < 0) return;
          const head = buf.subarray(0, end).toString("latin1");
          buf = buf.subarray(end + 4);
          need = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? 0);
        }
        if (buf.length < need) return;
        buf = buf.subarray(need);
        need = -1;
        requests++;
        answer(socket);
      }
    });
  });
  const answer = (socket: Socket) => {
    if (how.kind === "error500") {
      const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>`;
      socket.write(
        `HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
    } else if (how.kind === "stall-body" || how.kind === "drop-body") {
      socket.write(
        `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${how.declared}\r\n\r\n`,
      );
      socket.write(how.body);
      if (how.kind === "drop-body") socket.end();
    }
  };
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
