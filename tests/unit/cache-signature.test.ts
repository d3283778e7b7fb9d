// Conditional writes and racing signed uploads, on both stores: a put that
// must not overwrite leaves what is there (S3 If-None-Match: *, a hard link in
// a directory), and two builds uploading one key at once leave one archive
// with its own signature, never one build's archive under the other's.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { FsStore } from "../../src/cache/fs-store";
import { S3Store } from "../../src/cache/s3-store";
import { DEFAULT_LIMITS, ObjectExists, type ObjectStore } from "../../src/cache/store";
import { fakeS3, fsBackend, removeScratch, s3Backend, scratch } from "../fakes/cache-backends";
import { loadConfig } from "../../src/config";

const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const SIGNING = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
const TRUSTED = publicKey.export({ type: "spki", format: "pem" }) as string;

async function text(store: ObjectStore, key: string): Promise<string | null> {
  return store.getText(key);
}

const stores: { name: string; backend: typeof fsBackend; open(): Promise<ObjectStore> }[] = [
  {
    name: "directory store",
    backend: fsBackend,
    async open() {
      const dir = join(scratch(), "store");
      mkdirSync(dir);
      return new FsStore(dir);
    },
  },
  {
    name: "S3 store (s3rver)",
    backend: s3Backend,
    async open() {
      const bucket = await fakeS3().newBucket();
      const { s3 } = loadConfig(fakeS3().env(bucket), "/");
      return new S3Store({ ...s3, bucket }, { ...DEFAULT_LIMITS, attempts: 1 }, () => {});
    },
  },
];

for (const { name, backend, open } of stores) {
  describe(name, () => {
    beforeAll(async () => backend.setup?.());
    afterAll(async () => {
      await backend.teardown?.();
      removeScratch();
    });

    test("a put with ifAbsent on a taken key fails with ObjectExists and leaves the object", async () => {
      const store = await open();
      await store.put("k/a", Readable.from([Buffer.from("first")]), { ifAbsent: true });
      expect(await text(store, "k/a")).toBe("first");
      await expect(store.put("k/a", Readable.from([Buffer.from("second")]), { ifAbsent: true })).rejects.toBeInstanceOf(
        ObjectExists,
      );
      await expect(store.putText("k/a", "third", { ifAbsent: true })).rejects.toBeInstanceOf(ObjectExists);
      expect(await text(store, "k/a")).toBe("first");
      // Without it, the write goes over (the old tool's behaviour, kept where signatures are not in play).
      await store.putText("k/a", "fourth");
      expect(await text(store, "k/a")).toBe("fourth");
      expect((await store.stat("k/a"))?.size).toBe(6);
      expect(await store.stat("k/none")).toBeNull();
    });

    test("two signing builds uploading one key at once leave an archive that verifies", async () => {
      for (let round = 0; round < 3; round++) {
        const f = await backend.fixture({ TASKRUNNER_CACHE_SIGNING_KEY: SIGNING });
        const other = f.reopen();
        const trees = ["a", "b"].map((mark) => {
          const root = join(f.dir, `tree-${mark}`);
          mkdirSync(join(root, "out"), { recursive: true });
          writeFileSync(join(root, "out/which.txt"), `${mark}\n`.repeat(1000 + mark.charCodeAt(0)));
          return root;
        });
        const identity = { kind: "archive", job: "job", version: null, hash: "abc" } as const;
        const saved = await Promise.all(
          [f.cache, other].map((cache, i) =>
            cache
              .prepareSave("job-abc.tar.zst", trees[i], ["out"], { identity })
              .then((p) => (p.kind === "ready" ? p.upload() : p)),
          ),
        );
        expect(saved.map((s) => s.kind)).toEqual(["saved", "saved"]);
        const verifier = await backend.fixture({ TASKRUNNER_CACHE_TRUSTED_KEYS: TRUSTED });
        // Same store: the verifier reads what the two wrote.
        const sig = (await f.readRaw("taskrunner/bundles/job-abc.tar.zst.sig"))!.body;
        await verifier.writeRaw(
          "taskrunner/bundles/job-abc.tar.zst",
          (await f.readRaw("taskrunner/bundles/job-abc.tar.zst"))!.body,
        );
        await verifier.writeRaw("taskrunner/bundles/job-abc.tar.zst.sig", sig);
        const dest = join(verifier.dir, "dest");
        expect((await verifier.cache.restoreArchive("job-abc.tar.zst", dest, { identity })).kind).toBe("restored");
        expect(["a", "b"]).toContain(readFileSync(join(dest, "out/which.txt"), "utf8")[0]);
        expect(verifier.lines.warn).toEqual([]);
      }
    });
  });
}
