// The shape of src/: no import cycle between modules (type imports and
// dynamic import() of a literal included), and every import points down the
// layer order CONTRIBUTING.md draws. Parsed with the TypeScript compiler, so
// an import inside a comment or a string is not one.
import { test, expect } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import ts from "typescript";

const SRC = join(import.meta.dir, "../../src");

/**
 * Lowest first. A module may import from its own unit (a folder, or a file at
 * the top of src/) and from units of lower layers; never upwards, never
 * sideways into another unit of its own layer. Keep in step with
 * CONTRIBUTING.md ("Layout").
 */
const LAYERS: string[][] = [
  ["sys"],
  ["version.ts", "config.ts", "usage.ts", "cli-prune.ts", "outcome.ts"],
  ["internal-env.ts"],
  ["cli.ts"],
  ["state"],
  ["output"],
  ["controller"],
  ["trace", "hash"],
  ["cache", "github"],
  ["remote.ts", "present.ts"],
  ["load-remote.ts", "load-present.ts"],
  ["task"],
  ["toplevel"],
  ["snapshot"],
  ["runner"],
  ["main.ts"],
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith(".ts") && !name.endsWith(".d.ts") ? [path] : [];
  });
}

/** Every module specifier a file depends on: import/export … from, import type, import("x"), typeof import("x"). */
export function specifiers(fileName: string, text: string): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteralLike(arg)) found.push(arg.text);
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      found.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true));
  return found;
}

/** The src/ module a relative specifier names, or null for a package, a text import (.sh) or a file outside src/. */
function resolve(from: string, spec: string): string | null {
  if (!spec.startsWith(".")) return null;
  const base = join(dirname(from), spec);
  for (const candidate of [base, `${base}.ts`, join(base, "index.ts")]) {
    try {
      if (statSync(candidate).isFile() && candidate.endsWith(".ts")) return candidate;
    } catch {
      // not this one
    }
  }
  return null;
}

function graph(): Map<string, string[]> {
  const edges = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const deps = specifiers(file, readFileSync(file, "utf8"))
      .map((s) => resolve(file, s))
      .filter((d): d is string => d !== null);
    edges.set(relative(SRC, file), [...new Set(deps.map((d) => relative(SRC, d)))]);
  }
  return edges;
}

/** Each cycle once, as the path of modules around it. */
export function cycles(edges: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const walk = (m: string) => {
    state.set(m, "open");
    stack.push(m);
    for (const d of edges.get(m) ?? []) {
      if (state.get(d) === "open") found.push([...stack.slice(stack.indexOf(d)), d]);
      else if (!state.has(d)) walk(d);
    }
    stack.pop();
    state.set(m, "done");
  };
  for (const m of [...edges.keys()].sort()) if (!state.has(m)) walk(m);
  return found;
}

const unitOf = (module: string) => (module.includes("/") ? module.slice(0, module.indexOf("/")) : module);
const layerOf = (unit: string) => LAYERS.findIndex((l) => l.includes(unit));

test("the cycle finder finds cycles of value and type imports, and dynamic imports", () => {
  const parsed = specifiers(
    "x.ts",
    `import type { A } from "./a"; export { b } from "./b"; const c = () => import("./c");
     type D = typeof import("./d"); // import { e } from "./e"
     const s = 'import("./f")';`,
  );
  expect(parsed).toEqual(["./a", "./b", "./c", "./d"]);
  const e = new Map([
    ["a", ["b"]],
    ["b", ["c"]],
    ["c", ["a"]],
    ["d", ["d"]],
    ["e", ["a"]],
  ]);
  expect(cycles(e)).toEqual([
    ["a", "b", "c", "a"],
    ["d", "d"],
  ]);
});

test("no import cycle under src/, type imports included", () => {
  expect(cycles(graph()).map((c) => c.join(" → "))).toEqual([]);
});

test("every unit of src/ has a layer, and imports point down the layers", () => {
  const edges = graph();
  const units = new Set([...edges.keys()].map(unitOf));
  expect([...units].filter((u) => layerOf(u) < 0)).toEqual([]);
  const wrong: string[] = [];
  for (const [module, deps] of edges) {
    const from = unitOf(module);
    for (const dep of deps) {
      const to = unitOf(dep);
      if (to === from) continue;
      if (layerOf(to) >= layerOf(from)) wrong.push(`${module} → ${dep}`);
    }
  }
  expect(wrong).toEqual([]);
});
