// STORE_PUT KEY FILE, for golden cache cases: writes FILE as object KEY
// (below the cache prefix) in the store the environment points at — the
// file-system store directory, or the S3 bucket.
import { S3Client, PutObjectCommand } from "@aws-sdk/client-s3";
import { mkdirSync, copyFileSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

const [key, file] = process.argv.slice(2);
const env = process.env;
const fullKey = `${env.TASKRUNNER_REMOTE_CACHE_PREFIX ?? "taskrunner/"}${key}`;
if (env.TASKRUNNER_REMOTE_CACHE_DIR) {
  const target = join(env.TASKRUNNER_REMOTE_CACHE_DIR, fullKey);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(file, target);
} else {
  const client = new S3Client({
    endpoint: env.TASKRUNNER_S3_ENDPOINT,
    region: env.TASKRUNNER_AWS_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: env.TASKRUNNER_AWS_ACCESS_KEY!, secretAccessKey: env.TASKRUNNER_AWS_SECRET_KEY! },
  });
  await client.send(new PutObjectCommand({ Bucket: env.TASKRUNNER_REMOTE_CACHE_BUCKET, Key: fullKey, Body: readFileSync(file) }));
  client.destroy();
}
