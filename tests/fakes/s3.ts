// A real S3 server for tests: s3rver on 127.0.0.1, a random free port, its
// own temporary directory. Tests talk HTTP to it through the same SDK the
// product uses; nothing is mocked. Reused by the golden tests:
//
//   const s3 = await startFakeS3();
//   const bucket = await s3.newBucket();
//   run taskrunner with { ...s3.env(bucket) }
//   await s3.stop();
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import S3rver from "s3rver";
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";

/** s3rver's one built-in account. */
export const FAKE_S3_KEY = "S3RVER";
export const FAKE_S3_REGION = "eu-central-1";

export interface FakeS3 {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  readonly port: number;
  /** A fresh, empty bucket with a unique name. */
  newBucket(): Promise<string>;
  /** The TASKRUNNER_* variables that point taskrunner at `bucket` on this server. */
  env(bucket: string): Record<string, string>;
  getObject(bucket: string, key: string): Promise<{ body: Buffer; contentType: string | undefined; storageClass: string | undefined } | null>;
  putObject(bucket: string, key: string, body: Buffer | string): Promise<void>;
  listKeys(bucket: string): Promise<string[]>;
  /** Stops the server and deletes its files. Safe to call twice. */
  stop(): Promise<void>;
}

let bucketCounter = 0;

export async function startFakeS3(): Promise<FakeS3> {
  const directory = mkdtempSync(join(tmpdir(), "fake-s3-"));
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory, resetOnClose: true });
  const address = (await server.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = new S3Client({
    endpoint,
    region: FAKE_S3_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: FAKE_S3_KEY, secretAccessKey: FAKE_S3_KEY },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 1,
  });
  let stopped = false;
  return {
    endpoint,
    port: address.port,
    async newBucket() {
      const name = `test-${process.pid}-${++bucketCounter}-${Math.random().toString(36).slice(2, 8)}`;
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
    env(bucket) {
      return {
        TASKRUNNER_S3_ENDPOINT: endpoint,
        TASKRUNNER_AWS_REGION: FAKE_S3_REGION,
        TASKRUNNER_AWS_ACCESS_KEY: FAKE_S3_KEY,
        TASKRUNNER_AWS_SECRET_KEY: FAKE_S3_KEY,
        TASKRUNNER_REMOTE_CACHE_BUCKET: bucket,
      };
    },
    async getObject(bucket, key) {
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return { body: Buffer.from(await res.Body!.transformToByteArray()), contentType: res.ContentType, storageClass: res.StorageClass };
      } catch (e) {
        if ((e as Error).name === "NoSuchKey") return null;
        throw e;
      }
    },
    async putObject(bucket, key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    async listKeys(bucket) {
      const res = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      return (res.Contents ?? []).map((o) => o.Key!).sort();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      client.destroy();
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
