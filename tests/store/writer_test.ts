import assert from "node:assert/strict";
import { type Reading, ReadingBatch, SensorTable } from "../../lib/reading.ts";
import { APPLICATION_ID, AUTO_CHECKPOINT_BYTES, SCHEMA_VERSION, Store } from "../../lib/store/mod.ts";
import {
  countReadings,
  createSchema2Database,
  integrityCheck,
  sha256File,
  tempDir,
  walSize,
  withDb,
} from "../_helpers/database.ts";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { DatabaseError, LockedError } from "../../lib/errors.ts";

function readings(n: number, sensors = 3, t0 = 1_700_000_000_000): Reading[] {
  return Array.from({ length: n }, (_, i) => ({ sensor: `s${i % sensors}`, ts: t0 + i, value: i / 2, unit: "°C" }));
}

function pragma(db: string, name: string): unknown {
  // A separate connection sees only persistent pragmas; per-connection ones are checked in-process.
  return withDb(db, (c) => Object.values(c.prepare(`PRAGMA ${name}`).get() as object)[0]);
}

Deno.test("open creates the database in WAL mode with the edgelog schema", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "sub", "e.db");
  const store = Store.open(path, { durability: "full" });
  store.close();
  assert.equal(pragma(path, "journal_mode"), "wal");
  assert.equal(pragma(path, "user_version"), SCHEMA_VERSION);
  assert.equal(pragma(path, "application_id"), APPLICATION_ID);
  const tables = withDb(path, (c) => c.prepare("SELECT name FROM sqlite_schema WHERE type='table' ORDER BY name").all())
    .map((r) => (r as { name: string }).name);
  assert.deepEqual(tables, [
    "chunks",
    "clock_provisional",
    "clock_segments",
    "forward_cursors",
    "readings",
    "readings_downsampled",
    "sensors",
  ]);
  assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
});

Deno.test("opening an existing database again is idempotent and keeps its rows", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  let store = Store.open(path, { durability: "normal" });
  store.append(readings(10));
  store.close();
  store = Store.open(path, { durability: "full" });
  store.append(readings(5));
  store.close();
  assert.equal(countReadings(path), 15);
  assert.equal(withDb(path, (c) => (c.prepare("SELECT count(*) n FROM sensors").get() as { n: number }).n), 3);
});

Deno.test("append commits a batch in one transaction, with sensors and units", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const store = Store.open(path, { durability: "full" });
  store.append(readings(1000, 7)); // exercises the 128-row statement and the single-row tail
  store.append(readings(10, 7), 2, 5);
  store.close();
  assert.equal(countReadings(path), 1003);
  const rows = withDb(
    path,
    (c) =>
      c.prepare(
        "SELECT s.name, s.unit, r.ts, r.value FROM readings r JOIN sensors s ON s.id = r.sensor_id ORDER BY r.id",
      )
        .all(),
  ) as { name: string; unit: string; ts: number; value: number }[];
  assert.deepEqual({ ...rows[999] }, { name: "s5", unit: "°C", ts: 1_700_000_000_999, value: 499.5 });
  assert.deepEqual(rows.slice(1000).map((r) => r.name), ["s2", "s3", "s4"]);
});

Deno.test("a failed batch stores nothing of the batch and forgets sensors it created", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const store = Store.open(path, { durability: "full" });
  const bad: Reading[] = [{ sensor: "new", ts: 1, value: 1 }, {
    sensor: "new",
    ts: 2,
    value: NaN, // SQLite binds NaN as NULL: the NOT NULL constraint fails the batch
  }];
  assert.throws(() => store.append(bad));
  store.append([{ sensor: "new", ts: 3, value: 3 }]);
  // The pipeline's path: one sensor table across commits, whose cached ids must forget the sensor.
  const table = new SensorTable();
  const failing = new ReadingBatch(2, table);
  failing.push([{ sensor: "newer", ts: 4, value: 4 }, { sensor: "newer", ts: 5, value: NaN }], 0, 2);
  assert.throws(() => store.appendBatch(failing));
  const next = new ReadingBatch(1, table);
  next.push([{ sensor: "newer", ts: 6, value: 6 }], 0, 1);
  store.appendBatch(next);
  store.close();
  assert.equal(countReadings(path), 2);
  assert.equal(integrityCheck(path), "ok");
});

Deno.test("durability sets synchronous FULL or NORMAL on the writer connection", async () => {
  await using dir = await tempDir();
  for (const [durability, expected] of [["full", 2], ["normal", 1]] as const) {
    const path = join(dir.path, `${durability}.db`);
    const store = Store.open(path, { durability });
    // Read the writer's own setting through a statement on its connection.
    const sync = pragmaOfStore(store, "synchronous");
    assert.equal(sync, expected);
    assert.equal(pragmaOfStore(store, "foreign_keys"), 0, "integrity by construction, checked by check");
    store.close();
  }
});

Deno.test("the writer checkpoints after 4 MiB of WAL whatever the page size", async () => {
  await using dir = await tempDir();
  const fresh = join(dir.path, "new.db");
  const old = join(dir.path, "old.db");
  createSchema2Database(old, 10); // SQLite's default page size, 4 KiB, as edgelog 0.1 made them
  for (const [path, pageSize, pages] of [[fresh, 1024, 4096], [old, 4096, 1024]] as const) {
    const store = Store.open(path, { durability: "full" });
    try {
      assert.equal(pragmaOfStore(store, "page_size"), pageSize);
      assert.equal(pragmaOfStore(store, "wal_autocheckpoint"), pages, path);
      assert.equal(pages * pageSize, AUTO_CHECKPOINT_BYTES);
    } finally {
      store.close();
    }
  }
});

/** Reads a pragma on the store's own connection (per-connection settings). */
function pragmaOfStore(store: Store, name: string): unknown {
  return store.pragma(name);
}

Deno.test("checkpointTruncate copies the WAL into the database and empties it", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const store = Store.open(path, { durability: "full" });
  store.append(readings(5000));
  assert.ok(walSize(path) > 0);
  const result = store.checkpointTruncate();
  assert.equal(result.busy, 0);
  assert.ok(result.log > 0 && result.checkpointed === result.log, JSON.stringify(result));
  assert.equal(walSize(path), 0);
  store.close();
});

Deno.test("a second Store on the same file is refused with LockedError naming the pid", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const store = Store.open(path, { durability: "full" });
  try {
    assert.throws(
      () => Store.open(path, { durability: "full" }),
      (e) => e instanceof LockedError && e.message.includes(`pid ${Deno.pid}`),
    );
  } finally {
    store.close();
  }
  Store.open(path, { durability: "full" }).close(); // released on close
});

Deno.test("a directory, a non-SQLite file, a truncated or foreign database are refused untouched", async () => {
  await using dir = await tempDir();
  const cases: [string, () => void, RegExp][] = [];
  const asDir = join(dir.path, "isdir");
  Deno.mkdirSync(asDir);
  cases.push([asDir, () => {}, /is a directory/]);

  const random = join(dir.path, "random.db");
  Deno.writeFileSync(random, crypto.getRandomValues(new Uint8Array(8192)));
  cases.push([random, () => {}, /not a SQLite database/]);

  const truncated = join(dir.path, "truncated.db");
  const s = Store.open(truncated, { durability: "full" });
  s.append(readings(20_000));
  s.checkpointTruncate();
  s.close();
  const full = Deno.readFileSync(truncated);
  Deno.writeFileSync(truncated, full.subarray(0, Math.floor(full.length / 2 / 4096) * 4096));
  cases.push([truncated, () => {}, /truncated/]);

  const foreign = join(dir.path, "foreign.db");
  const f = new DatabaseSync(foreign);
  f.exec("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers(name) VALUES ('x')");
  f.close();
  cases.push([foreign, () => {}, /not an edgelog database \(it has tables customers\)/]);

  const otherApp = join(dir.path, "other.db");
  const o = new DatabaseSync(otherApp);
  o.exec("PRAGMA application_id = 1234");
  o.close();
  cases.push([otherApp, () => {}, /another application/]);

  const newer = join(dir.path, "newer.db");
  Store.open(newer, { durability: "full" }).close();
  const n = new DatabaseSync(newer);
  n.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
  n.close();
  cases.push([newer, () => {}, /newer edgelog/]);

  for (const [path, , message] of cases) {
    const before = Deno.statSync(path).isFile ? await sha256File(path) : "dir";
    assert.throws(
      () => Store.open(path, { durability: "full" }),
      (e) => e instanceof DatabaseError && message.test(e.message),
      path,
    );
    const after = Deno.statSync(path).isFile ? await sha256File(path) : "dir";
    assert.equal(after, before, `${path} was not modified`);
  }
});

Deno.test("appendBatch stores any slice exactly, in order, whatever mix of statement sizes it takes", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const store = Store.open(path, { durability: "normal" });
  const batch = new ReadingBatch(30_000);
  const all: Reading[] = Array.from({ length: 30_000 }, (_, i) => ({ sensor: `s${i % 7}`, ts: i, value: i / 8 }));
  batch.push(all, 0, all.length);
  const slices: [number, number][] = [];
  let at = 0;
  for (const n of [0, 1, 3, 5, 17, 1023, 1024, 1025, 4096, 5000, 6789]) {
    slices.push([at, at + n]);
    at += n;
  }
  for (const [from, to] of slices) store.appendBatch(batch, from, to);
  store.close();
  const rows = withDb(
    path,
    (db) =>
      db.prepare(
        "SELECT r.id, s.name, r.ts, r.value FROM readings r JOIN sensors s ON s.id = r.sensor_id ORDER BY r.id",
      )
        .all() as { id: number; name: string; ts: number; value: number }[],
  );
  assert.equal(rows.length, at);
  assert.deepEqual(rows.map((r) => [r.name, r.ts, r.value]), all.slice(0, at).map((r) => [r.sensor, r.ts, r.value]));
  assert.deepEqual(rows.map((r) => r.id), Array.from({ length: at }, (_, i) => i + 1), "ids 1..n, without a gap");
  assert.equal(integrityCheck(path), "ok");
});

Deno.test("a group SQLite would number away from the writer's next id is rolled back, not stored under other ids", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const store = Store.open(path, { durability: "full" });
  store.append(readings(10));
  // Something outside the writer put a reading ahead of its ids (no edgelog module does this).
  const side = new DatabaseSync(path);
  side.exec("INSERT INTO readings(id, sensor_id, ts, value) VALUES (100, 1, 0, 0)");
  assert.throws(() => store.append(readings(50)), /numbered up to 149, not 11\.\.60/);
  side.exec("DELETE FROM readings WHERE id = 100");
  side.close();
  store.append(readings(50)); // the same ids again, now that SQLite numbers them as the writer does
  store.close();
  const ids = withDb(path, (db) => db.prepare("SELECT id FROM readings ORDER BY id").all().map((r) => Number(r.id)));
  assert.deepEqual(ids, Array.from({ length: 60 }, (_, i) => i + 1));
});

Deno.test("a hot rollback journal left by a kill during creation is rolled back, not refused", async () => {
  await using dir = await tempDir();
  // A process killed mid-transaction in rollback-journal mode (edgelog is, for a moment, while it
  // creates a database and switches it to WAL): the file holds uncommitted pages, the journal the
  // committed state. Without the rollback the header looks wrong, or a read-only connection
  // fails with SQLITE_READONLY_ROLLBACK ("attempt to write a readonly database").
  const script = `import sqlite3, os, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "committed-header": c.execute("PRAGMA application_id = ${APPLICATION_ID}")
c.execute("PRAGMA cache_size=1")
c.execute("BEGIN")
c.execute("CREATE TABLE t(a)")
for i in range(500): c.execute("INSERT INTO t VALUES (randomblob(1000))")
os._exit(0)`;
  for (const state of ["empty", "committed-header"]) {
    const path = join(dir.path, `${state}.db`);
    const made = new Deno.Command("python3", { args: ["-c", script, path, state] }).outputSync();
    assert.equal(made.code, 0, new TextDecoder().decode(made.stderr));
    assert.ok(Deno.statSync(`${path}-journal`).size > 0, "a hot journal is left");
    const store = Store.open(path, { durability: "full" });
    store.append([{ sensor: "t", ts: 1_700_000_000_000, value: 1 }]);
    store.close();
    assert.equal(countReadings(path), 1, state);
    assert.equal(integrityCheck(path), "ok");
    const t = withDb(path, (db) => db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE name = 't'").get());
    assert.deepEqual({ ...t as object }, { n: 0 }, "the uncommitted table was rolled back");
  }
});
