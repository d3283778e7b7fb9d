// The shape of src/ a reader relies on, beside imports.test.ts: no function
// over 120 lines (a longer one holds more than one concern), no line over 120
// characters (the formatter's width; it cannot break strings and comments), and
// one JSDoc block per declaration (a second block stacked on the first is not
// shown by editors, and reads as a leftover). Parsed with the TypeScript compiler.
import { test, expect } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";

const SRC = join(import.meta.dir, "../../src");
const MAX_LINES = 120;
const MAX_WIDTH = 120;

function sourceFiles(dir: string, keep = (name: string) => name.endsWith(".ts") && !name.endsWith(".d.ts")): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path, keep);
    return keep(name) ? [path] : [];
  });
}

/** Every function (declaration, method, arrow, expression, accessor) longer than max lines, as `file:line name (N lines)`. */
export function longFunctions(fileName: string, text: string, max = MAX_LINES): string[] {
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const first = file.getLineAndCharacterOfPosition(node.getStart(file)).line;
      const last = file.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = last - first + 1;
      if (lines > max) {
        const named = node.name && ts.isIdentifier(node.name) ? node.name.text : "(anonymous)";
        found.push(`${fileName}:${first + 1} ${named} (${lines} lines)`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/** Lines where a JSDoc block ends and another starts right below it. */
export function stackedDocBlocks(fileName: string, text: string): string[] {
  const found: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i + 1 < lines.length; i++) {
    if (lines[i].trimEnd().endsWith("*/") && lines[i + 1].trimStart().startsWith("/**"))
      found.push(`${fileName}:${i + 2}`);
  }
  return found;
}

/** Lines longer than max characters (code points, as an editor counts them), as `file:line (N characters)`. */
export function longLines(fileName: string, text: string, max = MAX_WIDTH): string[] {
  const found: string[] = [];
  text.split("\n").forEach((line, i) => {
    const width = [...line].length;
    if (width > max) found.push(`${fileName}:${i + 1} (${width} characters)`);
  });
  return found;
}

test("the checks find what they look for", () => {
  const long = `function f() {\n${"  x();\n".repeat(MAX_LINES)}}\nconst g = () => {\n  y();\n};\n`;
  expect(longFunctions("a.ts", long)).toEqual([`a.ts:1 f (${MAX_LINES + 2} lines)`]);
  expect(longFunctions("a.ts", "class C {\n  m() {\n    return 1;\n  }\n}\n", 2)).toEqual(["a.ts:2 m (3 lines)"]);
  expect(stackedDocBlocks("a.ts", "/** one */\n/** two */\nlet x;\n")).toEqual(["a.ts:2"]);
  expect(stackedDocBlocks("a.ts", "/** one */\nlet x;\n/** two */\nlet y;\n")).toEqual([]);
  // At the limit passes, a code point over it fails; width counts code points, not UTF-16 units.
  const wide = `let a;\n// ${"x".repeat(MAX_WIDTH - 3)}\n// ${"𝄞".repeat(MAX_WIDTH - 3)}\n//${"x".repeat(MAX_WIDTH - 1)}\n`;
  expect(longLines("a.ts", wide)).toEqual([`a.ts:4 (${MAX_WIDTH + 1} characters)`]);
});

test(`no function in src/ is over ${MAX_LINES} lines`, () => {
  const found = sourceFiles(SRC).flatMap((f) => longFunctions(relative(SRC, f), readFileSync(f, "utf8")));
  expect(found).toEqual([]);
});

test("no JSDoc block in src/ is stacked on another", () => {
  const found = sourceFiles(SRC).flatMap((f) => stackedDocBlocks(relative(SRC, f), readFileSync(f, "utf8")));
  expect(found).toEqual([]);
});

test(`no line in src/ is over ${MAX_WIDTH} characters`, () => {
  // Every file: the shell scripts the binary embeds as well as the TypeScript.
  const found = sourceFiles(SRC, () => true).flatMap((f) => longLines(relative(SRC, f), readFileSync(f, "utf8")));
  expect(found).toEqual([]);
});
