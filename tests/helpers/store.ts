// The store a golden cache case runs on (the file-system store directory, or
// the S3 bucket), as its environment says, for the case's script:
//   STORE_PUT KEY FILE   (store.ts put)      writes FILE as object KEY
//   STORE_MEMBERS KEY    (store.ts members)  prints the member names of the archive at KEY
//   STORE_GET KEY        (store.ts get)      prints the object at KEY, or exits 1 saying it is not there
// KEY is below the cache prefix. Members are read with node-tar, not with the
// product's own reader, so a case sees the names another tar would see.
import { S3Client, PutObjectCommand, GetObjectCommand } from "@aws-sdk/client-s3";
import { mkdirSync, copyFileSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Parser } from "tar";

const [command, key, file] = process.argv.slice(2);
const env = process.env;
const fullKey = `${env.TASKRUNNER_REMOTE_CACHE_PREFIX ?? "taskrunner/"}${key}`;
const s3 = () =>
  new S3Client({
    endpoint: env.TASKRUNNER_S3_ENDPOINT,
    region: env.TASKRUNNER_AWS_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: env.TASKRUNNER_AWS_ACCESS_KEY!, secretAccessKey: env.TASKRUNNER_AWS_SECRET_KEY! },
  });

async function put(): Promise<void> {
  if (env.TASKRUNNER_REMOTE_CACHE_DIR) {
    const target = join(env.TASKRUNNER_REMOTE_CACHE_DIR, fullKey);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(file, target);
    return;
  }
  const client = s3();
  await client.send(
    new PutObjectCommand({ Bucket: env.TASKRUNNER_REMOTE_CACHE_BUCKET, Key: fullKey, Body: readFileSync(file) }),
  );
  client.destroy();
}

async function get(): Promise<Uint8Array> {
  if (env.TASKRUNNER_REMOTE_CACHE_DIR) return readFileSync(join(env.TASKRUNNER_REMOTE_CACHE_DIR, fullKey));
  const client = s3();
  const res = await client.send(new GetObjectCommand({ Bucket: env.TASKRUNNER_REMOTE_CACHE_BUCKET, Key: fullKey }));
  const body = await res.Body!.transformToByteArray();
  client.destroy();
  return body;
}

async function members(): Promise<void> {
  const tarBytes = Buffer.from(Bun.zstdDecompressSync(await get()));
  const names: string[] = [];
  const parser = new Parser({ onReadEntry: (entry) => (names.push(entry.path), entry.resume()) });
  await new Promise<void>((resolve, reject) => {
    parser.on("end", resolve).on("error", reject);
    parser.end(tarBytes);
  });
  for (const name of names) console.log(name);
}

if (command === "put") await put();
else if (command === "members") await members();
else if (command === "get") {
  const body = await get().catch(() => null);
  if (body === null) {
    console.log(`no object ${key}`);
    process.exit(1);
  }
  process.stdout.write(body);
} else throw new Error(`store.ts: unknown command ${command}; use put KEY FILE, members KEY or get KEY`);
