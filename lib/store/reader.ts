/**
 * The read side: what `sensors`, `query`, `export`, `stats`, `check` and the HTTP read API share.
 *
 * A {@link Reader} opens its own read-only connection (never creating a database, never taking
 * the writer lock), so it runs beside a logger writing at full rate; WAL lets both proceed. Every
 * method runs short statements, so a reader never holds a snapshot long enough to keep the
 * writer's checkpoints from completing. Sensor globs are checked here, with errors that name the
 * option.
 *
 * @module
 */

import type { StatementSync } from "node:sqlite";
import { ConfigError } from "../errors.ts";
import { bucketStart } from "../units.ts";
import { Connection, type DbUsage } from "./_connection.ts";
import { fileSize, walPath } from "./files.ts";
import { writerPid } from "./lock.ts";
import { openReadConnection } from "./open.ts";
import { type ForwardLag, forwardLags, type StoredReading } from "./outbox.ts";

/** A sensor as the reader sees it. */
export interface SensorInfo {
  id: number;
  name: string;
  unit: string | null;
}

/** One downsampling bucket of one sensor; `ts` is the bucket's start (unix ms). */
export interface Bucket {
  sensor: string;
  ts: number;
  avg: number;
  min: number;
  max: number;
  count: number;
  /** The value with the latest timestamp in the bucket. */
  last: number;
}

/** Which readings to read: a time range `[since, until)` in unix ms and a set of sensors. */
export interface ReadRange {
  /** Sensors to include; all when undefined. */
  sensors?: readonly SensorInfo[];
  /** Inclusive lower bound, unix ms. */
  since?: number;
  /** Exclusive upper bound, unix ms. */
  until?: number;
}

/** Makes `st` return rows as arrays (faster; `setReturnArrays` is missing from Deno's types). */
function returnArrays(st: StatementSync): void {
  (st as unknown as { setReturnArrays(enabled: boolean): void }).setReturnArrays(true);
}

/** Rows per page when iterating; each page is one short statement (one short read snapshot). */
const PAGE_ROWS = 2_000;
/** Buckets per statement when downsampling. */
const BUCKETS_PER_PAGE = 1000;

/**
 * A read-only connection to an edgelog database.
 *
 * @example
 * ```ts
 * using reader = Reader.open("./data/edgelog.db");
 * const sensors = reader.resolveSensors(["temperature-*"], "--sensor");
 * for (const r of reader.readings({ sensors, since: Date.now() - 3_600_000 })) console.log(r);
 * ```
 */
export class Reader implements Disposable {
  /** Absolute path of the database file. */
  readonly path: string;
  /** `PRAGMA user_version` of the file. */
  readonly schemaVersion: number;
  readonly #conn: Connection;
  #sensorsById = new Map<number, SensorInfo>();

  private constructor(path: string, conn: Connection, schemaVersion: number) {
    this.path = path;
    this.#conn = conn;
    this.schemaVersion = schemaVersion;
    this.reloadSensors();
  }

  /**
   * Opens `path` read-only. Never creates the file: a missing, foreign, newer or damaged database
   * raises {@link DatabaseError} (exit code 4) and nothing is modified. A logger writing to the
   * database at the same time is fine.
   */
  static open(path: string): Reader {
    const { path: abs, db, schemaVersion } = openReadConnection(path);
    return new Reader(abs, new Connection(db), schemaVersion);
  }

  #prepare(sql: string): StatementSync {
    return this.#conn.prepare(sql);
  }

  /** Re-reads the sensors table (new sensors appear while a logger runs). */
  reloadSensors(): void {
    const rows = this.#prepare("SELECT id, name, unit FROM sensors ORDER BY name").all() as unknown as SensorInfo[];
    this.#sensorsById = new Map(rows.map((r) => [Number(r.id), { id: Number(r.id), name: r.name, unit: r.unit }]));
  }

  /** Every known sensor, by name. */
  sensors(): SensorInfo[] {
    return [...this.#sensorsById.values()];
  }

  /** The sensor with this id, reloading the table once if it is new. */
  sensorById(id: number): SensorInfo | undefined {
    let s = this.#sensorsById.get(id);
    if (!s) {
      this.reloadSensors();
      s = this.#sensorsById.get(id);
    }
    return s;
  }

  /**
   * The sensors matching any of `patterns` (exact names or globs with `*`, `?`, `[...]`, case
   * sensitive as in SQLite GLOB). A pattern matching nothing raises ConfigError naming `option`.
   * An empty list means every sensor.
   */
  resolveSensors(patterns: readonly string[], option: string): SensorInfo[] {
    if (patterns.length === 0) return this.sensors();
    const matched = new Map<number, SensorInfo>();
    const glob = this.#prepare("SELECT id FROM sensors WHERE name GLOB ? ORDER BY name");
    const problems: string[] = [];
    for (const pattern of patterns) {
      const rows = glob.all(pattern) as { id: number }[];
      if (rows.length === 0) {
        const known = this.sensors().map((s) => s.name);
        problems.push(
          `${option}: no sensor matches ${JSON.stringify(pattern)}; known sensors: ${
            known.length ? known.slice(0, 10).join(", ") + (known.length > 10 ? ", ..." : "") : "none yet"
          } (see 'edgelog sensors')`,
        );
      }
      for (const r of rows) matched.set(Number(r.id), this.sensorById(Number(r.id))!);
    }
    if (problems.length) throw new ConfigError(problems);
    return [...matched.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Count, first and last timestamp of one sensor's raw readings (index lookups, no scan). */
  sensorSummary(sensor: SensorInfo): { count: number; firstTs: number | null; lastTs: number | null } {
    const row = this.#prepare(
      `SELECT count(*) AS n, (SELECT min(ts) FROM readings WHERE sensor_id = ?1) AS first,
              (SELECT max(ts) FROM readings WHERE sensor_id = ?1) AS last
       FROM readings WHERE sensor_id = ?1`,
    ).get(sensor.id) as { n: number; first: number | null; last: number | null };
    return { count: Number(row.n), firstTs: row.first, lastTs: row.last };
  }

  /** The newest raw reading of `sensor` (an index lookup), or undefined when it has none. */
  latest(sensor: SensorInfo): { ts: number; value: number } | undefined {
    const row = this.#prepare(
      "SELECT ts, value FROM readings WHERE sensor_id = ? ORDER BY ts DESC, id DESC LIMIT 1",
    ).get(sensor.id) as { ts: number; value: number } | undefined;
    return row === undefined ? undefined : { ts: Number(row.ts), value: Number(row.value) };
  }

  /**
   * Raw readings of `range`, per sensor in time order, paged so that no read snapshot stays
   * open longer than one page. Memory stays constant for any number of rows.
   */
  *readings(range: ReadRange, limit = Infinity): Generator<StoredReading> {
    const sensors = range.sensors ?? this.sensors();
    // Keyset paging on (ts, id): each page starts its index range at the last timestamp seen.
    const st = this.#prepare(
      `SELECT id, ts, value FROM readings
       WHERE sensor_id = ?1 AND ts >= ?2 AND ts < ?3 AND (ts > ?2 OR id > ?4)
       ORDER BY ts, id LIMIT ${PAGE_ROWS}`,
    );
    returnArrays(st);
    let left = limit;
    const until = range.until ?? Number.MAX_SAFE_INTEGER;
    for (const sensor of sensors) {
      let from = range.since ?? Number.MIN_SAFE_INTEGER, lastId = -1;
      while (left > 0) {
        const page = st.all(sensor.id, from, until, lastId) as unknown as [number, number, number][];
        for (const [id, ts, value] of page) {
          if (left-- <= 0) return;
          yield { id, sensor: sensor.name, ts, value, unit: sensor.unit };
        }
        if (page.length < PAGE_ROWS) break;
        [lastId, from] = page[page.length - 1];
      }
    }
  }

  /**
   * Downsampled buckets of width `bucketMs` (aligned to the epoch) per sensor in time order,
   * with avg, min, max, count and last. Aggregates the logger already downsampled (table
   * `readings_downsampled`) are merged in, so long histories read the same way; for exact
   * results the bucket should be a multiple of the logger's `--downsample-bucket`.
   */
  *buckets(range: ReadRange, bucketMs: number, limit = Infinity): Generator<Bucket> {
    const sensors = range.sensors ?? this.sensors();
    const since = range.since ?? Number.MIN_SAFE_INTEGER, until = range.until ?? Number.MAX_SAFE_INTEGER;
    const v2 = this.schemaVersion >= 2;
    const parts = `SELECT ts, value AS sum, value AS mn, value AS mx, 1 AS n, ts AS last_ts
                     FROM readings WHERE sensor_id = ?1 AND ts >= ?2 AND ts < ?3` +
      (v2
        ? ` UNION ALL
            SELECT bucket_ts, sum, min, max, count, last_ts
              FROM readings_downsampled WHERE sensor_id = ?1 AND bucket_ts >= ?2 AND bucket_ts < ?3`
        : "");
    // `last` is looked up by index after grouping: the raw reading at the bucket's latest
    // timestamp, else the downsampled bucket holding that timestamp.
    const last = `(SELECT value FROM readings WHERE sensor_id = ?1 AND ts = g.last_ts ORDER BY id DESC LIMIT 1)`;
    const lastDownsampled = `(SELECT last FROM readings_downsampled
                                WHERE sensor_id = ?1 AND bucket_ts <= g.last_ts ORDER BY bucket_ts DESC LIMIT 1)`;
    // One window of at most BUCKETS_PER_PAGE buckets per statement; empty stretches are
    // skipped with an index lookup.
    const st = this.#prepare(
      `WITH parts AS (${parts}),
       g AS (SELECT (ts - ((ts % ?4) + ?4) % ?4) AS bucket, sum(sum) AS total, min(mn) AS mn, max(mx) AS mx,
                    sum(n) AS n, max(last_ts) AS last_ts
             FROM parts GROUP BY 1)
       SELECT bucket, total / n, mn, mx, n, ${v2 ? `coalesce(${last}, ${lastDownsampled})` : last}
       FROM g ORDER BY bucket`,
    );
    returnArrays(st);
    const next = this.#prepare(
      v2
        ? `SELECT min(coalesce((SELECT min(ts) FROM readings WHERE sensor_id = ?1 AND ts >= ?2), ?3),
                      coalesce((SELECT min(bucket_ts) FROM readings_downsampled WHERE sensor_id = ?1 AND bucket_ts >= ?2), ?3)) AS t`
        : `SELECT coalesce((SELECT min(ts) FROM readings WHERE sensor_id = ?1 AND ts >= ?2), ?3) AS t`,
    );
    let left = limit;
    for (const sensor of sensors) {
      let from = since;
      while (left > 0 && from < until) {
        const to = Math.min(until, bucketStart(from, bucketMs) + Math.min(BUCKETS_PER_PAGE, left) * bucketMs);
        const page = st.all(sensor.id, from, to, bucketMs) as unknown as number[][];
        for (const [ts, avg, min, max, count, last] of page) {
          if (left-- <= 0) return;
          yield { sensor: sensor.name, ts, avg, min, max, count, last };
        }
        from = to;
        if (page.length === 0) from = Number((next.get(sensor.id, to, until) as { t: number }).t);
      }
    }
  }

  /**
   * One page of readings in log order (by id) after `afterId`, optionally within a time range;
   * rows are `[id, sensor_id, ts, value]`. Exports and forwarders page with this.
   */
  pageById(afterId: number, range: Omit<ReadRange, "sensors">, rows: number): [number, number, number, number][] {
    const st = this.#prepare(
      `SELECT id, sensor_id, ts, value FROM readings WHERE id > ? AND ts >= ? AND ts < ? ORDER BY id LIMIT ?`,
    );
    returnArrays(st);
    return st.all(
      afterId,
      range.since ?? Number.MIN_SAFE_INTEGER,
      range.until ?? Number.MAX_SAFE_INTEGER,
      rows,
    ) as unknown as [number, number, number, number][];
  }

  /** The largest reading id now (0 when empty). */
  maxId(): number {
    return Number((this.#prepare("SELECT coalesce(max(id), 0) AS m FROM readings").get() as { m: number }).m);
  }

  /** Number of raw readings (one count over the table). */
  readingCount(): number {
    return Number((this.#prepare("SELECT count(*) AS n FROM readings").get() as { n: number }).n);
  }

  /** Downsampled buckets and the raw readings they stand for. */
  downsampledCount(): { buckets: number; readings: number } {
    if (this.schemaVersion < 2) return { buckets: 0, readings: 0 };
    const row = this.#prepare(
      "SELECT count(*) AS n, coalesce(sum(count), 0) AS c FROM readings_downsampled",
    ).get() as { n: number; c: number };
    return { buckets: Number(row.n), readings: Number(row.c) };
  }

  /** The oldest and newest timestamp held, raw or downsampled (index lookups per sensor). */
  timeSpan(): { first: number | null; last: number | null } {
    let first: number | null = null, last: number | null = null;
    const span = this.#prepare(
      "SELECT (SELECT min(ts) FROM readings WHERE sensor_id = ?1) AS a, (SELECT max(ts) FROM readings WHERE sensor_id = ?1) AS b",
    );
    for (const s of this.sensors()) {
      const row = span.get(s.id) as { a: number | null; b: number | null };
      if (row.a !== null && (first === null || row.a < first)) first = row.a;
      if (row.b !== null && (last === null || row.b > last)) last = row.b;
    }
    if (this.schemaVersion >= 2) {
      const row = this.#prepare("SELECT min(bucket_ts) AS a FROM readings_downsampled").get() as { a: number | null };
      if (row.a !== null && (first === null || row.a < first)) first = row.a;
    }
    return { first, last };
  }

  /** How many pages the database file has and how many are in use. */
  usage(): DbUsage {
    return this.#conn.usage();
  }

  /** Sizes of the database file and its WAL, bytes (0 for a missing file). */
  fileSizes(): { db: number; wal: number } {
    return { db: fileSize(this.path), wal: fileSize(walPath(this.path)) };
  }

  /** The pid of the logger writing to this database, 0 if unknown, undefined when none runs. */
  writerPid(): number | undefined {
    return writerPid(this.path);
  }

  /** Every forwarder's lag (readings not yet acknowledged upstream, and the oldest one's age). */
  forwardLags(nowMs: number = Date.now()): ForwardLag[] {
    return forwardLags(this.#conn, nowMs);
  }

  /**
   * Damage found by `PRAGMA quick_check` (or `integrity_check` when `full`) and
   * `PRAGMA foreign_key_check` (every reading names a known sensor), as text lines, at most
   * about 100 of each; empty when healthy.
   */
  problems(full: boolean): string[] {
    const pragma = full ? "integrity_check" : "quick_check";
    const problems = (this.#conn.db.prepare(`PRAGMA ${pragma}(100)`).all() as Record<string, string>[])
      .map((r) => String(Object.values(r)[0]))
      .filter((line) => line !== "ok");
    const rows = this.#conn.db.prepare("PRAGMA foreign_key_check").all() as {
      table: string;
      rowid: number;
      parent: string;
    }[];
    problems.push(
      ...rows.slice(0, 100).map((r) => `${r.table} row ${r.rowid} refers to a missing row of ${r.parent}`),
    );
    if (rows.length > 100) problems.push(`… and ${rows.length - 100} more rows with a missing ${rows[0].parent} row`);
    return problems;
  }

  /** Runs `PRAGMA <name>` and returns its single value. */
  pragma(name: string): number | string {
    return this.#conn.pragma(name) as number | string;
  }

  /** Closes the connection; idempotent. */
  close(): void {
    this.#conn.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
