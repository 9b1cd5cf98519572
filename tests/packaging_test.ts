import assert from "node:assert/strict";
import { join } from "node:path";
import denoJson from "../deno.json" with { type: "json" };
import { tempDir } from "./_helpers/database.ts";
import { ROOT, run } from "./_helpers/process.ts";

Deno.test("the lockfile is frozen: a dependency that differs from deno.lock fails loudly", async () => {
  assert.equal((denoJson as { lock?: { frozen?: boolean } }).lock?.frozen, true, "deno.json declares lock.frozen");
  await using dir = await tempDir();
  await Deno.copyFile(join(ROOT, "deno.lock"), join(dir.path, "deno.lock"));
  await Deno.writeTextFile(join(dir.path, "x.ts"), 'import uPlot from "uplot";\nconsole.log(typeof uPlot);\n');
  const check = (json: unknown) =>
    Deno.writeTextFile(join(dir.path, "deno.json"), JSON.stringify(json)).then(() =>
      run(Deno.execPath(), ["check", "--config", join(dir.path, "deno.json"), join(dir.path, "x.ts")])
    );
  const same = await check(denoJson);
  assert.equal(same.code, 0, `the project's own deno.json passes: ${same.stderr}`);
  const changed = structuredClone(denoJson) as { imports: Record<string, string> };
  changed.imports.uplot = "npm:uplot@1.6.31";
  const refused = await check(changed);
  assert.notEqual(refused.code, 0, "a changed dependency is refused");
  assert.match(refused.stderr, /lockfile is out of date/i);
});

Deno.test("test-only packages are neither in the import map nor in the program's module graph", async () => {
  assert.ok(!("playwright-core" in denoJson.imports), "playwright-core is not in deno.json imports");
  for (const entry of ["main.ts", "lib/serve/read_worker.ts"]) { // what `deno task compile` bundles
    const info = await run(Deno.execPath(), ["info", "--json", join(ROOT, entry)]);
    assert.equal(info.code, 0, info.stderr);
    // `npmPackages` is the lockfile's whole snapshot; the graph is `modules` and `redirects`.
    const graph = JSON.parse(info.stdout) as { modules: { specifier: string }[]; redirects: Record<string, string> };
    const specifiers = [...graph.modules.map((m) => m.specifier), ...Object.values(graph.redirects)];
    const packages = new Set(specifiers.flatMap((s) => /^npm:\/?((?:@[^/]+\/)?[^@/]+)/.exec(s)?.[1] ?? []));
    if (entry === "main.ts") assert.ok(packages.has("@logtape/logtape"), `the graph was read (${[...packages]})`);
    for (const p of packages) assert.ok(["@logtape/logtape", "uplot"].includes(p), `${entry} pulls in ${p}`);
  }
});

Deno.test("deno doc --lint main.ts finds nothing", async () => {
  const lint = await run(Deno.execPath(), ["doc", "--lint", join(ROOT, "main.ts")]);
  assert.equal(lint.code, 0, lint.stdout + lint.stderr);
});
