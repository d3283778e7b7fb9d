// The toplevel's hashing service answers exactly what hashing in the caller's
// own process would, with the caller's git environment, and says "do it
// yourself", and why, whenever it cannot answer.
import { test, expect, afterAll, describe } from "bun:test";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { serveHashing, hashViaService } from "../../src/toplevel/hash-service";
import { hashInputs } from "../../src/hash";
import { haskellStrip, sha1Hex } from "../../src/hash/text";
import { FrameReader, frame } from "../../src/sys/frames";
import { processVariables } from "../../src/toplevel/process-env";
import { referenceListing, Repos } from "../fakes/git-repo";

const dir = realpathSync(mkdtempSync(join(tmpdir(), "hash-service-")));
const repos = new Repos();
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  repos.cleanup();
});

const env = { HOME: process.env.HOME, PATH: process.env.PATH };
Bun.spawnSync(
  [
    "bash",
    "-ec",
    "git init -q repo && cd repo && mkdir src && echo a > src/a && echo b > src/b && git add . && git -c user.name=t -c user.email=t@t commit -qm i && echo c > src/c",
  ],
  { cwd: dir },
);
const repo = join(dir, "repo");

/** Hashing in the caller's own process, with why it went the reference way when it did: what the service answers. */
async function local(cwd: string, specs: string[], raw: string[], callerEnv: Record<string, string | undefined> = env) {
  let fallback: string | undefined;
  const r = await hashInputs(cwd, specs, raw, { env: callerEnv, onFallback: (why) => (fallback = why) });
  return fallback === undefined ? r : { ...r, fallback };
}

test("answers what local hashing answers, errors included", async () => {
  const service = serveHashing(join(dir, "svc1"), env, () => {})!;
  const socket = service.path;
  try {
    expect(await hashViaService(socket, env, repo, ["src"], ["v1"])).toEqual(await local(repo, ["src"], ["v1"]));
    expect(await hashViaService(socket, env, join(repo, "src"), ["a", "../src/b"], [])).toEqual(
      await local(join(repo, "src"), ["a", "../src/b"], []),
    );
    expect(await hashViaService(socket, env, repo, ["missing"], [])).toMatchObject({
      ok: false,
      error: "pathspec 'missing' did not match any files",
    });
    // Many at once, as parallel nested tasks ask.
    const answers = await Promise.all(Array.from({ length: 10 }, () => hashViaService(socket, env, repo, ["src"], [])));
    const here = await local(repo, ["src"], []);
    for (const a of answers) expect(a).toEqual(here);
  } finally {
    service.stop();
  }
});

// A user-level ignore file that leaves out the untracked src/c: the hash tells whose HOME git read.
const home = join(dir, "home");
mkdirSync(home);
writeFileSync(join(home, ".gitconfig"), `[core]\n\texcludesFile = ${home}/ignore\n`);
writeFileSync(join(home, "ignore"), "c\n");

test("it hashes with the caller's git environment: another HOME or XDG_CONFIG_HOME, GIT_* variables on either side", async () => {
  const service = serveHashing(join(dir, "svc2"), env, () => {})!;
  const gitService = serveHashing(
    join(dir, "svc3"),
    { ...env, GIT_CONFIG_NOSYSTEM: "1", GIT_LITERAL_PATHSPECS: "1" },
    () => {},
  )!;
  try {
    const callers = [
      { ...env, HOME: home },
      { ...env, XDG_CONFIG_HOME: "/elsewhere" },
      { ...env, GIT_DIR: `${repo}/.git` },
      { ...env, GIT_LITERAL_PATHSPECS: "1" },
      { ...env, GIT_CONFIG_GLOBAL: `${home}/.gitconfig` },
    ];
    for (const caller of callers) {
      const own = await local(repo, ["src"], [], caller);
      expect(await hashViaService(service.path, caller, repo, ["src"], [])).toEqual(own);
      // The toplevel's own GIT_* variables are not the caller's.
      expect(await hashViaService(gitService.path, caller, repo, ["src"], [])).toEqual(own);
    }
    // What makes the first and the last tell: the ignore file leaves src/c out.
    const plain = await hashInputs(repo, ["src"], [], { env });
    const ignoring = await hashInputs(repo, ["src"], [], { env: { ...env, HOME: home } });
    expect(plain).toMatchObject({ ok: true, hashInput: expect.stringContaining("src/c") });
    expect(ignoring).toMatchObject({ ok: true, hashInput: expect.not.stringContaining("src/c") });
    const global = await hashViaService(
      service.path,
      { ...env, GIT_CONFIG_GLOBAL: `${home}/.gitconfig` },
      repo,
      ["src"],
      [],
    );
    expect(global).toEqual(await local(repo, ["src"], [], { ...env, GIT_CONFIG_GLOBAL: `${home}/.gitconfig` }));
    expect(global).toMatchObject({ ok: true, hash: (ignoring as { hash: string }).hash });
  } finally {
    service.stop();
    gitService.stop();
  }
});

test("the caller hashes by itself, and is told why: no service, a directory made before it", async () => {
  const lines: string[] = [];
  const service = serveHashing(join(dir, "svc4"), env, (m) => lines.push(m))!;
  const socket = service.path;
  service.stop();
  expect(await hashViaService(socket, env, repo, ["src"], [])).toMatchObject({
    declined: expect.stringMatching(/^cannot connect to .*hash\.sock/),
  });
  // A directory someone made before us may not be only ours.
  expect(serveHashing(join(dir, "svc4"), env, (m) => lines.push(m))).toBeNull();
  expect(lines).toEqual([`hash service not started: cannot create ${join(dir, "svc4")}: File exists`]);
});

test("a socket path longer than a socket's ~100 bytes works (through /proc/self/fd), still in a 0700 directory", async () => {
  const long = join(dir, "x".repeat(100), "y".repeat(100), "svc");
  mkdirSync(dirname(long), { recursive: true });
  const lines: string[] = [];
  const service = serveHashing(long, env, (m) => lines.push(m));
  expect(lines).toEqual([]);
  try {
    expect(service!.path).toBe(`${long}/hash.sock`);
    expect(statSync(service!.path).isSocket()).toBe(true);
    expect(statSync(long).mode & 0o777).toBe(0o700);
    expect(await hashViaService(service!.path, env, repo, ["src"], ["v1"])).toEqual(await local(repo, ["src"], ["v1"]));
    // No descriptor of the directory stays open on either side.
    expect(readdirSync("/proc/self/fd").filter((fd) => readlinkOrNull(`/proc/self/fd/${fd}`) === long)).toEqual([]);
  } finally {
    service?.stop();
  }
  expect(existsSync(`${long}/hash.sock`)).toBe(false);
});

function readlinkOrNull(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null; // the listing's own descriptor, gone by now
  }
}

describe("framing: whole messages only, any size, through back-pressure", () => {
  const message = (s: string) => new TextEncoder().encode(s);

  test("a frame split at every offset, and many frames in one chunk, decode to the same payloads", () => {
    const payloads = ["é", "日本語 — ✓", `${"x".repeat(300)}🎉€`, ""].map(message);
    for (const p of payloads) {
      const f = frame(p);
      for (let cut = 0; cut <= f.length; cut++) {
        const reader = new FrameReader();
        const got = [...reader.push(f.subarray(0, cut)), ...reader.push(f.subarray(cut))];
        expect(got.map((g) => Buffer.from(g).toString("hex"))).toEqual([Buffer.from(p).toString("hex")]);
      }
      // One byte at a time.
      const reader = new FrameReader();
      const got = [...f].flatMap((b) => reader.push(Uint8Array.of(b)));
      expect(got.length).toBe(1);
      expect(Buffer.from(got[0]).equals(Buffer.from(p))).toBe(true);
    }
    const all = Buffer.concat(payloads.map(frame));
    expect(new FrameReader().push(all).map((g) => Buffer.from(g).toString())).toEqual(
      payloads.map((p) => Buffer.from(p).toString()),
    );
  });

  test("a peer speaking another protocol is told apart at its first bytes", () => {
    const reader = new FrameReader();
    expect(reader.push(message('{"cwd"'))).toEqual([]);
    expect(reader.foreign).toBe(true);
    const partial = new FrameReader();
    partial.push(frame(message("x")).subarray(0, 3));
    expect(partial.foreign).toBe(false);
  });

  test("requests written in two pieces cut at every offset, multi-byte characters included, all answered whole", async () => {
    const service = serveHashing(join(dir, "svc-split"), env, () => {})!;
    try {
      const raw = "ünï-日本-🎉-é";
      const expected = await hashInputs(repo, [], [raw], { env: process.env });
      const request = frame(
        message(JSON.stringify({ cwd: repo, pathspecs: [], raw: [raw], env: processVariables(env), umask: 0o22 })),
      );
      const answers = await Promise.all(
        Array.from({ length: request.length + 1 }, (_, cut) =>
          rawExchange(service.path, [request.subarray(0, cut), request.subarray(cut)]),
        ),
      );
      for (const a of answers) expect(a).toEqual(expected);
    } finally {
      service.stop();
    }
  });

  test("hundreds of parallel requests with multi-byte values at every alignment", async () => {
    const service = serveHashing(join(dir, "svc-many"), env, () => {})!;
    try {
      const raws = Array.from({ length: 400 }, (_, i) => `${"a".repeat(i % 97)}${"é日🎉".repeat(200 + (i % 13))}`);
      const answers = await Promise.all(raws.map((r) => hashViaService(service.path, env, repo, ["src"], [r], 30_000)));
      const local = await hashInputs(repo, ["src"], [], { env: process.env });
      answers.forEach((a, i) =>
        expect(a).toEqual({
          ok: true,
          hashInput: `${local.ok && local.hashInput}${raws[i]}`,
          hash: sha1Hex(`${local.ok && local.hashInput}${raws[i]}`),
        }),
      );
    } finally {
      service.stop();
    }
  });

  test("requests and answers of several MB, and a 5,000-path request", async () => {
    const big = repos.make(
      "mkdir d && for i in $(seq 1 5000); do echo $i > d/file-with-a-longer-name-$i.txt; done && git add . && git commit -qm many",
    );
    const service = serveHashing(join(dir, "svc-big"), env, () => {})!;
    try {
      const raw = "é—日本🎉".repeat(300_000); // 4.2 MB of UTF-8, over many socket buffers both ways
      expect(await hashViaService(service.path, env, repo, ["src"], [raw], 30_000)).toEqual(
        await hashInputs(repo, ["src"], [raw], { env: process.env }),
      );
      const specs = Array.from({ length: 5000 }, (_, i) => `d/file-with-a-longer-name-${i + 1}.txt`);
      const answer = await hashViaService(service.path, env, big, specs, [], 30_000);
      expect(answer).toEqual(await hashInputs(big, specs, [], { env: process.env }));
      expect(answer).toMatchObject({ ok: true, hash: sha1Hex(haskellStrip(referenceListing(big, ["d"])!)) });
    } finally {
      service.stop();
    }
  });

  test("a client of another version (one JSON line) is declined at once, not left waiting", async () => {
    const service = serveHashing(join(dir, "svc-old"), env, () => {})!;
    try {
      const line = await new Promise<string>((resolve) => {
        let text = "";
        Bun.connect({
          unix: service.path,
          socket: {
            open: (s) => void s.write(`${JSON.stringify({ cwd: repo, pathspecs: ["src"], raw: [], env: {} })}\n`),
            data: (_s, d) => void (text += d.toString()),
            close: () => resolve(text),
          },
        });
      });
      expect(JSON.parse(line)).toEqual({
        ok: false,
        error: "unsupported",
        reason: "the toplevel speaks another protocol",
      });
    } finally {
      service.stop();
    }
  });
});

/** Writes pieces to the service as separate writes (the peer reads each on its own) and decodes the answer. */
function rawExchange(path: string, pieces: Uint8Array[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const reader = new FrameReader();
    Bun.connect({
      unix: path,
      socket: {
        async open(s) {
          for (const p of pieces) {
            if (p.length > 0) s.write(p);
            s.flush();
            await Bun.sleep(2);
          }
        },
        data(_s, d) {
          const [payload] = reader.push(d);
          if (payload) resolve(JSON.parse(new TextDecoder().decode(payload)));
        },
        close: () => reject(new Error("closed without an answer")),
      },
    });
  });
}
