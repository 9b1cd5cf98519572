import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "./_helpers/database.ts";
import { MAIN, startFlags } from "./_helpers/process.ts";

/** Runs the logger briefly with `env` only (no inherited NO_COLOR) and returns what it logged. */
async function logOf(args: string[], env: Record<string, string>): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...startFlags(), MAIN, ...args],
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: Deno.env.get("HOME") ?? "/tmp", ...env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/logging to/.test(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  child.kill("SIGTERM");
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  await child.status;
  return text;
}

Deno.test("pretty logs honour NO_COLOR and write values without quotes; JSON keeps the typed fields", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  const plain = await logOf(["--db", db, "--log-format", "pretty"], { NO_COLOR: "1" });
  assert.ok(!plain.includes("\x1b["), `no escape sequences with NO_COLOR:\n${plain}`);
  assert.match(plain, new RegExp(`edgelog \\S+ logging to ${db} \\(durability full, SQLite 3\\.[\\d.]+\\)$`, "m"));

  const coloured = await logOf(["--db", db, "--log-format", "pretty"], {});
  assert.ok(coloured.includes("\x1b["), "colours without NO_COLOR");
  assert.ok(!/logging to \S*"/.test(coloured) && coloured.includes(`logging to ${db}`), coloured);

  const json = await logOf(["--db", db, "--log-format", "json"], {});
  const start = json.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l)).find((r) =>
    /logging to/.test(r.message)
  );
  assert.equal(start.db, db, "the structured field is the path itself");
  assert.equal(start.durability, "full");
});
