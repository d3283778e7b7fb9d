// The fake S3 server of the benchmarks in a process of its own, so that its
// CPU time is counted apart from the bench's and taskrunner's (on a CI runner
// S3 is not on the machine). Prints one line, {"pid", "env"}: the variables
// that point taskrunner at a fresh bucket; stops when its stdin closes.
import { startFakeS3 } from "../tests/fakes/s3";

const s3 = await startFakeS3();
const bucket = await s3.newBucket();
console.log(JSON.stringify({ pid: process.pid, env: s3.env(bucket) }));
for await (const _ of Bun.stdin.stream()) {
  // Nothing is sent; the loop ends when the bench closes stdin (or exits).
}
await s3.stop();
