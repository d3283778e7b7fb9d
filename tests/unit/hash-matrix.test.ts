// src/hash: every case compares both routes (and the default, which picks one)
// with the established tool's pipeline run by bash, byte for byte, and
// hasUncommittedChanges with `git status`. Cases the fast route does not cover
// must fall back, and still agree.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { hashInputs, hasUncommittedChanges } from "../../src/hash";
import { haskellStrip, sha1Hex } from "../../src/hash/text";
import { referenceListing, referenceStatus, Repos, sh } from "../fakes/git-repo";
import { encodeBytes } from "../../src/sys/bytes";

const repos = new Repos();
afterAll(() => repos.cleanup());

const base = `mkdir -p src/sub docs && echo a > src/a.txt && echo b > src/sub/b.txt && echo d > docs/d.md
echo '*.log' > .gitignore && git add . && git commit -qm init`;

// Files written in the second the index was written are "racily clean": both
// git and the fast route re-read them. This makes them plainly clean.
// (Rewrites in the tests change sizes too: a same-size rewrite within one clock tick of
// the index write is invisible to the old pipeline, whose index copy is newer.)
const settle = "touch -d '2001-02-03 04:05:06' $(git ls-files) && git update-index -q --refresh";

/** The old tool's hash of the file part, or null where it failed. */
function oldHash(cwd: string, specs: string[]): string | null {
  const listing = referenceListing(cwd, specs);
  return listing === null ? null : sha1Hex(haskellStrip(listing));
}

async function expectAgreement(cwd: string, specs: string[], fast: boolean) {
  const indexFile = join(sh(cwd, "git rev-parse --absolute-git-dir").trim(), "index");
  const indexBefore = readFileSync(indexFile);
  const expected = oldHash(cwd, specs);
  expect(expected).not.toBeNull();
  const viaReference = await hashInputs(cwd, specs, [], { env: process.env, route: "reference" });
  const viaFast = await hashInputs(cwd, specs, [], { env: process.env, route: "fast" });
  const viaDefault = await hashInputs(cwd, specs, [], { env: process.env });
  expect(viaReference).toMatchObject({ ok: true, hash: expected! });
  expect(viaDefault).toMatchObject({ ok: true, hash: expected! });
  if (fast) expect(viaFast).toMatchObject({ ok: true, hash: expected! });
  else expect(viaFast).toMatchObject({ ok: false, error: expect.stringMatching(/^fast route unavailable/) });

  const status = referenceStatus(cwd, specs);
  expect(await hasUncommittedChanges(cwd, specs, { env: process.env, route: "reference" })).toBe(status);
  expect(await hasUncommittedChanges(cwd, specs, { env: process.env })).toBe(status);
  if (fast) expect(await hasUncommittedChanges(cwd, specs, { env: process.env, route: "fast" })).toBe(status);
  // The real index is never written.
  expect(readFileSync(indexFile).equals(indexBefore)).toBe(true);
}

// A committed Latin-1 name, then changed; an untracked one; and a folder.
const LATIN1 = `echo a > src/$'caf\\xe9.txt' && git add . && git commit -qm latin1 && echo changed > src/$'caf\\xe9.txt'
echo n > src/$'new-\\xe8.txt' && mkdir $'d\\xff' && echo f > $'d\\xff/f' && git add $'d\\xff' && git commit -qm d`;
// A truncated sequence, an overlong "/", an encoded surrogate, a lone continuation byte.
const BROKEN = `for n in $'t\\xe2\\x82x' $'o\\xc0\\xafx' $'s\\xed\\xa0\\x80x' $'c\\x80x'; do mkdir -p $'d\\xff'; echo "$n" > $'d\\xff'/"$n"; done`;

type Case = [name: string, setup: string, specs: string[], fast: boolean, cwd?: string];

// Folders for wildcard pathspecs. git add matches a wildcard as a glob (where "*"
// also matches "/"), but the old pipeline's `git ls-tree` takes it literally: its
// listing holds only paths named like the pattern — and git add still fails where
// a matched file cannot be added.
const pkgs = `mkdir -p pkg00/deep/deeper pkg01 pkg10 && echo a > pkg00/a && echo d > pkg00/deep/d && echo e > pkg00/deep/deeper/e
echo b > pkg01/b && echo c > pkg10/c && git add . && git commit -qm pkgs`;

const cases: Case[] = [
  ["committed files", "", ["src"], true],
  ["modified tracked file", "echo changed > src/a.txt", ["src"], true],
  ["deleted tracked file", "rm src/sub/b.txt", ["src"], true],
  ["deleted directory", "rm -r src/sub", ["src/sub"], true],
  ["staged, not committed", "echo staged > src/new.txt && git add src/new.txt", ["src"], true],
  [
    "staged change, work tree reverted",
    "echo staged > src/a.txt && git add src/a.txt && echo a > src/a.txt",
    ["src"],
    true,
  ],
  ["untracked file counts", "echo u > src/untracked.txt", ["src"], true],
  ["untracked directory tree counts", "mkdir -p src/new/deep && echo n > src/new/deep/n.txt", ["src"], true],
  ["ignored file does not count", "echo i > src/x.log && mkdir src/logs && echo j > src/logs/y.log", ["src"], true],
  [
    "tracked but ignored file counts",
    "echo t > src/t.log && git add -f src/t.log && git commit -qm t",
    ["src", "src/t.log"],
    true,
  ],
  [
    "a .gitignore in a non-ASCII directory",
    "mkdir -p src/ünï && printf '*.tmp\\n' > src/ünï/.gitignore && echo x > src/ünï/a.tmp && echo y > src/ünï/b.txt",
    ["src"],
    true,
  ],
  ["info/exclude", "echo '*.tmp' >> .git/info/exclude && echo t > src/x.tmp", ["src"], true],
  [
    "core.excludesFile",
    `printf '*.bak\\n' > .git/my-excludes && git config core.excludesFile "$PWD/.git/my-excludes" && echo b > src/x.bak`,
    ["src"],
    true,
  ],
  [
    "gitignore patterns: anchors, **, sets, negation, nested files",
    `printf '%s\\n' 'build/' '/root-only.txt' '**/gen/**' 'doc/*.tmp' '*.o' 'a?c' '[xy]z' '[!q]w' '[a-c]r' 'deep/**/x' '\\#hash' '!keep.o' 'sp\\ ' \\
  'tail  ' '**/lead' 'od/**' 'mid/**/end' 'file-only/' '\\!bang' '*.d/' '!*.d/keep' 'z\\[1\\]' > .gitignore
printf '!important.log\\n/local.txt\\nsub/*.c\\n' > src/.gitignore
mkdir -p build src/build src/gen/g src/doc/doc deep/a/b x/deep/q
for f in build/f src/build/f src/gen/g/f root-only.txt src/root-only.txt doc/a.tmp src/doc/a.tmp src/doc/doc/a.tmp \\
  m.o keep.o abc a/c xz yz qw rw br dr deep/x deep/a/b/x x/deep/q/x '#hash' 'sp ' sp tail 'tail  ' x/lead lead/y od/a/b \\
  mid/end mid/a/b/end mid/a/end2 file-only '!bang' bang y.d/f y.d/keep 'z[1]' z1 \\
  src/important.log src/other.log src/local.txt local.txt src/sub/x.c src/sub/deeper/x.c; do
  mkdir -p "$(dirname "$f")"; echo "$f" > "$f"; done`,
    ["."],
    true,
  ],
  [
    "spaces, quotes and unicode in names",
    "echo s > 'src/with space.txt' && echo u > src/ünïcödé.txt && echo q > 'src/quo\"te.txt' && echo b > 'src/back\\\\slash.txt'",
    ["src"],
    true,
  ],
  [
    "a tab and a newline in a name",
    `echo t > "src/$(printf 'tab\\there')" && echo n > "src/$(printf 'new\\nline')"`,
    ["src"],
    true,
  ],
  [
    "core.quotePath=false",
    "git config core.quotePath false && echo u > src/ünï.txt && echo t > \"src/$(printf 'a\\tb')\"",
    ["src"],
    true,
  ],
  ["trailing space in the last name", "echo x > 'src/zz '", ["src"], true],
  ["untracked symlinks", "ln -s a.txt src/link && ln -s ../docs src/dirlink", ["src"], true],
  [
    "tracked symlink retargeted",
    "ln -s a.txt src/l && git add src/l && git commit -qm l && ln -sfn sub src/l",
    ["src"],
    true,
  ],
  ["file became a symlink", "rm src/a.txt && ln -s sub/b.txt src/a.txt", ["src"], true],
  ["executable bits", "chmod +x src/a.txt && echo x > src/run.sh && chmod +x src/run.sh", ["src"], true],
  ["stale index: touched, unchanged", "touch -d '2001-02-03 04:05:06' src/a.txt src/sub/b.txt", ["src"], true],
  ["stale index: touched later, unchanged", "sleep 1.1 && touch src/a.txt src/sub/b.txt", ["src"], true],
  ["CR bytes, no attributes", "printf 'x\\r\\n' > src/a.txt && printf 'y\\r\\n' > src/crlf.txt", ["src"], true],
  [
    "several pathspecs, one a file",
    "echo e > extra.txt && git add extra.txt && echo changed > extra.txt",
    ["docs", "src/sub", "extra.txt"],
    true,
  ],
  ["cwd in a subdirectory, .. pathspecs", "echo z > docs/z.md", ["../../docs", "b.txt", "../a.txt"], true, "src/sub"],
  [". and .. from a subdirectory", "echo n > src/n.txt", [".", ".."], true, "src/sub"],
  ["./src, src/, src//sub, src/../docs", "", ["./src", "src/", "src//sub", "src/../docs"], true],
  ["a tracked directory replaced by a file", "rm -r src/sub && echo f > src/sub", ["src"], true],
  [
    "index version 4",
    "git update-index --index-version 4 && echo changed > src/a.txt && echo n > src/new.txt",
    ["src"],
    true,
  ],
  ["index version 3", "git update-index --index-version 3 && echo changed > src/a.txt", ["src"], true],
  [
    "text attributes, dirty file without CR",
    "printf '*.txt text\\n' > .gitattributes && git add .gitattributes && git commit -qm a && echo changed > src/a.txt",
    ["src"],
    true,
  ],
  ["core.autocrlf, dirty file without CR", "git config core.autocrlf true && echo changed > src/a.txt", ["src"], true],
  [
    "filter attribute, nothing to re-read",
    `printf '*.txt filter=x\\n' > .gitattributes && git add .gitattributes && git commit -qm a\n${settle}`,
    ["src"],
    true,
  ],
  ["staged elsewhere, packed objects", "git gc -q && echo s > docs/s.md && git add docs/s.md", ["src"], true],
  ["detached HEAD", "git checkout -q --detach", ["src"], true],
  ["unborn branch, full index", "git checkout -q --orphan fresh", ["src"], true],
  ["a linked worktree", "git worktree add -q wt && echo changed > wt/src/a.txt", ["src"], true, "wt"],
  ["cwd through a symbolic link", "ln -s src srclink && echo changed > src/a.txt", ["a.txt"], true, "srclink"],
  ["wildcard: a literal prefix and a star, over nested folders", pkgs, ["pkg0*"], true],
  [
    "wildcard: its matches changed, deleted, added (not listed, still added)",
    `${pkgs}\necho changed > pkg00/a && rm pkg01/b && echo u > pkg00/deep/u && mkdir pkg0new && echo n > pkg0new/n`,
    ["pkg0*"],
    true,
  ],
  [
    "wildcard: ignored files among its matches",
    `${pkgs}\necho i > pkg00/x.log && mkdir pkg00/logs && echo j > pkg00/logs/y.log`,
    ["pkg0*", "pkg00/*"],
    true,
  ],
  ["wildcard: ? and [set]", pkgs, ["pkg0?/*", "pkg[01]0/c"], true],
  ["wildcard: a leading star", pkgs, ["*.md"], true],
  [
    "wildcard: a file named like the pattern is listed",
    `${pkgs}\necho x > 'pkg0*' && git add 'pkg0*' && git commit -qm star && echo yy > 'pkg0*'`,
    ["pkg0*"],
    true,
  ],
  [
    "wildcard: untracked files in a folder named like the pattern are listed",
    `${pkgs}\nmkdir 'pkg0*' && echo l > 'pkg0*/l' && git add 'pkg0*' && git commit -qm l && echo u > 'pkg0*/u'`,
    ["pkg0*"],
    true,
  ],
  ["wildcard: from a subdirectory, and through ..", pkgs, ["*.txt", "../pkg1*"], true, "src"],
  ["wildcard: .. turns it into a literal path", pkgs, ["pkg0*/../pkg10"], true],
  [
    "wildcard and a literal pathspec over the same untracked file",
    `${pkgs}\necho u > pkg00/u`,
    ["pkg00", "pkg0*"],
    true,
  ],
  ["wildcard: a staged change to a file it matches", `${pkgs}\necho s > pkg01/b && git add pkg01/b`, ["pkg0*"], true],
  ["wildcard: a tracked folder of its matches deleted", `${pkgs}\nrm -r pkg00`, ["pkg0*"], true],
  [
    "a folder named with brackets (app/[id]): listed literally, a glob to git add",
    "mkdir -p 'app/[id]' app/i && echo p > 'app/[id]/page.tsx' && echo q > app/i/x && git add app && git commit -qm app && echo u > 'app/[id]/new.tsx' && echo v > app/d",
    ["app/[id]"],
    true,
  ],
  // Left to the reference route:
  ["wildcard matching untracked files only", `${pkgs}\necho n > new.txt`, ["new*"], false],
  [
    "wildcard: a tracked file it does not name became a folder",
    `${pkgs}\necho j > pkg01/f.js && git add . && git commit -qm j && rm pkg01/f.js && mkdir pkg01/f.js && echo y > pkg01/f.js/y.txt`,
    ["pkg01/*.txt", "pkg01/b"],
    false,
  ],
  [
    "eol attributes and CR bytes",
    "printf '*.txt text eol=crlf\\n' > .gitattributes && printf 'x\\r\\ny\\n' > src/crlf.txt",
    ["src"],
    false,
  ],
  ["core.autocrlf and CR bytes", "git config core.autocrlf true && printf 'x\\r\\n' > src/crlf.txt", ["src"], false],
  [
    "filter attribute, dirty file",
    "printf '*.txt filter=x\\n' > .gitattributes && git add .gitattributes && git commit -qm a && echo changed > src/a.txt",
    ["src"],
    false,
  ],
  [
    "ident attribute and $Id",
    "printf '*.txt ident\\n' > .gitattributes && git add .gitattributes && git commit -qm a && echo '$Id$' > src/a.txt",
    ["src"],
    false,
  ],
  [
    "submodule",
    "git init -q sm && (cd sm && echo s > s && git add s && git commit -qm s) && git -c protocol.file.allow=always submodule add -q ./sm src/sm 2>/dev/null",
    ["src"],
    false,
  ],
  [
    "nested untracked repository",
    "git init -q src/inner && cd src/inner && echo i > f && git add f && git commit -qm i",
    ["src"],
    false,
  ],
  ["the pathspec's directory became a file", "rm -r src/sub && echo f > src/sub", ["src/sub"], false],
  ["a file became a directory", "rm src/a.txt && mkdir src/a.txt && echo y > src/a.txt/y", ["src"], false],
  ["a directory became a symlink", "rm -r src/sub && ln -s ../docs src/sub", ["src"], false],
  ["wildcard pathspec", "echo n > src/n.txt", ["src/*.txt"], true],
  ["pathspec of an untracked file only", "echo e > extra.txt", ["docs", "extra.txt"], false],
  [
    "assume-unchanged entry",
    "git update-index --assume-unchanged src/a.txt && echo changed > src/a.txt",
    ["src"],
    false,
  ],
  ["intent-to-add entry", "echo n > src/n.txt && git add -N src/n.txt", ["src"], false],
  ["skip-worktree entry", "git update-index --skip-worktree src/a.txt", ["src"], false],
  ["split index", "git update-index --split-index && echo changed > src/a.txt", ["src"], false],
  [
    "unmerged entries",
    "git checkout -qb o && echo ours > src/a.txt && git commit -qam o && git checkout -q - && echo mine-too > src/a.txt && git commit -qam m && (git merge -q o >/dev/null 2>&1 || true)",
    ["src"],
    false,
  ],
  ["core.fileMode=false", "git config core.fileMode false && chmod +x src/a.txt", ["src"], false],
  // Names that are not UTF-8 (a Latin-1 system's caf\xe9.txt): listed as git lists them — octal
  // escapes by default; with core.quotePath=false the raw bytes, which the old tool's text saw as U+FFFD.
  ["a Latin-1 name, untracked, tracked and changed", LATIN1, ["src"], true],
  ["a Latin-1 name with core.quotePath=false", `git config core.quotePath false\n${LATIN1}`, ["src"], true],
  [
    "a Latin-1 folder and broken UTF-8 sequences, core.quotePath=false",
    `git config core.quotePath false\n${LATIN1}\n${BROKEN}`,
    ["."],
    true,
  ],
  ["broken UTF-8 sequences, default quotePath", BROKEN, ["."], true],
  ["a Latin-1 pathspec named explicitly", LATIN1, ["src/caf\udce9.txt", "d\udcff/f"], true],
  [
    "a Latin-1 pathspec named explicitly, core.quotePath=false",
    `git config core.quotePath false\n${LATIN1}`,
    ["src/caf\udce9.txt"],
    true,
  ],
  ["a Latin-1 folder as a pathspec", `${LATIN1}\n${BROKEN}`, ["d\udcff"], true],
  ["a wildcard with a Latin-1 byte", LATIN1, ["src/caf\udce9*"], true],
  ["a Latin-1 pathspec of an untracked file only", LATIN1, ["src/new-\udce8.txt"], false],
];

describe("both routes equal the old pipeline", () => {
  for (const [name, setup, specs, fast, cwd] of cases) {
    test(name, async () => {
      const dir = repos.make(`${base}\n${setup}`);
      await expectAgreement(cwd ? join(dir, cwd) : dir, specs, fast);
    });
  }

  test("pathspecs with quotes, backslashes, newlines and a leading dash", async () => {
    const dir = repos.make(
      `${base}\nfor f in 'q"uote' "new\nline" 'back\\slash' '-dash' 'sp ace'; do echo "$f" > "src/$f"; done; git add src && git commit -qm odd`,
    );
    await expectAgreement(dir, ['src/q"uote', "src/new\nline", "src/sp ace"], true);
    await expectAgreement(dir, ["src/back\\slash"], false);
    await expectAgreement(join(dir, "src"), ["./-dash"], true);
  });

  test("HEAD's trees read from deltified packs", async () => {
    const dir =
      repos.make(`mkdir -p a/b c && for i in $(seq 1 200); do echo $i > a/b/f$i; echo $i > c/g$i; done && git add . && git commit -qm 0
for i in $(seq 1 15); do echo "v$i" > a/b/f$i && echo "w$i" > c/g$i && git commit -qam "c$i"; done
git gc -q --aggressive && echo staged-elsewhere > c/new && git add c/new`);
    const packs = sh(dir, "git count-objects -v | grep in-pack");
    expect(packs).toMatch(/in-pack: [1-9]/);
    await expectAgreement(dir, ["a"], true);
    await expectAgreement(dir, ["a/b/f3"], true);
    sh(dir, "echo staged-here > a/b/f4 && git add a/b/f4");
    await expectAgreement(dir, ["a"], true);
    await expectAgreement(dir, ["a/b/f3"], true);
    await expectAgreement(dir, ["a/b/f4"], true);
  });

  test("300 pathspecs, some changed", async () => {
    const dir = repos.make(
      "for i in $(seq 1 300); do echo $i > f$i.txt; done; git add . && git commit -qm many; echo changed > f7.txt; rm f9.txt",
    );
    await expectAgreement(
      dir,
      Array.from({ length: 300 }, (_, i) => `f${i + 1}.txt`),
      true,
    );
  });

  test("300 pathspecs and an untracked-only one (git's way)", async () => {
    const dir = repos.make(
      "for i in $(seq 1 300); do echo $i > f$i.txt; done; git add . && git commit -qm many; echo changed-size > f7.txt; echo y > new.txt",
    );
    await expectAgreement(dir, [...Array.from({ length: 300 }, (_, i) => `f${i + 1}.txt`), "new.txt"], false);
  });

  test("600 pathspecs", async () => {
    const dir = repos.make(
      "mkdir d; for i in $(seq 1 600); do echo $i > d/f$i; done; git add . && git commit -qm many",
    );
    await expectAgreement(
      dir,
      Array.from({ length: 600 }, (_, i) => `d/f${i + 1}`),
      true,
    );
  });

  test("raw inputs follow the file part, joined by newlines", async () => {
    const dir = repos.make("echo foo > input.txt && git add input.txt");
    const listing = "100644 blob 257cc5642cb1a054f08cc83f2d943e56fd3ebe99\tinput.txt";
    expect(await hashInputs(dir, ["input.txt"], ["a", "b c"], { env: process.env })).toMatchObject({
      ok: true,
      hashInput: `${listing}a\nb c`,
    });
    expect(await hashInputs(dir, [], ["x", "y"], { env: process.env })).toEqual({
      ok: true,
      hash: sha1Hex("x\ny"),
      hashInput: "x\ny",
    });
  });
});

describe("raw values that are not UTF-8", () => {
  // The old `snapshot` function made its request with jq, which replaced each invalid
  // sequence with U+FFFD; the old tool hashed the words it got. jq is the oracle here.
  const values = ["caf\udce9", "t\udce2\udc82x", "o\udcc0\udcafx", "s\udced\udca0\udc80x", "ok é 🎉", "\udcff"];
  // jq's answer, checked against jq itself where it is installed (only bash and git are assumed).
  const seenByOldTool = ["caf\ufffd", "t\ufffdx", "o\ufffd\ufffdx", "s\ufffdx", "ok é 🎉", "\ufffd"];
  test("hash as the old tool's jq-made request gave them", async () => {
    if (Bun.which("jq")) {
      const stdin = Buffer.concat(values.flatMap((v) => [encodeBytes(v), Uint8Array.of(0)]));
      const read =
        'a=(); while IFS= LC_ALL=C read -r -d "" x; do a+=("$x"); done; jq -n -c \'$ARGS.positional\' --args -- "${a[@]}"';
      expect(JSON.parse(Bun.spawnSync(["bash", "-c", read], { stdin }).stdout.toString())).toEqual(seenByOldTool);
    }
    const ours = await hashInputs("/", [], values, { env: process.env });
    expect(ours).toEqual({ ok: true, hash: sha1Hex(seenByOldTool.join("\n")), hashInput: seenByOldTool.join("\n") });
  });
});

describe("one process hashing again after the work tree changed", () => {
  // What the toplevel does for a build's tasks: nothing it learnt about a folder
  // may hide a file that appeared since, even within the same second.
  test("untracked files and folders appear, files change and go, between hashes", async () => {
    // big/ is large enough for its listing to be kept between hashes (walk.ts), once it has
    // not changed for a second; every change below happens within a second of a hash.
    const dir = repos.make(
      `${base}\n${pkgs}\nmkdir big && for i in $(seq 1 80); do echo $i > big/f$i; done && git add big && git commit -qm big && sleep 1.1`,
    );
    const specsList = [["src"], ["pkg0*"], ["pkg00/deep"], ["big"], ["b*"], ["."]];
    const check = async () => {
      for (const specs of specsList) {
        expect(await hashInputs(dir, specs, [], { env: process.env, route: "fast" })).toMatchObject({
          ok: true,
          hash: oldHash(dir, specs)!,
        });
      }
    };
    await check();
    await check(); // the listings kept are used
    sh(
      dir,
      "echo n > src/new.txt && mkdir -p pkg00/deep/fresh && echo f > pkg00/deep/fresh/f && echo z > pkg0z && echo r > root.txt && echo u > big/untracked",
    );
    await check();
    sh(
      dir,
      "rm src/new.txt pkg0z big/untracked && echo changed-size > pkg00/a && echo g > pkg00/deep/fresh/g && mv big/f1 big/moved",
    );
    await check();
    sh(dir, "mv big big.old && mkdir big && cp big.old/f* big/ && echo x > big/extra"); // another folder of the same name
    await check();
  });
});

describe("test vectors of the contract", () => {
  for (const route of ["reference", "fast", "auto"] as const) {
    test(`input.txt = foo (${route})`, async () => {
      const dir = repos.make("mkdir nested && echo foo > input.txt && echo foo > nested/input.txt && git add .");
      expect(await hashInputs(dir, ["input.txt"], [], { env: process.env, route })).toMatchObject({
        ok: true,
        hash: "6b36308659163b577fd1c832107dc46ca3aa659b",
      });
      expect(await hashInputs(join(dir, "nested"), ["input.txt"], [], { env: process.env, route })).toMatchObject({
        ok: true,
        hash: "c6621d9fa9e14eff5f583847f3d3463767c6c082",
      });
    });
  }
});

describe("errors are values, in git's words", () => {
  test("a pathspec that matches nothing", async () => {
    const dir = repos.make(base);
    expect(await hashInputs(dir, ["src", "missing.txt"], [], { env: process.env })).toEqual({
      ok: false,
      error: "pathspec 'missing.txt' did not match any files",
    });
  });
  test("a cwd outside any git repository", async () => {
    const dir = repos.make("", { init: false });
    expect(await hashInputs(dir, ["x"], [], { env: process.env })).toEqual({
      ok: false,
      error: `not a git repository: ${dir} (file inputs are git pathspecs)`,
    });
  });
  test("a cwd that does not exist", async () => {
    const r = await hashInputs("/nonexistent/dir", ["x"], [], { env: process.env });
    expect(r.ok).toBe(false);
  });
  for (const magic of [":(glob)src/**", ":!src/sub"]) {
    test(`pathspec magic ${magic}: ls-tree rejects it, as in the old tool`, async () => {
      const dir = repos.make(base);
      expect(oldHash(dir, ["src", magic])).toBeNull();
      expect(await hashInputs(dir, ["src", magic], [], { env: process.env })).toMatchObject({
        ok: false,
        error: expect.stringMatching(/pathspec magic not supported/),
      });
    });
  }
  for (const specs of [["dist"], ["dist/a"], ["src", "dist/a"]]) {
    test(`a pathspec in an ignored directory (${specs.join(" ")}) fails, as git add does`, async () => {
      const dir = repos.make(
        `${base}\nmkdir dist && echo a > dist/a && git add -f dist/a && git commit -qm d && echo dist >> .gitignore`,
      );
      expect(oldHash(dir, specs)).toBeNull();
      expect(await hashInputs(dir, specs, [], { env: process.env })).toMatchObject({
        ok: false,
        error: expect.stringMatching(/ignored by one of your .gitignore files: dist/),
      });
    });
  }
  for (const specs of [["-n"], ["--"], [""], ["../outside"]]) {
    test(`odd pathspecs ${JSON.stringify(specs)} behave as in the old tool`, async () => {
      const dir = repos.make(base);
      const expected = oldHash(dir, specs);
      const r = await hashInputs(dir, specs, [], { env: process.env });
      expect(r.ok ? r.hash : null).toBe(expected);
      if (!r.ok) expect(r.error).not.toContain("\n");
    });
  }
  for (const [name, setup, specs] of [
    ["a wildcard ending in /", pkgs, ["pkg0*/"]],
    [
      "an ignored path named by a wildcard's literal part",
      `${pkgs}\necho pkg0 >> .gitignore && echo z > pkg0`,
      ["pkg0*"],
    ],
    ["a wildcard in an ignored folder", `${pkgs}\necho pkg01 >> .gitignore`, ["pkg01/*"]],
  ] as const) {
    test(`${name}: git add fails, and so does hashing`, async () => {
      const dir = repos.make(`${base}\n${setup}`);
      expect(oldHash(dir, [...specs])).toBeNull();
      for (const route of ["auto", "fast"] as const)
        expect((await hashInputs(dir, [...specs], [], { env: process.env, route })).ok).toBe(false);
    });
  }
  test("a repository with no index yet hashes as from an empty index", async () => {
    const dir = repos.make("echo a > a.txt");
    const blob = sh(dir, "git hash-object a.txt").trim();
    const expected = sha1Hex(`100644 blob ${blob}\ta.txt`);
    expect(await hashInputs(dir, ["a.txt"], [], { env: process.env })).toMatchObject({ ok: true, hash: expected });
  });
});
