/**
 * The rules of docs/ARCHITECTURE.md, checked on the source: no import circles (not even
 * type-only ones), a folder of lib/ is entered through its mod.ts only, the ground floor imports
 * nothing above it, and no module grows past ~400 lines without saying why at its top.
 */
import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { ROOT } from "./_helpers/process.ts";
import { sourceFiles } from "./_helpers/source_files.ts";

const LIB = join(ROOT, "lib");
/** Modules every other layer may use; they import only each other. */
const GROUND_FLOOR = [
  "errors.ts",
  "reading.ts",
  "units.ts",
  "shell_words.ts",
  "formats.ts",
  "help.ts",
  "histogram.ts",
  "log.ts",
  "proc_io.ts",
  "build_time.ts",
  "clock.ts",
  "clock_sync.ts",
];
const MAX_LINES = 400;

/** The project files `file` imports (static imports and re-exports, type-only ones included). */
function importsOf(file: string): string[] {
  const text = Deno.readTextFileSync(file);
  const specifiers = [...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.[^"]+)"/gms)].map((m) => m[1]);
  return specifiers.filter((s) => s.endsWith(".ts")).map((s) => resolve(dirname(file), s));
}

const files = [join(ROOT, "main.ts"), ...sourceFiles(LIB)];
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const rel = (f: string) => relative(ROOT, f);

Deno.test("lib has no import circles, not even type-only ones", () => {
  const state = new Map<string, "open" | "done">();
  const circles: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "open") {
      circles.push([...path.slice(path.indexOf(file)), file].map(rel).join(" → "));
      return;
    }
    state.set(file, "open");
    for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
    state.set(file, "done");
  };
  for (const file of files) visit(file, []);
  assert.deepEqual(circles, []);
});

Deno.test("a folder of lib is entered through its mod.ts and its _private files stay inside it", () => {
  const problems: string[] = [];
  for (const [file, imports] of graph) {
    for (const target of imports) {
      const folder = dirname(target);
      if (folder === LIB || dirname(file).startsWith(folder)) continue; // same folder or below it
      const name = target.slice(folder.length + 1);
      if (name !== "mod.ts") problems.push(`${rel(file)} imports ${rel(target)}`);
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("the ground floor imports only the ground floor", () => {
  const ground = new Set(GROUND_FLOOR.map((f) => join(LIB, f)));
  const problems = [...ground].flatMap((file) =>
    (graph.get(file) ?? []).filter((t) => !ground.has(t)).map((t) => `${rel(file)} imports ${rel(t)}`)
  );
  assert.deepEqual(problems, []);
});

Deno.test(`no lib module exceeds ${MAX_LINES} lines without a reason at its top`, () => {
  const long = files.filter((f) => f.startsWith(LIB)).filter((f) => {
    const text = Deno.readTextFileSync(f);
    return text.split("\n").length > MAX_LINES && !/^ \* Longer than \d+ lines because /m.test(text.slice(0, 2000));
  });
  assert.deepEqual(long.map(rel), []);
});
