/**
 * Test helpers for the database a test left on disk: count and read rows, check integrity, seed
 * large databases, and temporary directories to put them in.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { Store } from "../../lib/store/mod.ts";

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

/** Number of rows in `readings`. */
export function countReadings(path: string): number {
  return withDb(path, (db) => Number((db.prepare("SELECT count(*) AS n FROM readings").get() as { n: number }).n));
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

/** Rows of `readings` joined with their sensor, in log order. */
export function readingRows(path: string): { sensor: string; unit: string | null; ts: number; value: number }[] {
  return withDb(
    path,
    (db) =>
      db.prepare(
        "SELECT s.name AS sensor, s.unit AS unit, r.ts AS ts, r.value AS value FROM readings r JOIN sensors s ON s.id = r.sensor_id ORDER BY r.id",
      ).all().map((row) => ({ ...row })) as { sensor: string; unit: string | null; ts: number; value: number }[],
  );
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
  return withDb(
    path,
    (db) => Number((db.prepare("SELECT coalesce(max(id), 0) AS m FROM readings").get() as { m: number }).m),
  );
}

/** Every reading as `sensor|ts` → value in id order, for comparing with what an upstream received. */
export function readingsByKey(path: string): Map<string, number> {
  return withDb(path, (db) => {
    const map = new Map<string, number>();
    const rows = db.prepare(
      "SELECT s.name AS sensor, r.ts AS ts, r.value AS value FROM readings r JOIN sensors s ON s.id = r.sensor_id",
    )
      .all() as { sensor: string; ts: number; value: number }[];
    for (const r of rows) map.set(`${r.sensor}|${r.ts}`, r.value);
    return map;
  });
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
    const sensor = db.prepare("INSERT INTO sensors(id, name, unit) VALUES (?, ?, ?)");
    for (let k = 1; k <= sensors; k++) sensor.run(k, `s-${k}`, k % 2 ? "°C" : null);
    db.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 - 1)
       INSERT INTO readings(sensor_id, ts, value)
       SELECT (i % ?2) + 1, CAST(?3 AS INTEGER) + (i / CAST(?2 AS INTEGER)) * CAST(?4 AS INTEGER), (i % 1000) / 10.0 FROM n`,
    ).run(rows, sensors, startTs, stepMs);
    db.exec("COMMIT; PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
}
