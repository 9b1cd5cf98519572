/**
 * Writes the newest commit's date into lib/build_time.ts (run by `deno task compile`), so the
 * compiled binary knows a lower bound for the wall clock. Leaves the file alone when it already
 * holds that date, or outside a git checkout.
 *
 * @module
 */

const FILE = new URL("../lib/build_time.ts", import.meta.url);

const out = await new Deno.Command("git", { args: ["log", "-1", "--format=%ct"], stdout: "piped", stderr: "null" })
  .output().catch(() => undefined);
const seconds = out?.success ? Number(new TextDecoder().decode(out.stdout).trim()) : NaN;
if (!Number.isSafeInteger(seconds) || seconds <= 0) {
  console.error("stamp_build_time: no git commit date; keeping lib/build_time.ts as it is");
} else {
  const ms = seconds * 1000;
  const text = await Deno.readTextFile(FILE);
  const next = text
    .replace(/BUILD_TIME_MS = \d+;/, `BUILD_TIME_MS = ${ms};`)
    .replace(/\(\d{4}-\d\d-\d\dT[\d:]+Z\)/, `(${new Date(ms).toISOString().replace(/\.000Z$/, "Z")})`);
  if (next !== text) await Deno.writeTextFile(FILE, next);
}
