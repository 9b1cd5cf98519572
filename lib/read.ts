/**
 * The read side: what `sensors`, `query`, `export`, `stats`, `check` and the HTTP read API share.
 *
 * A {@link Reader} opens its own read-only connection (never creating a database, never taking
 * the writer lock), so it runs beside a logger writing at full rate; WAL lets both proceed. Every
 * method runs short statements, so a reader never holds a snapshot long enough to keep the
 * writer's checkpoints from completing. Time expressions, sensor globs and downsampling buckets
 * are parsed and checked here, with errors that name the option.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { resolve } from "node:path";
import { ConfigError, DEFAULT_RUN_CONFIG, parseDurationMs } from "./config.ts";
import { DatabaseError } from "./errors.ts";
import { APPLICATION_ID, isCorruptionError, SCHEMA_VERSION } from "./store.ts";

/** A sensor as the reader sees it. */
export interface SensorInfo {
  id: number;
  name: string;
  unit: string | null;
}

/** One stored reading; `id` is its position in the log (exports and forwarders page by it). */
export interface StoredReading {
  id: number;
  sensor: string;
  ts: number;
  value: number;
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

/** The database path read commands use: `--db`, else `EDGELOG_DB`, else the logger's default. */
export function defaultDbPath(env: (name: string) => string | undefined = (n) => Deno.env.get(n)): string {
  return env("EDGELOG_DB") ?? DEFAULT_RUN_CONFIG.db;
}

const UNIT_TEXT = "ms, s, m, h, d, w";
const RELATIVE = /^\s*(?:now\s*)?-\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/;
const ISO_DATE = /^\s*\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?\s*$/i;

/**
 * Parses a time expression into unix ms: ISO 8601 (`2026-01-31`, `2026-01-31T12:00:00Z`; without
 * an offset it is local time), unix milliseconds (`1767182400000`), `now`, or relative to `now`
 * (`-1h`, `-30m`, `-7d`, `now-90s`). Throws ConfigError naming `option`.
 *
 * @example
 * ```ts
 * parseTime("-1h", "--since", 10_000_000); // 6_400_000
 * parseTime("2026-01-01T00:00:00Z", "--since"); // 1767225600000
 * ```
 */
export function parseTime(expr: string, option: string, nowMs: number = Date.now()): number {
  const text = expr.trim();
  if (text.toLowerCase() === "now") return nowMs;
  if (/^-?\d+$/.test(text)) {
    const n = Number(text);
    if (Number.isSafeInteger(n)) return n;
  }
  const rel = RELATIVE.exec(text.toLowerCase());
  if (rel) {
    const ms = rel[2] === "w" ? Number(rel[1]) * 7 * 86_400_000 : parseDurationMs(`${rel[1]}${rel[2]}`, "ms");
    return nowMs - Math.round(ms);
  }
  if (ISO_DATE.test(text)) {
    const ms = Date.parse(text.replace(" ", "T"));
    if (Number.isFinite(ms)) return ms;
  }
  throw new ConfigError([
    `${option}: cannot read ${JSON.stringify(expr)} as a time; use ISO 8601 (2026-01-31T12:00:00Z), ` +
    `unix ms (1767182400000), now, or relative to now (-1h, -30m, -7d; units ${UNIT_TEXT})`,
  ]);
}

/**
 * Parses a bucket width such as `1m`, `15s`, `1h` into ms (at least 1 ms, at most 366 days).
 * Throws ConfigError naming `option`.
 */
export function parseBucketMs(expr: string, option: string): number {
  let ms: number;
  try {
    ms = parseDurationMs(expr, "s");
  } catch {
    throw new ConfigError([`${option}: expected a bucket width like 10s, 1m, 1h, 1d, got ${JSON.stringify(expr)}`]);
  }
  if (ms < 1 || ms > 366 * 86_400_000) {
    throw new ConfigError([`${option}: the bucket width must be between 1ms and 366d, got ${JSON.stringify(expr)}`]);
  }
  return ms;
}

/** Start of the bucket of width `bucketMs` holding `ts` (buckets are aligned to the unix epoch). */
export function bucketStart(ts: number, bucketMs: number): number {
  return Math.floor(ts / bucketMs) * bucketMs;
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
  /** The read-only connection, for callers that need a statement of their own. */
  readonly db: DatabaseSync;
  /** `PRAGMA user_version` of the file. */
  readonly schemaVersion: number;
  #sensorsById = new Map<number, SensorInfo>();
  readonly #statements = new Map<string, StatementSync>();

  private constructor(path: string, db: DatabaseSync, schemaVersion: number) {
    this.path = path;
    this.db = db;
    this.schemaVersion = schemaVersion;
    this.reloadSensors();
  }

  /**
   * Opens `path` read-only. Never creates the file: a missing, foreign, newer or damaged database
   * raises {@link DatabaseError} (exit code 4) and nothing is modified. A logger writing to the
   * database at the same time is fine.
   */
  static open(path: string): Reader {
    const abs = resolve(path);
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(abs);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new DatabaseError(
          `${abs} does not exist; nothing was created. Point --db (or EDGELOG_DB) at the logger's database.`,
        );
      }
      throw new DatabaseError(`cannot access ${abs}: ${(e as Error).message}`);
    }
    if (!info.isFile) throw new DatabaseError(`${abs} is not a regular file; point --db at the database file`);
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(abs, { readOnly: true, timeout: 5000 });
      const appId = Number((db.prepare("PRAGMA application_id").get() as { application_id: number }).application_id);
      const version = Number((db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version);
      if (appId !== APPLICATION_ID || version < 1) {
        throw new DatabaseError(
          `${abs} is not an edgelog database (application_id ${appId}, schema ${version}); it was not modified`,
        );
      }
      if (version > SCHEMA_VERSION) {
        throw new DatabaseError(
          `${abs} was written by a newer edgelog (schema ${version}, this build reads up to ${SCHEMA_VERSION}); upgrade edgelog`,
        );
      }
      return new Reader(abs, db, version);
    } catch (e) {
      try {
        db?.close();
      } catch { /* the original error matters more */ }
      if (e instanceof DatabaseError) throw e;
      if (isCorruptionError(e)) {
        throw new DatabaseError(`${abs} is corrupt or not a SQLite database (${(e as Error).message})`);
      }
      throw new DatabaseError(`cannot read ${abs}: ${(e as Error).message}`);
    }
  }

  #prepare(sql: string): StatementSync {
    let st = this.#statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.#statements.set(sql, st);
    }
    return st;
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

  /** Runs `PRAGMA <name>` and returns its single value. */
  pragma(name: string): number | string {
    const row = this.#prepare(`PRAGMA ${name}`).get() as Record<string, number | string>;
    return Object.values(row)[0];
  }

  /** Closes the connection; idempotent. */
  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * The pid of the logger holding the writer lock on `dbPath`, or undefined when none does. Takes
 * a shared lock for an instant and releases it; never creates the lock file.
 */
export function writerPid(dbPath: string): number | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(`${resolve(dbPath)}.lock`, { read: true });
  } catch {
    return undefined;
  }
  try {
    if (file.tryLockSync(false)) {
      file.unlockSync();
      return undefined;
    }
    const buf = new Uint8Array(32);
    const n = file.readSync(buf) ?? 0;
    const pid = Number(new TextDecoder().decode(buf.subarray(0, n)).trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : 0;
  } finally {
    file.close();
  }
}

/** Size of a file in bytes, 0 when it does not exist. */
export function fileSize(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}
