// The fake S3 server of the benchmarks in a process of its own, so that its
// CPU time is counted apart from the bench's and taskrunner's (on a CI runner
// S3 is not on the machine). Prints one line, {"pid", "env"}: the variables
// that point taskrunner at a fresh bucket; stops when its stdin closes.
// BENCH_S3_MBPS=50: each download (each connection) is sent at most at 50 MB/s,
// as from an S3 that is across a network (see bench/restore.ts).
import { startFakeS3 } from "../tests/fakes/s3";

const s3 = await startFakeS3();
const bucket = await s3.newBucket();
const mbps = Number(process.env.BENCH_S3_MBPS ?? 0);
if (mbps > 0) s3.pace(bucket, { downloadBytesPerSecond: mbps * 1e6 });
console.log(JSON.stringify({ pid: process.pid, env: s3.env(bucket) }));
for await (const _ of Bun.stdin.stream()) {
  // Nothing is sent; the loop ends when the bench closes stdin (or exits).
}
await s3.stop();
