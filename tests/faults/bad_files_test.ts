/**
 * Scenario 6: the database path points at something edgelog must not use. Each case gets its own
 * clear message and exit code 4, and the file is never modified (same SHA-256, no -wal/-shm).
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { basename, dirname, join } from "node:path";
import { sha256File, tempDir } from "../_helpers/database.ts";
import { runOnce, spawnLogger, type SpawnOptions, waitFor } from "../_helpers/process.ts";
import { assertGraceful, exists, exitedWithin, printFigures, rootOnly } from "./_faults.ts";

interface Outcome {
  name: string;
  code: number;
  message: string;
}

/** Prints one figures row per refused case, with the message the operator sees. */
function printOutcomes(outcomes: readonly Outcome[]): void {
  printFigures(outcomes.map((o) => ({
    scenario: `6. ${o.name}`,
    trials: 1,
    lost: "-",
    exits: String(o.code),
    stopMs: "-",
    notes: `file unchanged; "${o.message.replaceAll(/\/tmp\/[^\s:;'"]+/g, "<path>").replaceAll("|", "\\|")}"`,
  })));
}

/** Runs the logger against `db`, expecting exit 4 with a message matching `expected`. */
async function expectRefused(
  name: string,
  db: string,
  expected: RegExp,
  options: SpawnOptions = {},
): Promise<Outcome> {
  const before = exists(db) && Deno.statSync(db).isFile ? await sha256File(db) : undefined;
  const siblingsBefore = await snapshot(dirname(db));
  const r = await runOnce(["--db", db, "--sim-rate", "1000"], options);
  assert.equal(r.code, 4, `${name}: exit code 4; stderr:\n${r.stderr}`);
  const error = r.process.records.find((rec) => rec.level === "ERROR");
  const message = String(error?.message ?? r.stderr);
  assert.match(message, expected, `${name}: a clear message`);
  assert.ok(message.includes(db), `${name}: the message names the file`);
  if (before !== undefined) {
    assert.equal(await sha256File(db), before, `${name}: the file was not modified`);
  }
  // Nothing beside it was created or changed either: its -wal in particular is kept as it was.
  // Aside: the writer's empty `.lock` file, and the -shm, SQLite's rebuildable WAL index.
  const siblingsAfter = await snapshot(dirname(db));
  for (const scratch of [`${basename(db)}.lock`, `${basename(db)}-shm`]) {
    siblingsAfter.delete(scratch);
    siblingsBefore.delete(scratch);
  }
  assert.deepEqual(siblingsAfter, siblingsBefore, `${name}: no file beside it created or changed`);
  return { name, code: r.code, message };
}

/** SHA-256 of every regular file in `dir`, by name. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of Deno.readDirSync(dir)) {
    if (entry.isFile) files.set(entry.name, await sha256File(join(dir, entry.name)));
  }
  return files;
}

/** Creates a small valid edgelog database at `db` by running the logger briefly. */
async function makeEdgelogDb(db: string): Promise<void> {
  const p = spawnLogger(["--db", db, "--sim-rate", "20000"]);
  await p.waitUntilLogging();
  await waitFor(() => p.records.some((r) => r.message?.startsWith("stats")) || Deno.statSync(db).size > 64 * 1024);
  p.kill("SIGTERM");
  await assertGraceful(p, await exitedWithin(p, 20_000), db);
}

Deno.test("a directory as the database path is refused with exit 4", async () => {
  await using dir = await tempDir("edgelog-fault-bad-");
  const db = join(dir.path, "edgelog.db");
  Deno.mkdirSync(db);
  printOutcomes([await expectRefused("path is a directory", db, /is a directory/)]);
  assert.deepEqual([...Deno.readDirSync(db)], [], "nothing was created inside it");
});

Deno.test("a file of random bytes is refused with exit 4 and left unmodified", async () => {
  await using dir = await tempDir("edgelog-fault-bad-");
  const db = join(dir.path, "edgelog.db");
  Deno.writeFileSync(db, crypto.getRandomValues(new Uint8Array(64 * 1024)), { mode: 0o600 });
  printOutcomes([await expectRefused("random bytes", db, /not a SQLite database/)]);
});

Deno.test("with --on-damage refuse a truncated edgelog database is refused with exit 4 and left unmodified", async () => {
  await using dir = await tempDir("edgelog-fault-bad-");
  const db = join(dir.path, "edgelog.db");
  await makeEdgelogDb(db);
  const size = Deno.statSync(db).size;
  const copy = join(dir.path, "whole-pages.db");
  Deno.copyFileSync(db, copy);
  // Cut mid-page, and separately at a page boundary (the header still counts the lost pages).
  Deno.truncateSync(db, size - 1000);
  const refuse = { env: { EDGELOG_ON_DAMAGE: "refuse" } };
  const midPage = await expectRefused("truncated mid-page (--on-damage refuse)", db, /truncated/, refuse);
  Deno.truncateSync(copy, Math.floor(size / 2 / 4096) * 4096);
  printOutcomes([
    midPage,
    await expectRefused("truncated at a page boundary (--on-damage refuse)", copy, /truncated/, refuse),
  ]);
});

Deno.test("another application's SQLite database is refused with exit 4 and left unmodified", async () => {
  await using dir = await tempDir("edgelog-fault-bad-");
  const plain = join(dir.path, "contacts.db");
  const withId = join(dir.path, "other-app.db");
  for (const [path, appId] of [[plain, 0], [withId, 0x12345678]] as const) {
    const db = new DatabaseSync(path);
    db.exec(`CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO people(name) VALUES ('ada');
             PRAGMA application_id = ${appId};`);
    db.close();
  }
  // A third one in WAL mode whose last transactions are still in its -wal (it crashed, or runs).
  const inWal = join(dir.path, "wal-app.db");
  const crashed = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { DatabaseSync } from "node:sqlite";
       const db = new DatabaseSync(${JSON.stringify(inWal)});
       db.exec("PRAGMA journal_mode=WAL; CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO people(name) VALUES ('ada');");
       Deno.exit(0); // no close: the WAL is left as after a crash`,
    ],
  }).output();
  assert.ok(crashed.success && exists(`${inWal}-wal`), "the other application left its WAL");
  printOutcomes([
    await expectRefused("another application's database, its data still in its -wal", inWal, /not an edgelog database/),
    await expectRefused("another application's database (no readings table)", plain, /not an edgelog database/),
    await expectRefused("another application's database (its application_id)", withId, /another application/),
  ]);
});

Deno.test("a read-only directory is refused with exit 4, for a new and for an existing database", {
  ignore: rootOnly("the read-only directory scenario (root ignores chmod; it needs a read-only bind mount)"),
}, async () => {
  await using dir = await tempDir("edgelog-fault-bad-");
  const ro = join(dir.path, "ro");
  Deno.mkdirSync(ro);
  const existing = join(ro, "edgelog.db");
  await makeEdgelogDb(existing);
  Deno.removeSync(`${existing}.lock`);
  // A read-only bind mount of the directory, in a private mount namespace of the logger only.
  const prefix = [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"',
    ro,
  ];
  const old = await expectRefused(
    "existing database in a read-only directory",
    existing,
    /read-only|writable|permission/i,
    {
      prefix,
    },
  );
  const fresh = await expectRefused(
    "new database in a read-only directory",
    join(ro, "new.db"),
    /read-only|writable|permission/i,
    {
      prefix,
    },
  );
  assert.ok(!exists(join(ro, "new.db")));
  printOutcomes([old, fresh]);
});
