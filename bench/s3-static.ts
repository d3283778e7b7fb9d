// An "S3" that spends next to no CPU, for the benchmarks: GET /<bucket>/<key>
// answers the file <root>/<key> through sendfile, with the headers a restore
// reads (Content-Length, ETag, Accept-Ranges), and a missing key as S3's
// NoSuchKey; signatures are not checked. s3rver spends a third of a second of
// CPU serving a monorepo's archive, on the cores the restore uses; a CI
// machine's S3 is not on the machine. With this server, a restore from "S3"
// against one from a directory store measures taskrunner's own S3 client.
//
//   bun bench/s3-static.ts <root>   prints {"endpoint"}; stops when its stdin closes
import { statSync } from "node:fs";
import { join } from "node:path";

const root = process.argv[2];
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(req) {
    const [, , ...key] = new URL(req.url).pathname.split("/"); // "", bucket, key…
    const path = join(root, ...key.map(decodeURIComponent));
    try {
      const st = statSync(path);
      if (st.isFile())
        return new Response(Bun.file(path), {
          headers: { etag: `"${st.size}-${st.mtimeMs}"`, "accept-ranges": "bytes" },
        });
    } catch {}
    const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>`;
    return new Response(body, { status: 404, headers: { "content-type": "application/xml" } });
  },
});
console.log(JSON.stringify({ endpoint: `http://127.0.0.1:${server.port}` }));
for await (const _ of Bun.stdin.stream()) {
  // Nothing is sent; the loop ends when the bench closes stdin (or exits).
}
server.stop(true);
