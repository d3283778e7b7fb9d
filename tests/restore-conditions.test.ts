// Restores under the conditions CI machines really have, on the compiled
// binary with real git clones, each store (a directory and s3rver), and GNU
// tar + zstd as the old tool's side of every round trip:
// - an output that is a symlink (`dist -> real/dist`): usable on a fresh clone,
//   twice in a row; the old tool's archive of the link alone is not restored
//   as a dangling link (the task runs once, then skips);
// - file names and link targets that are not UTF-8: the same bytes through our
//   archive, GNU tar's (gnu and posix formats) and GNU tar extracting ours;
// - `-o out out/f` where out/f has a second link: the member linked to itself;
// - read-only trees (a Go module cache) as a user who is not root: archived,
//   and restored over, modes as archived.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { BINARY, ensureBinary } from "./helpers/binary";
import { endedText, INPUT_HASH, scratch, stagingFolders, type Scratch } from "./helpers/run";
import { startFakeS3, type FakeS3 } from "./fakes/s3";

beforeAll(ensureBinary, 120_000);
let s3: FakeS3;
beforeAll(async () => {
  s3 = await startFakeS3();
});
afterAll(async () => s3.stop());

/** A user who is not root, for the read-only trees (tests run as root; setpriv needs no account). */
const USER = 4242;

interface Store {
  env: Record<string, string>;
  put(name: string, body: Buffer): Promise<void>;
  get(name: string): Promise<Buffer>;
}

const STORES: { name: string; open(s: Scratch): Promise<Store> }[] = [
  {
    name: "directory store",
    async open(s) {
      const bundles = join(s.dir, "store", "taskrunner", "bundles");
      mkdirSync(bundles, { recursive: true });
      return {
        env: { TASKRUNNER_REMOTE_CACHE_DIR: join(s.dir, "store") },
        put: async (name, body) => writeFileSync(join(bundles, name), body),
        get: async (name) => readFileSync(join(bundles, name)),
      };
    },
  },
  {
    name: "s3rver",
    async open() {
      const bucket = await s3.newBucket();
      return {
        env: s3.env(bucket),
        put: (name, body) => s3.putObject(bucket, `taskrunner/bundles/${name}`, body),
        get: async (name) => (await s3.getObject(bucket, `taskrunner/bundles/${name}`))!.body,
      };
    },
  },
];

const ARCHIVE = `b-${INPUT_HASH}.tar.zst`;

/** bash -e in cwd (as USER when asked); fails the test on a non-zero exit. */
function bash(
  s: Scratch,
  cwd: string,
  script: string,
  opts: { user?: boolean; env?: Record<string, string> } = {},
): string {
  const argv = opts.user
    ? ["setpriv", `--reuid=${USER}`, `--regid=${USER}`, "--clear-groups", "bash", "-ec", script]
    : ["bash", "-ec", script];
  const p = Bun.spawnSync(argv, { cwd, env: { ...s.env, ...opts.env }, stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`failed (${p.exitCode}): ${script}\n${p.stderr.toString()}`);
  return p.stdout.toString();
}

/** A repository with input.txt ("foo\n", hashed as INPUT_HASH) and build.sh, cloned fresh by build(). */
function origin(s: Scratch, buildScript: string, ignore: string): void {
  writeFileSync(join(s.work, "build.sh"), buildScript);
  bash(
    s,
    s.work,
    `git init -q . && echo foo > input.txt && printf '${ignore}' > .gitignore && git add . && git commit -qm init`,
  );
}

let clones = 0;
/** A fresh clone with its own state directory: a new CI machine. */
function freshClone(s: Scratch, opts: { user?: boolean } = {}): { dir: string; state: string } {
  const n = ++clones;
  const dir = join(s.dir, `clone${n}`);
  bash(s, s.dir, `git clone -q "${s.work}" "${dir}"`, opts);
  return { dir, state: join(s.dir, `state${n}`) };
}

/** `taskrunner -n b bash build.sh` in a clone: what the user sees. */
async function build(
  s: Scratch,
  clone: { dir: string; state: string },
  env: Record<string, string>,
  opts: { user?: boolean; save?: boolean } = {},
) {
  const argv = [
    ...(opts.user ? ["setpriv", `--reuid=${USER}`, `--regid=${USER}`, "--clear-groups"] : []),
    BINARY,
    "-n",
    "b",
    "bash",
    "build.sh",
  ];
  const p = Bun.spawn(argv, {
    cwd: clone.dir,
    env: {
      ...s.env,
      ...env,
      TASKRUNNER_STATE_DIRECTORY: clone.state,
      TASKRUNNER_LOG_INFO: "1",
      ...(opts.save ? { TASKRUNNER_SAVE_REMOTE_CACHE: "1" } : {}),
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  return endedText(p);
}

const RAN = {
  stdout: "[b] stdout | ran\n",
  stderr: "[b] info | Inputs changed, running task\n[b] info | success\n",
  code: 0,
};
const RESTORED = {
  stdout: "",
  stderr: `[b] info | Found remote cache ${ARCHIVE}, restoring\n[b] info | Restored from remote cache\n`,
  code: 0,
};
const SKIPPED = { stdout: "", stderr: "[b] info | skipped, inputs unchanged\n", code: 0 };

/**
 * Everything under dir, names and link targets as bytes (latin1, so that a
 * byte that is not UTF-8 shows as itself), with kind, mode, content and which
 * names are one file.
 */
function listing(dir: string): string[] {
  const out: string[] = [];
  const inodes = new Map<number, string>();
  const walk = (path: Buffer, rel: string) => {
    for (const name of (readdirSync(path, { encoding: "buffer" }) as Buffer[]).sort(Buffer.compare)) {
      const p = Buffer.concat([path, Buffer.from("/"), name]);
      const r = rel ? `${rel}/${name.toString("latin1")}` : name.toString("latin1");
      const st = lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink())
        out.push(`${r} -> ${(readlinkSync(p, { encoding: "buffer" }) as Buffer).toString("latin1")}`);
      else if (st.isDirectory()) {
        out.push(`${r}/ ${mode}`);
        walk(p, r);
      } else {
        const same = st.nlink > 1 ? inodes.get(st.ino) : undefined;
        if (st.nlink > 1 && !same) inodes.set(st.ino, r);
        out.push(`${r} ${mode} ${JSON.stringify(readFileSync(p, "latin1"))}${same ? ` (one file with ${same})` : ""}`);
      }
    }
  };
  walk(Buffer.from(dir), "");
  return out;
}

/** GNU tar's archive of `members` in dir, compressed as the old tool did. */
function gnuArchive(s: Scratch, dir: string, members: string, format = "gnu"): Buffer {
  bash(s, dir, `tar --format=${format} -c ${members} | zstd -3 -q > "${s.dir}/gnu.tar.zst"`);
  return readFileSync(join(s.dir, "gnu.tar.zst"));
}

/** GNU tar extracting an archive into a new directory, silently (any warning fails). */
function gnuExtract(s: Scratch, archive: Buffer, into: string): void {
  mkdirSync(into);
  writeFileSync(join(s.dir, "ours.tar.zst"), archive);
  const out = Bun.spawnSync(["bash", "-ec", `zstd -dcq "${s.dir}/ours.tar.zst" | tar -x 2>&1`], { cwd: into });
  expect({ code: out.exitCode, said: out.stdout.toString() }).toEqual({ code: 0, said: "" });
}

/**
 * out/ as `expected` lists it, both ways: our archive (in the store now)
 * restored on a fresh clone (then skipped) and extracted by GNU tar; GNU tar's
 * archive of `members` in each format restored by us on a fresh clone.
 */
async function roundTrips(
  s: Scratch,
  st: Store,
  made: string,
  expected: string[],
  members: string,
  formats: string[],
): Promise<void> {
  const ours = await st.get(ARCHIVE);
  const clone = freshClone(s);
  expect(await build(s, clone, st.env)).toEqual(RESTORED);
  expect(listing(join(clone.dir, "out"))).toEqual(expected);
  expect(await build(s, clone, st.env)).toEqual(SKIPPED);

  const tarred = join(s.dir, "tarred");
  gnuExtract(s, ours, tarred);
  expect(listing(join(tarred, "out"))).toEqual(expected);

  for (const format of formats) {
    await st.put(ARCHIVE, gnuArchive(s, made, members, format));
    const c = freshClone(s);
    expect({ format, ...(await build(s, c, st.env)) }).toEqual({ format, ...RESTORED });
    expect({ format, listing: listing(join(c.dir, "out")) }).toEqual({ format, listing: expected });
  }
}

for (const store of STORES) {
  describe(`restores on real CI conditions (${store.name})`, () => {
    test("an output that is a symlink (dist -> real/dist) is usable on fresh clones, twice in a row; the old tool's archive of the link alone is not restored dangling", async () => {
      const s = scratch("restore-symlink");
      try {
        const st = await store.open(s);
        origin(
          s,
          "snapshot input.txt -o dist\nmkdir -p real/dist && echo built > real/dist/app.js && ln -sfn real/dist dist\necho ran\n",
          "dist\\nreal/\\n",
        );
        expect(await build(s, freshClone(s), st.env, { save: true })).toEqual(RAN);
        for (let round = 1; round <= 2; round++) {
          const clone = freshClone(s);
          expect({ round, ...(await build(s, clone, st.env)) }).toEqual({ round, ...RESTORED });
          expect(readFileSync(join(clone.dir, "dist", "app.js"), "utf8")).toBe("built\n");
          expect(readlinkSync(join(clone.dir, "dist"))).toBe("real/dist");
          expect({ round, ...(await build(s, clone, st.env)) }).toEqual({ round, ...SKIPPED });
        }
        // GNU tar reads the link and what it leads to.
        const tarred = join(s.dir, "tarred");
        gnuExtract(s, await st.get(ARCHIVE), tarred);
        expect(listing(tarred)).toEqual([
          "dist -> real/dist",
          "real/ 755",
          "real/dist/ 755",
          'real/dist/app.js 644 "built\\n"',
        ]);

        // The old tool archived the link alone (GNU tar): restoring it would leave dist dangling.
        const built = freshClone(s);
        expect(await build(s, built, st.env)).toEqual(RESTORED);
        await st.put(ARCHIVE, gnuArchive(s, built.dir, "dist"));
        const clone = freshClone(s);
        const first = await build(s, clone, st.env);
        expect(first.stderr.split("\n")[1]).toMatch(
          /^\[b\] warn \| Remote cache not used: could not restore .*: the output dist is a symlink to real\/dist, which neither the archive nor .* holds \(nothing was restored, the old outputs are in place\)$/,
        );
        expect(first).toEqual({
          ...RAN,
          stderr: `[b] info | Found remote cache ${ARCHIVE}, restoring\n${first.stderr.split("\n")[1]}\n${RAN.stderr}`,
        });
        expect(readFileSync(join(clone.dir, "dist", "app.js"), "utf8")).toBe("built\n");
        expect(await build(s, clone, st.env)).toEqual(SKIPPED);
      } finally {
        s.cleanup();
      }
    }, 60_000);

    test("file names and link targets that are not UTF-8 keep their bytes: our archive, GNU tar's (gnu, posix), GNU tar extracting ours", async () => {
      const s = scratch("restore-bytes");
      try {
        const st = await store.open(s);
        // 100 files in one directory: enough for the restore's file-writing threads.
        const script = `snapshot input.txt -o out
rm -rf out; mkdir -p out/d$'\\xff'ir out/many
echo cafe > out/caf$'\\xe9'.txt
ln -s caf$'\\xe9'.txt out/link
ln out/caf$'\\xe9'.txt out/hard$'\\xe9'
long=$(printf 'x%.0s' $(seq 120))
echo long > out/d$'\\xff'ir/$long$'\\xe9'
ln -s ../caf$'\\xe9'.txt$long out/d$'\\xff'ir/longlink
ln out/d$'\\xff'ir/$long$'\\xe9' out/d$'\\xff'ir/hard-to-long
for i in $(seq 100); do echo $i > out/many/f$'\\xe9'$i; done
echo ran
`;
        origin(s, script, "out/\\n");
        const made = freshClone(s);
        expect(await build(s, made, st.env, { save: true })).toEqual(RAN);
        const expected = listing(join(made.dir, "out"));
        expect(expected).toContain('hard\xe9 644 "cafe\\n" (one file with caf\xe9.txt)');
        expect(expected).toContain(`d\xffir/longlink -> ../caf\xe9.txt${"x".repeat(120)}`);

        await roundTrips(s, st, made.dir, expected, "out", ["gnu", "posix"]);
      } finally {
        s.cleanup();
      }
    }, 60_000);

    test("-o out out/f, where out/f has a second link: the member linked to itself restores, as GNU tar extracts it", async () => {
      const s = scratch("restore-selflink");
      try {
        const st = await store.open(s);
        origin(
          s,
          "snapshot input.txt -o out out/f\nmkdir -p out && echo f > out/f && ln -f out/f out/g\necho ran\n",
          "out/\\n",
        );
        const made = freshClone(s);
        expect(await build(s, made, st.env, { save: true })).toEqual(RAN);
        const expected = ['f 644 "f\\n"', 'g 644 "f\\n" (one file with f)'];
        expect(listing(join(made.dir, "out"))).toEqual(expected);

        // GNU tar's archive: what the old tool wrote for the same outputs.
        await roundTrips(s, st, made.dir, expected, "out out/f", ["gnu"]);
      } finally {
        s.cleanup();
      }
    }, 60_000);

    test("read-only trees (a Go module cache, 0555 down) as a user who is not root: archived, and restored over, with the archive's modes", async () => {
      const s = scratch("restore-readonly");
      try {
        const st = await store.open(s);
        // gomod is replaced whole; lib/ro (not an output) stays read-only around its output lib/ro/pkg.
        const script = `snapshot input.txt -o gomod lib/ro/pkg
chmod -R u+w gomod lib 2>/dev/null || true
rm -rf gomod lib
mkdir -p gomod/pkg/mod/x@v1 lib/ro/pkg/sub
echo "module x" > gomod/pkg/mod/x@v1/go.mod && ln -s go.mod gomod/pkg/mod/x@v1/link
echo pkg > lib/ro/pkg/sub/file
chmod -R a-w gomod lib
echo ran
`;
        origin(s, script, "gomod/\\nlib/\\n");
        chownTree(s.dir);
        const made = freshClone(s, { user: true });
        expect(await build(s, made, st.env, { user: true, save: true })).toEqual(RAN);
        const expected = readOnlyTrees(made.dir);
        expect(expected).toContain("gomod/ 555");
        expect(expected).toContain('gomod/pkg/mod/x@v1/go.mod 444 "module x\\n"');
        expect(expected).toContain("lib/ro/ 555");

        // Restored over the read-only trees themselves: changed, with a stray file, read-only again.
        bash(
          s,
          made.dir,
          "chmod -R u+w gomod lib && echo local > gomod/pkg/mod/x@v1/go.mod && touch gomod/stray lib/ro/pkg/stray && chmod -R a-w gomod lib",
          { user: true },
        );
        bash(s, made.dir, `rm "${made.state}/hash/b.hash"`, { user: true });
        expect(await build(s, made, st.env, { user: true })).toEqual(RESTORED);
        expect(readOnlyTrees(made.dir)).toEqual(expected);
        expect(await build(s, made, st.env, { user: true })).toEqual(SKIPPED);
        expect(stagingFolders(s.dir)).toEqual([]);

        // And on a fresh clone: lib/ro is not in the archive, only implied by lib/ro/pkg (made as GNU tar makes it).
        const clone = freshClone(s, { user: true });
        expect(await build(s, clone, st.env, { user: true })).toEqual(RESTORED);
        expect(readOnlyTrees(clone.dir)).toEqual(
          expected.map((l) => (l === "lib/ 555" || l === "lib/ro/ 555" ? l.replace("555", "755") : l)),
        );
      } finally {
        s.cleanup();
      }
    }, 60_000);
  });
}

/** The listing of the read-only test's two trees, with their own modes. */
function readOnlyTrees(dir: string): string[] {
  return ["gomod", "lib"].flatMap((top) => {
    const mode = (lstatSync(join(dir, top)).mode & 0o7777).toString(8);
    return [`${top}/ ${mode}`, ...listing(join(dir, top)).map((l) => `${top}/${l}`)];
  });
}

/** Hands the scratch directory (state, store, repositories) to USER. */
function chownTree(dir: string): void {
  chownSync(dir, USER, USER);
  chmodSync(dir, 0o755);
  for (const name of readdirSync(dir, { recursive: true }) as string[]) chownSync(join(dir, name), USER, USER);
}
