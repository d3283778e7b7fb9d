// Could `git add` store a file's content differently from its bytes? Content
// filters (clean, working-tree-encoding, ident) and end-of-line conversion come
// from .gitattributes and core.autocrlf. Rather than evaluate attributes, the
// fast route proves them irrelevant: end-of-line conversion on check-in only
// ever removes CRs, so it is a no-op on a file without a CR byte; ident only
// touches "$Id"; a filter or an encoding must never be in play. Where that
// proof fails the caller falls back to git.
import { native, S_IFLNK, S_IFMT } from "./native";
import { configBool, configValue, type Config, type Repo, SYSTEM_DIRS, userGitFile } from "./repo";

export class ConversionUnsure extends Error {}

export class Conversions {
  private global: string[] | null = null;
  private perDir = new Map<string, string | null>();

  constructor(
    private readonly repo: Repo,
    private readonly config: Config,
    /** Whether the index holds this path (a .gitattributes that git would read from the index). */
    private readonly inIndex: (path: string) => boolean,
    private readonly env: Readonly<Record<string, string | undefined>>,
  ) {}

  /** Throws ConversionUnsure unless `git add` would store `content` of the regular file `path` as it is. */
  check(path: string, content: Uint8Array): void {
    const texts = [...this.globalTexts(), ...this.dirTexts(path)];
    const attributes = texts.length > 0;
    if (texts.some((t) => /filter|encoding/.test(t))) throw new ConversionUnsure("a filter or encoding attribute");
    const autocrlf = configValue(this.config, "core.autocrlf")?.toLowerCase();
    const converts = attributes || autocrlf === "input" || configBool(this.config, "core.autocrlf") === true;
    if (converts && content.includes(13))
      throw new ConversionUnsure(`${path} has CR bytes and end-of-line conversion may apply`);
    // core.safecrlf=true makes git add fail on files it would convert on checkout.
    const safecrlf = configValue(this.config, "core.safecrlf")?.toLowerCase();
    if (
      converts &&
      safecrlf !== undefined &&
      safecrlf !== "warn" &&
      configBool(this.config, "core.safecrlf") !== false
    ) {
      throw new ConversionUnsure("core.safecrlf");
    }
    if (
      texts.some((t) => t.includes("ident")) &&
      Buffer.from(content.buffer, content.byteOffset, content.byteLength).includes("$Id")
    ) {
      throw new ConversionUnsure(`${path} has $Id and an ident attribute may apply`);
    }
  }

  private read(path: string, inTree: boolean): string | null {
    const n = native()!;
    const p = Buffer.from(path, "latin1");
    const st = n.lstat(p);
    if (!st) return null;
    // git does not follow a symlinked .gitattributes inside the work tree (2.32+).
    if (inTree && (st.mode & S_IFMT) === S_IFLNK) throw new ConversionUnsure(`${path} is a symbolic link`);
    const data = n.readFile(p);
    return data ? Buffer.from(data).toString("latin1") : null;
  }

  private globalTexts(): string[] {
    if (this.global) return this.global;
    const user = userGitFile(this.config, "core.attributesfile", "attributes", this.env);
    if (user === "relative") throw new ConversionUnsure("core.attributesFile is not an absolute path");
    const files = [...SYSTEM_DIRS.map((d) => `${d}/gitattributes`), `${this.repo.commonDir}/info/attributes`];
    if (user) files.push(user);
    this.global = files
      .map((f) => this.read(Buffer.from(f).toString("latin1"), false))
      .filter((t): t is string => t !== null);
    return this.global;
  }

  /** Texts of the .gitattributes files from the root down to path's directory. */
  private dirTexts(path: string): string[] {
    const out: string[] = [];
    this.collect("", out);
    for (let i = path.indexOf("/"); i >= 0; i = path.indexOf("/", i + 1)) this.collect(path.slice(0, i + 1), out);
    return out;
  }

  private collect(dir: string, out: string[]): void {
    if (!this.perDir.has(dir)) {
      const rel = `${dir}.gitattributes`;
      const text = this.read(`${Buffer.from(this.repo.root).toString("latin1")}/${rel}`, true);
      // Missing from the work tree, git reads it from the index: not worth doing here.
      if (text === null && this.inIndex(rel)) throw new ConversionUnsure(`${rel} exists only in the index`);
      this.perDir.set(dir, text);
    }
    const t = this.perDir.get(dir);
    if (t) out.push(t);
  }
}
