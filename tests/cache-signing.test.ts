// Signed caches, end to end with the compiled binary, on a real s3rver and on
// a directory store: what a poisoner can plant under main's keys is refused
// (one warn line, nothing from it in the work tree), what main signed restores
// with only its public key, the old tool's archives restore as before when no
// key is set, keys rotate, and uploads skip, replace or rewrite as they should.
// docs/security.md names these tests, row by row.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ensureBinary } from "./helpers/binary";
import { inputRepo, runToEnd, scratch, stagingFolders, type Scratch } from "./helpers/run";
import { sh } from "./fakes/git-repo";
import { fakeS3ForSuite } from "./fakes/s3";
import { keyId } from "../src/cache/signature";
import { createPublicKey } from "node:crypto";

const s3 = fakeS3ForSuite();
beforeAll(ensureBinary);

interface Key {
  pem: string;
  pub: string;
  id: string;
}

function newKey(): Key {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  const pub = publicKey.export({ type: "spki", format: "pem" }) as string;
  return { pem, pub, id: keyId(createPublicKey(pub)) };
}

const MAIN = newKey();
const OTHER = newKey();
/** The input hash of input.txt = "foo\n" (tests/helpers/run.ts inputRepo). */
const FOO = "6b36308659163b577fd1c832107dc46ca3aa659b";

/** Raw access to the objects of one store, below the default prefix. */
interface Store {
  name: string;
  env: Record<string, string>;
  read(key: string): Promise<Buffer | null>;
  write(key: string, body: Buffer | string): Promise<void>;
  keys(): Promise<string[]>;
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const BACKENDS: { name: string; open(): Promise<Store> }[] = [
  {
    name: "directory store",
    async open() {
      const s = scratch("sign-store");
      dirs.push(s.dir);
      const root = join(s.dir, "cache");
      mkdirSync(root);
      const list = (d: string, rel = ""): string[] =>
        readdirSync(d, { withFileTypes: true }).flatMap((e) =>
          e.isDirectory() ? list(join(d, e.name), `${rel}${e.name}/`) : [`${rel}${e.name}`],
        );
      return {
        name: "directory store",
        env: { TASKRUNNER_REMOTE_CACHE_DIR: root },
        read: async (key) => (existsSync(join(root, key)) ? readFileSync(join(root, key)) : null),
        write: async (key, body) => {
          mkdirSync(dirname(join(root, key)), { recursive: true });
          writeFileSync(join(root, key), body);
        },
        keys: async () => list(root).sort(),
      };
    },
  },
  {
    name: "s3rver",
    async open() {
      const bucket = await s3().newBucket();
      return {
        name: "s3rver",
        env: s3().env(bucket),
        read: async (key) => (await s3().getObject(bucket, key))?.body ?? null,
        write: (key, body) => s3().putObject(bucket, key, body),
        keys: () => s3().listKeys(bucket),
      };
    },
  },
];

const BUILD = `#!/bin/bash
snapshot input.txt -o out --fuzzy-cache
mkdir -p out
echo "$MARK" > out/a.txt
`;

/** A repository on branch main with input.txt = "foo\\n" and build.sh, which writes $MARK into out/a.txt. */
function repo(input = "foo"): Scratch {
  const s = inputRepo("sign");
  dirs.push(s.dir);
  writeFileSync(join(s.work, "build.sh"), BUILD, { mode: 0o755 });
  sh(s.work, `git checkout -q -b main && echo ${input} > input.txt && git add -A && git commit -qm build`);
  return s;
}

function keyFile(s: Scratch, name: string, text: string): string {
  const path = join(s.dir, name);
  writeFileSync(path, text);
  return path;
}

/** Runs job `name` (default "job") in s, with a fresh state directory: no local hash to skip by. */
async function build(
  s: Scratch,
  store: Store,
  env: Record<string, string>,
  opts: { name?: string; force?: boolean } = {},
) {
  rmSync(join(s.dir, "state"), { recursive: true, force: true });
  const args = [...(opts.force ? ["-f"] : []), "-n", opts.name ?? "job", "./build.sh"];
  const r = await runToEnd(s, args, { ...store.env, ...env });
  const out = existsSync(join(s.work, "out/a.txt")) ? readFileSync(join(s.work, "out/a.txt"), "utf8").trim() : null;
  const warns = r.stderr.split("\n").filter((l) => l.includes(" warn | "));
  return { ...r, out, warns };
}

/** main's build: signs what it uploads. */
const mainEnv = (s: Scratch) => ({
  TASKRUNNER_SAVE_REMOTE_CACHE: "1",
  TASKRUNNER_CACHE_SIGNING_KEY: keyFile(s, "main.pem", MAIN.pem),
  MARK: "main",
});
/** A build that trusts main's public key only. */
const verifyEnv = (s: Scratch, pub = MAIN.pub) => ({
  TASKRUNNER_CACHE_TRUSTED_KEYS: keyFile(s, "trusted.pub", pub),
  MARK: "ran",
  TASKRUNNER_LOG_INFO: "1",
});

const archive = (job: string, hash = FOO) => `taskrunner/bundles/${job}-${hash}.tar.zst`;

for (const backend of BACKENDS) {
  describe(backend.name, () => {
    /** A refused restore: one warn line matching `why`, the task ran itself, nothing of the archive in the work tree. */
    async function expectRefused(store: Store, why: RegExp, opts: { pub?: string } = {}) {
      const victim = repo();
      const r = await build(victim, store, verifyEnv(victim, opts.pub));
      expect(r.warns).toHaveLength(1);
      expect(r.warns[0]).toMatch(why);
      expect(r.stderr).not.toContain("Restored");
      expect(r.code).toBe(0);
      expect(r.out).toBe("ran");
      expect(existsSync(join(victim.work, "out/planted.txt"))).toBe(false);
      expect(stagingFolders(victim.dir)).toEqual([]);
      return r;
    }

    /** An attacker's build of job under main's key (same inputs, so the same hash), with planted.txt beside its output. */
    async function plant(store: Store, env: Record<string, string> = {}, name = "job") {
      const attacker = repo();
      writeFileSync(join(attacker.work, "build.sh"), `${BUILD}echo evil > out/planted.txt\n`);
      // -f: it writes over whatever is there, as anyone with write access can.
      const r = await build(
        attacker,
        store,
        { TASKRUNNER_SAVE_REMOTE_CACHE: "1", MARK: "evil", ...env },
        { name, force: true },
      );
      expect(r.code).toBe(0);
    }

    test("a planted unsigned archive under main's key is refused", async () => {
      const store = await backend.open();
      await plant(store);
      await expectRefused(
        store,
        /Remote cache not used: .*bundles\/job-6b36\w+\.tar\.zst is not signed \(no \.sig beside it\)$/,
      );
    });

    test("an archive signed by a key that is not trusted is refused, naming the key", async () => {
      const store = await backend.open();
      const s = repo();
      await plant(store, { TASKRUNNER_CACHE_SIGNING_KEY: keyFile(s, "other.pem", OTHER.pem) });
      await expectRefused(
        store,
        new RegExp(`is signed by key ${OTHER.id}, which is not one of TASKRUNNER_CACHE_TRUSTED_KEYS$`),
      );
    });

    test("an archive main signed for another job's key, copied under this job's key, is refused", async () => {
      const store = await backend.open();
      const m = repo();
      expect((await build(m, store, mainEnv(m), { name: "other" })).code).toBe(0);
      await store.write(archive("job"), (await store.read(archive("other")))!);
      await store.write(`${archive("job")}.sig`, (await store.read(`${archive("other")}.sig`))!);
      await expectRefused(
        store,
        new RegExp(
          `is signed by key ${MAIN.id} for bundles/other-${FOO}\\.tar\\.zst, job other, hash ${FOO}, not for this key$`,
        ),
      );
    });

    test("main's archive with one byte flipped in the middle is refused", async () => {
      const store = await backend.open();
      const m = repo();
      expect((await build(m, store, mainEnv(m))).code).toBe(0);
      const bytes = (await store.read(archive("job")))!;
      bytes[bytes.length >> 1] ^= 0x01;
      await store.write(archive("job"), bytes);
      await expectRefused(
        store,
        new RegExp(
          `is signed by key ${MAIN.id} but does not extract .*: its bytes were most likely changed since it was signed$`,
        ),
      );
    });

    test("another archive under main's signature (it extracts, but its digest differs) is refused before any move", async () => {
      const store = await backend.open();
      const m = repo();
      expect((await build(m, store, mainEnv(m))).code).toBe(0);
      const sig = (await store.read(`${archive("job")}.sig`))!;
      await plant(store);
      await store.write(`${archive("job")}.sig`, sig);
      await expectRefused(
        store,
        new RegExp(`does not match its signature by key ${MAIN.id}: its bytes changed since it was signed`),
      );
    });

    test("a fuzzy pointer moved to another archive is refused", async () => {
      const store = await backend.open();
      // main signs an archive for input "old" and then one for "foo"; its pointer names foo's hash.
      const old = repo("old");
      expect((await build(old, store, mainEnv(old))).code).toBe(0);
      const oldHash = readFileSync(join(old.dir, "state/hash/job.hash"), "utf8").match(/"hash":"(\w+)"/)![1];
      const m = repo();
      expect((await build(m, store, mainEnv(m))).code).toBe(0);
      expect((await store.read("taskrunner/latest/job-main.txt"))!.toString()).toBe(FOO);
      // The poisoner moves main's pointer to the old (validly signed) archive, keeping the pointer's signature.
      await store.write("taskrunner/latest/job-main.txt", oldHash);
      const victim = repo("bar");
      const r = await build(victim, store, verifyEnv(victim));
      expect(r.warns).toEqual([
        expect.stringMatching(
          new RegExp(
            `Fuzzy cache from branch main not used: .*latest/job-main\\.txt points to hash ${oldHash}, but was signed \\(by key ${MAIN.id}\\) pointing to ${FOO}`,
          ),
        ),
      ]);
      expect(r.stderr).not.toContain("Restored");
      expect(r.out).toBe("ran");
      expect(stagingFolders(victim.dir)).toEqual([]);
    });

    test("a fuzzy pointer to a planted archive is refused", async () => {
      const store = await backend.open();
      await plant(store); // an unsigned archive and an unsigned pointer, job-main.txt → foo's hash
      const victim = repo("bar");
      const r = await build(victim, store, verifyEnv(victim));
      expect(r.warns).toEqual([
        expect.stringMatching(
          /Fuzzy cache from branch main not used: .*latest\/job-main\.txt is not signed \(no \.sig beside it\)$/,
        ),
      ]);
      expect(r.out).toBe("ran");
      expect(existsSync(join(victim.work, "out/planted.txt"))).toBe(false);
    });

    test("main's signed archive restores, exact and fuzzy, where only its public key is present", async () => {
      const store = await backend.open();
      const m = repo();
      expect((await build(m, store, mainEnv(m))).code).toBe(0);
      const exact = repo();
      const r = await build(exact, store, verifyEnv(exact));
      expect(r.warns).toEqual([]);
      expect(r.stderr).toContain("info | Restored from remote cache");
      expect(r.out).toBe("main");
      const fuzzy = repo("bar");
      const f = await build(fuzzy, store, verifyEnv(fuzzy));
      expect(f.warns).toEqual([]);
      expect(f.stderr).toContain(`info | Restored fuzzy cache from branch main, hash=${FOO}`);
    });

    test("with no key set, the old tool's archive (GNU tar | zstd) restores as before, and so does a signed one", async () => {
      const store = await backend.open();
      const old = repo();
      sh(old.work, "mkdir out && echo old-tool > out/a.txt && tar -c out | zstd -3 -q > ../old.tar.zst");
      await store.write(archive("job"), readFileSync(join(old.dir, "old.tar.zst")));
      const v = repo();
      const r = await build(v, store, { MARK: "ran", TASKRUNNER_LOG_INFO: "1" });
      expect(r.warns).toEqual([]);
      expect(r.out).toBe("old-tool");
      const m = repo();
      expect((await build(m, store, { ...mainEnv(m), MARK: "signed" }, { force: true })).code).toBe(0);
      const v2 = repo();
      expect((await build(v2, store, { MARK: "ran" })).out).toBe("signed");
    });

    test("rotation: with two trusted keys, archives signed by either restore", async () => {
      const store = await backend.open();
      const both = `${OTHER.pub}${MAIN.pub}`;
      const m = repo();
      expect((await build(m, store, mainEnv(m))).code).toBe(0);
      const v = repo();
      expect((await build(v, store, verifyEnv(v, both))).out).toBe("main");
      const o = repo();
      const signedByNew = await build(
        o,
        store,
        { ...mainEnv(o), TASKRUNNER_CACHE_SIGNING_KEY: keyFile(o, "new.pem", OTHER.pem), MARK: "new" },
        { force: true },
      );
      expect(signedByNew.code).toBe(0);
      const v2 = repo();
      const r = await build(v2, store, verifyEnv(v2, both));
      expect(r.warns).toEqual([]);
      expect(r.out).toBe("new");
    });

    test("uploads: a verified archive is kept (one debug line), an untrusted one replaced, -f rewrites", async () => {
      const store = await backend.open();
      const debug = { TASKRUNNER_DEBUG: "1" };
      /** Prime mode uploads the outputs already there, without running or restoring. */
      const prime = async (mark: string, env: Record<string, string> = {}) => {
        const s = repo();
        sh(s.work, `mkdir out && echo ${mark} > out/a.txt`);
        const r = await runToEnd(s, ["-n", "job", "./build.sh"], {
          ...store.env,
          ...mainEnv(s),
          ...debug,
          TASKRUNNER_PRIME_CACHE_MODE: "1",
          ...env,
        });
        expect(r.code).toBe(0);
        return r.stderr.split("\n").filter((l) => /debug \| (Not uploading|Replacing|Saved|Writing)/.test(l));
      };
      const verified = async () => {
        const v = repo();
        return (await build(v, store, verifyEnv(v))).out;
      };
      // Unsigned and just written: maybe another build between its archive and its signature, so kept.
      await plant(store);
      expect(await prime("main")).toEqual([
        expect.stringMatching(
          /Not uploading .*: it was written \d.* ago and is not signed yet \(another build may be signing it\); kept$/,
        ),
      ]);
      // -f rewrites whatever is there.
      const m = repo();
      const forced = await build(m, store, { ...mainEnv(m), ...debug, MARK: "forced" }, { force: true });
      expect(forced.stderr).toMatch(/debug \| Writing .*job-\w+\.tar\.zst whatever it holds \(-f\)/);
      expect(await verified()).toBe("forced");
      // Verified: kept, the transfer saved, the signature untouched.
      const sig = (await store.read(`${archive("job")}.sig`))!.toString();
      expect(await prime("again")).toEqual([
        expect.stringMatching(
          new RegExp(
            `debug \\| Not uploading .*job-${FOO}\\.tar\\.zst: it already holds an archive signed by key ${MAIN.id} for this key$`,
          ),
        ),
      ]);
      expect((await store.read(`${archive("job")}.sig`))!.toString()).toBe(sig);
      // Signed by a key nobody trusts: replaced by the build that holds main's key.
      await plant(store, { TASKRUNNER_CACHE_SIGNING_KEY: keyFile(m, "other.pem", OTHER.pem) });
      const replaced = await prime("fixed");
      expect(replaced[0]).toMatch(
        new RegExp(
          `debug \\| Replacing .*job-${FOO}\\.tar\\.zst: it is signed by key ${OTHER.id}, which is not one of`,
        ),
      );
      expect(replaced[1]).toMatch(/debug \| Saved out/);
      expect(await verified()).toBe("fixed");
    });

    test("scoped writes: a pull request reads main's prefix, verified, and writes only its own", async () => {
      const store = await backend.open();
      const m = repo();
      expect((await build(m, store, mainEnv(m))).code).toBe(0);
      const before = await store.keys();
      const pr = repo();
      sh(pr.work, "git checkout -q -b feature");
      const prEnv = {
        ...verifyEnv(pr),
        TASKRUNNER_SAVE_REMOTE_CACHE: "1",
        TASKRUNNER_REMOTE_CACHE_PREFIX: "pr-7/",
        TASKRUNNER_REMOTE_CACHE_FALLBACK_PREFIXES: "taskrunner/",
        TASKRUNNER_CACHE_TRUST_OWN_PREFIX: "1",
      };
      const r = await build(pr, store, prEnv);
      expect(r.warns).toEqual([]);
      expect(r.out).toBe("main"); // main's archive, from the fallback prefix
      // A change on the branch: the run's archive and pointer go to pr-7/ only.
      sh(pr.work, "echo bar > input.txt && git commit -qam bar");
      const changed = await build(pr, store, { ...prEnv, MARK: "pr" });
      expect(changed.out).toBe("pr");
      const after = await store.keys();
      expect(after.filter((k) => k.startsWith("taskrunner/"))).toEqual(before);
      expect(after.filter((k) => k.startsWith("pr-7/")).sort()).toEqual([
        expect.stringMatching(/^pr-7\/bundles\/job-\w+\.tar\.zst$/),
        "pr-7/latest/job-feature.txt",
      ]);
      // Its next build reads its own unsigned archive (TASKRUNNER_CACHE_TRUST_OWN_PREFIX) ...
      const next = await build(pr, store, { ...prEnv, MARK: "again" });
      expect(next.warns).toEqual([]);
      expect(next.out).toBe("pr");
      // ... which a build that does not trust the prefix refuses.
      const strict = await build(pr, store, { ...prEnv, TASKRUNNER_CACHE_TRUST_OWN_PREFIX: "0", MARK: "strict" });
      // One line, for the exact archive; the branch's pointer, read next, is refused in the debug log only.
      expect(strict.warns).toEqual([
        expect.stringMatching(/Remote cache not used: .*pr-7\/bundles\/job-\w+\.tar\.zst is not signed/),
      ]);
      expect(strict.out).toBe("strict");
    });
  });
}

/** Another user on the machine needs root to become (setpriv); the test says so when it cannot. */
const asRoot = process.getuid?.() === 0;
if (!asRoot)
  console.warn("skipping 'another user on the machine': it needs root to run a command as another user (setpriv)");

describe("the machine", () => {
  test.skipIf(!asRoot)(
    "another user on the machine: a planted archive is refused where the directory lets them write, and cannot be planted where it does not",
    async () => {
      const m = repo();
      const dir = join(m.dir, "cache");
      mkdirSync(dir);
      const store = { env: { TASKRUNNER_REMOTE_CACHE_DIR: dir } } as unknown as Store;
      expect((await build(m, store, mainEnv(m))).code).toBe(0);
      sh(
        m.dir,
        "chmod 755 . && mkdir evil && echo evil > evil/planted.txt && tar -c evil | zstd -3 -q > evil.tar.zst && chmod 644 evil.tar.zst",
      );
      const plantAs = (mode: string) => {
        sh(m.dir, `chmod -R ${mode} cache`);
        return Bun.spawnSync(
          [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
            `cp evil.tar.zst cache/taskrunner/bundles/.x && mv -f cache/taskrunner/bundles/.x cache/${archive("job")}`,
          ],
          { cwd: m.dir, stderr: "pipe" },
        );
      };
      // The directory as created (umask 022): the other user cannot write into it.
      expect(plantAs("go-w").success).toBe(false);
      // A world-writable shared directory: the other user replaces main's archive; verifying builds refuse it.
      expect(plantAs("a+rwX").success).toBe(true);
      const victim = repo();
      const r = await build(victim, store, verifyEnv(victim));
      expect(r.warns).toEqual([
        expect.stringMatching(
          new RegExp(`is signed by key ${MAIN.id} but does not extract|does not match its signature by key ${MAIN.id}`),
        ),
      ]);
      expect(r.out).toBe("ran");
      expect(existsSync(join(victim.work, "evil"))).toBe(false);
    },
  );
});

describe("keys", () => {
  test("the signing key never appears in output or logs, given as text or badly", async () => {
    const s = repo();
    const dir = join(s.dir, "cache");
    mkdirSync(dir);
    const store = { env: { TASKRUNNER_REMOTE_CACHE_DIR: dir } } as unknown as Store;
    const body = MAIN.pem.split("\n")[1];
    const r = await build(s, store, {
      TASKRUNNER_SAVE_REMOTE_CACHE: "1",
      TASKRUNNER_CACHE_SIGNING_KEY: MAIN.pem,
      TASKRUNNER_DEBUG: "1",
      MARK: "x",
    });
    expect(r.stderr).toContain(`signed by key ${MAIN.id}`);
    const bad = await build(s, store, {
      TASKRUNNER_SAVE_REMOTE_CACHE: "1",
      TASKRUNNER_CACHE_SIGNING_KEY: `${body}garbage`,
      TASKRUNNER_DEBUG: "1",
      MARK: "x",
    });
    expect(bad.warns).toEqual([
      expect.stringContaining(
        "TASKRUNNER_CACHE_SIGNING_KEY is neither PEM text nor a readable file (ENOENT); nothing is uploaded",
      ),
    ]);
    expect(bad.code).toBe(0);
    const logs = sh(s.dir, "cat state/builds/*/logs/*.log");
    for (const text of [r.stderr, bad.stderr, logs]) expect(text).not.toContain(body.slice(0, 12));
  });

  test("a private key given as a trusted key is refused, and nothing is restored", async () => {
    const s = repo();
    const dir = join(s.dir, "cache");
    mkdirSync(dir);
    const store = { env: { TASKRUNNER_REMOTE_CACHE_DIR: dir } } as unknown as Store;
    expect((await build(s, store, mainEnv(s))).code).toBe(0);
    const r = await build(s, store, { TASKRUNNER_CACHE_TRUSTED_KEYS: MAIN.pem, MARK: "ran" });
    expect(r.warns).toEqual([
      expect.stringContaining("TASKRUNNER_CACHE_TRUSTED_KEYS holds a private key: give the public keys only"),
    ]);
    expect(r.out).toBe("ran");
  });
});
