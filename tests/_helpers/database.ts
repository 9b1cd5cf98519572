/**
 * Test helpers for the database a test left on disk: count and read rows, check integrity, seed
 * large databases, and temporary directories to put them in.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { Reader, Store } from "../../lib/store/mod.ts";

/** A fresh temporary directory, removed by the returned disposer. */
export async function tempDir(prefix = "edgelog-test-"): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}

/** SHA-256 of a file, hex. */
export async function sha256File(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Opens `path` read-only, runs `fn`, closes. */
export function withDb<T>(path: string, fn: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** Number of raw readings stored, hot or compacted (through the real reader). */
export function countReadings(path: string): number {
  using reader = Reader.open(path);
  return reader.readingCount();
}

/** Result of `PRAGMA integrity_check` ("ok" when healthy). */
export function integrityCheck(path: string): string {
  return withDb(path, (db) => {
    const lines = (db.prepare("PRAGMA integrity_check").all() as { integrity_check: string }[])
      .map((r) => r.integrity_check);
    // The writer does not enforce foreign keys (see lib/store/schema.ts): check them here, every time.
    const orphans = db.prepare("PRAGMA foreign_key_check").all() as { table: string; rowid: number }[];
    if (orphans.length > 0) {
      if (lines.length === 1 && lines[0] === "ok") lines.pop();
      lines.push(`${orphans.length} rows with a missing parent, first ${orphans[0].table} row ${orphans[0].rowid}`);
    }
    return lines.join("; ");
  });
}

/** Size of the -wal file in bytes, 0 when it does not exist. */
export function walSize(dbPath: string): number {
  try {
    return Deno.statSync(`${dbPath}-wal`).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return 0;
    throw e;
  }
}

/** A raw reading as the log holds it, with its sensor's name and unit. */
export interface LogRow {
  id: number;
  sensor: string;
  unit: string | null;
  ts: number;
  value: number;
}

/** Every raw reading with its id and sensor, in log order (by id), hot or compacted. */
export function logRows(path: string): LogRow[] {
  using reader = Reader.open(path);
  const sensors = new Map(reader.sensors().map((s) => [s.id, s]));
  const rows: LogRow[] = [];
  for (let page = reader.pageById(0, {}, 10_000); page.length > 0;) {
    for (const [id, sensorId, ts, value] of page) {
      const s = sensors.get(sensorId) ?? reader.sensorById(sensorId)!;
      rows.push({ id, sensor: s.name, unit: s.unit, ts, value });
    }
    page = reader.pageById(page.at(-1)![0], {}, 10_000);
  }
  return rows;
}

/** Every raw reading with its sensor, in log order (by id), hot or compacted: {@link logRows} without ids. */
export function readingRows(path: string): Omit<LogRow, "id">[] {
  return logRows(path).map(({ sensor, unit, ts, value }) => ({ sensor, unit, ts, value }));
}

/** The values of sensor `name`, hot or compacted, in (ts, id) order (empty when it has none). */
export function sensorValues(path: string, name: string): number[] {
  using reader = Reader.open(path);
  const sensor = reader.sensors().find((s) => s.name === name);
  return sensor === undefined ? [] : [...reader.readings({ sensors: [sensor] })].map((r) => r.value);
}

/** The cursor of forwarder `name` in the database at `path`, or undefined. */
export function cursorOf(path: string, name: string): number | undefined {
  return withDb(path, (db) => {
    const row = db.prepare("SELECT last_id FROM forward_cursors WHERE name = ?").get(name) as
      | { last_id: number }
      | undefined;
    return row === undefined ? undefined : Number(row.last_id);
  });
}

/** The largest reading id in the database at `path` (0 when empty). */
export function maxReadingId(path: string): number {
  using reader = Reader.open(path);
  return reader.maxId();
}

/** Every reading as `sensor|ts` → value in id order, for comparing with what an upstream received. */
export function readingsByKey(path: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const r of readingRows(path)) map.set(`${r.sensor}|${r.ts}`, r.value);
  return map;
}

/** Options of {@link seedReadings}. */
export interface SeedOptions {
  /** Number of sensors, named `s-1` ... (default 10). */
  sensors?: number;
  /** Timestamp of the first reading, unix ms (default now minus one reading interval per row). */
  startTs?: number;
  /** Milliseconds between consecutive readings of one sensor (default 1000). */
  stepMs?: number;
}

/**
 * Creates an edgelog database at `path` (through the real Store, so the schema is the real one)
 * and fills it with `rows` readings generated inside SQLite (recursive CTE), fast enough for
 * 10^7 rows. Sensor `s-k` has id k; reading i belongs to sensor (i mod sensors) + 1, at
 * startTs + floor(i / sensors) * stepMs, with value (i mod 1000) / 10.
 */
export function seedReadings(path: string, rows: number, options: SeedOptions = {}): void {
  Store.open(path, { durability: "normal" }).close();
  const sensors = options.sensors ?? 10;
  const stepMs = options.stepMs ?? 1000;
  const startTs = options.startTs ?? Date.now() - Math.ceil(rows / sensors) * stepMs;
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA synchronous = OFF; BEGIN");
    fillReadings(db, rows, sensors, startTs, stepMs);
    db.exec("COMMIT; PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
}

/**
 * Inserts sensors `s-1`… and `rows` readings generated inside SQLite (see {@link seedReadings}),
 * in the caller's transaction.
 */
function fillReadings(db: DatabaseSync, rows: number, sensors: number, startTs: number, stepMs: number): void {
  const sensor = db.prepare("INSERT INTO sensors(id, name, unit) VALUES (?, ?, ?)");
  for (let k = 1; k <= sensors; k++) sensor.run(k, `s-${k}`, k % 2 ? "°C" : null);
  if (rows > 0) {
    db.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 - 1)
       INSERT INTO readings(sensor_id, ts, value)
       SELECT (i % ?2) + 1, CAST(?3 AS INTEGER) + (i / CAST(?2 AS INTEGER)) * CAST(?4 AS INTEGER), (i % 1000) / 10.0 FROM n`,
    ).run(rows, sensors, startTs, stepMs);
  }
}

/**
 * Creates a database as edgelog 0.1 (schema 2, before compressed chunks) wrote it, with `rows`
 * readings generated like {@link seedReadings}: the starting point of the migration tests.
 */
export function createSchema2Database(path: string, rows: number, options: SeedOptions = {}): void {
  const sensors = options.sensors ?? 10;
  const stepMs = options.stepMs ?? 1000;
  const startTs = options.startTs ?? Date.now() - Math.ceil(rows / sensors) * stepMs;
  const db = new DatabaseSync(path);
  try {
    db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; BEGIN;
      CREATE TABLE sensors(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, unit TEXT);
      CREATE TABLE readings(id INTEGER PRIMARY KEY, sensor_id INTEGER NOT NULL REFERENCES sensors(id),
        ts INTEGER NOT NULL, value REAL NOT NULL);
      CREATE INDEX readings_sensor_ts ON readings(sensor_id, ts);
      CREATE TABLE forward_cursors(name TEXT PRIMARY KEY, last_id INTEGER NOT NULL);
      CREATE TABLE readings_downsampled(sensor_id INTEGER NOT NULL REFERENCES sensors(id), bucket_ts INTEGER NOT NULL,
        bucket_ms INTEGER NOT NULL, count INTEGER NOT NULL, sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL,
        last_ts INTEGER NOT NULL, last REAL NOT NULL, PRIMARY KEY(sensor_id, bucket_ts)) WITHOUT ROWID;
      CREATE INDEX readings_downsampled_ts ON readings_downsampled(bucket_ts);
      PRAGMA application_id = ${0x45444c47}; PRAGMA user_version = 2;`);
    fillReadings(db, rows, sensors, startTs, stepMs);
    db.exec("COMMIT; PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
}
