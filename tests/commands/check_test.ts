import assert from "node:assert/strict";
import { join } from "node:path";
import { countReadings, seedReadings, sha256File, tempDir, walSize } from "../_helpers/database.ts";
import { runOnce, spawnLogger, waitFor } from "../_helpers/process.ts";
import { SCHEMA_VERSION } from "../../lib/store/mod.ts";

Deno.test("check passes a healthy database with exit 0, quick and full", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  await seedReadings(db, 10_000, { sensors: 3 });
  for (const extra of [[], ["--full"]]) {
    const { code, stdout, stderr } = await runOnce(["check", "--db", db, "--json", ...extra]);
    assert.equal(code, 0, stderr);
    const r = JSON.parse(stdout);
    assert.equal(r.ok, true);
    assert.equal(r.check, extra.length ? "integrity_check" : "quick_check");
    assert.equal(r.schema_version, SCHEMA_VERSION);
    assert.equal(r.journal_mode, "wal");
  }
});

/** Runs SQL on `db` with the sqlite3 CLI (which allows writable_schema). */
function sql(db: string, statement: string): void {
  const r = new Deno.Command("sqlite3", { args: [db, statement] }).outputSync();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
}

Deno.test("check finds a damaged index with --full, exits 4 and leaves the file as it was", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  await seedReadings(db, 10_000, { sensors: 3 });
  assert.equal((await runOnce(["compact", "--db", db, "--all"])).code, 0);
  // Damage the index behind SQLite's back: hide the index's last_ts column, change rows,
  // restore the schema; the index no longer matches.
  sql(
    db,
    "PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql = 'CREATE INDEX chunks_sensor_ts ON chunks(sensor_id)' WHERE name = 'chunks_sensor_ts';",
  );
  sql(db, "UPDATE chunks SET last_ts = last_ts + 1;");
  sql(
    db,
    "PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql = 'CREATE INDEX chunks_sensor_ts ON chunks(sensor_id, last_ts)' WHERE name = 'chunks_sensor_ts'; PRAGMA wal_checkpoint(TRUNCATE);",
  );
  const before = await sha256File(db);
  const { code, stdout, stderr } = await runOnce(["check", "--db", db, "--full"]);
  assert.equal(code, 4, stdout + stderr);
  assert.match(stdout, /^DAMAGED: /);
  assert.match(stderr, /is damaged; restore it from a backup/);
  assert.equal(await sha256File(db), before);
});

Deno.test("check finds readings whose sensor does not exist (the writer does not enforce foreign keys)", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  await seedReadings(db, 1_000, { sensors: 3 });
  const r = new Deno.Command("sqlite3", {
    args: [db, "INSERT INTO readings(sensor_id, ts, value) VALUES (99, 1, 1), (98, 2, 2); PRAGMA wal_checkpoint;"],
  }).outputSync();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  const { code, stdout } = await runOnce(["check", "--db", db, "--json"]);
  assert.equal(code, 4, stdout);
  const result = JSON.parse(stdout);
  assert.equal(result.ok, false);
  assert.equal(result.problems.length, 2);
  assert.match(result.problems[0], /^readings row 1001 refers to a missing row of sensors$/);
});

Deno.test("check on a file that is not a database exits 4 and does not change it", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  Deno.writeTextFileSync(db, "hello, not sqlite".repeat(500));
  const before = await sha256File(db);
  const { code, stderr } = await runOnce(["check", "--db", db]);
  assert.equal(code, 4);
  assert.match(stderr, /e\.db/);
  assert.equal(await sha256File(db), before);
});

Deno.test("check and stats read a database left with a full WAL by a SIGKILLed logger", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  const p = spawnLogger(["--db", db, "--sim-rate", "5000"]);
  try {
    await p.waitUntilLogging();
    await waitFor(() => countReadings(db) >= 2000, 20_000);
  } finally {
    p.kill("SIGKILL");
    await p.exited();
  }
  assert.ok(walSize(db) > 0, "the WAL holds the committed readings");
  const check = await runOnce(["check", "--db", db, "--json"]);
  assert.equal(check.code, 0, check.stderr);
  const result = JSON.parse(check.stdout);
  assert.equal(result.ok, true);
  assert.equal(result.writer_pid, null, "the kernel released the dead logger's lock");
  const stats = JSON.parse((await runOnce(["stats", "--db", db, "--json"])).stdout);
  assert.equal(stats.readings, countReadings(db));
  assert.ok(stats.readings >= 2000);
});

Deno.test("check --full finds a compressed chunk whose bytes were damaged, exits 4 and names the chunk", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  await seedReadings(db, 10_000, { sensors: 3 });
  assert.equal((await runOnce(["compact", "--db", db, "--all"])).code, 0);
  assert.equal((await runOnce(["check", "--db", db, "--full"])).code, 0, "healthy before the damage");
  // Flip one byte in the middle of the second chunk's data.
  sql(
    db,
    "UPDATE chunks SET data = substr(data, 1, 40) || x'5A' || substr(data, 42) WHERE id = 2; PRAGMA wal_checkpoint(TRUNCATE);",
  );
  const quick = await runOnce(["check", "--db", db, "--json"]);
  assert.equal(quick.code, 0, "quick_check does not decode chunks");
  const { code, stdout } = await runOnce(["check", "--db", db, "--json", "--full"]);
  assert.equal(code, 4, stdout);
  const result = JSON.parse(stdout);
  assert.equal(result.problems.length, 1);
  assert.match(result.problems[0], /^chunk 2: /);
});
