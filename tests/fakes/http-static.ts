// A static file server on 127.0.0.1 standing in for GitHub's release download folders.
import { existsSync, statSync } from "node:fs";
import { join, normalize } from "node:path";

export interface StaticServer {
  url: string;
  /** Request paths in the order they came, e.g. "/v1/SHA256SUMS". */
  requests: string[];
  stop(): void;
}

/** Serves the files under `root` at the same paths; anything else is a 404. */
export function serveStatic(root: string): StaticServer {
  const requests: string[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = decodeURIComponent(new URL(req.url).pathname);
      requests.push(path);
      const file = join(root, normalize(path));
      if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
        return new Response("Not Found", { status: 404 });
      }
      return new Response(Bun.file(file));
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, requests, stop: () => server.stop(true) };
}
