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
import { Connection, type DbUsage } from "./_connection.ts";
import { fileSize, walPath } from "./files.ts";
import { writerPid } from "./lock.ts";
import { openReadConnection } from "./open.ts";
import { chunkHeader, decodeChunk } from "./chunk_codec.ts";
import { type BucketValues, type DownsampledRow, foldBuckets } from "./_buckets.ts";
import { sensorReadings, sensorSegments } from "./_merge.ts";
import { LogPager, type LogRow, maxReadingId, minReadingId, returnArrays } from "./chunks.ts";
import { type ClockSummary, clockSummary, type StampStatus, stampStatusLookup } from "./clock_log.ts";
import { type ForwardLag, forwardLags, type StoredReading } from "./outbox.ts";

/** A sensor as the reader sees it. */
export interface SensorInfo {
  id: number;
  name: string;
  unit: string | null;
}

/** One downsampling bucket of one sensor; `ts` is the bucket's start (unix ms). */
export interface Bucket extends BucketValues {
  sensor: string;
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
  readonly #pager: LogPager;
  #sensorsById = new Map<number, SensorInfo>();

  private constructor(path: string, conn: Connection, schemaVersion: number) {
    this.path = path;
    this.#conn = conn;
    this.#pager = new LogPager(conn);
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

  /**
   * Count, first and last timestamp of every sensor's raw readings (hot and compacted), by sensor
   * id: one pass over the hot table and the chunk index, whatever the number of sensors.
   */
  sensorSummaries(): Map<number, { count: number; firstTs: number; lastTs: number }> {
    const out = new Map<number, { count: number; firstTs: number; lastTs: number }>();
    const add = (rows: { s: number; n: number; a: number; b: number }[]) => {
      for (const r of rows) {
        const id = Number(r.s), prev = out.get(id);
        if (prev === undefined) out.set(id, { count: Number(r.n), firstTs: r.a, lastTs: r.b });
        else {out.set(id, {
            count: prev.count + Number(r.n),
            firstTs: Math.min(prev.firstTs, r.a),
            lastTs: Math.max(prev.lastTs, r.b),
          });}
      }
    };
    this.#conn.read(() => {
      add(
        this.#prepare("SELECT sensor_id AS s, count(*) AS n, min(ts) AS a, max(ts) AS b FROM readings GROUP BY 1")
          .all() as { s: number; n: number; a: number; b: number }[],
      );
      add(
        this.#prepare(
          "SELECT sensor_id AS s, sum(count) AS n, min(first_ts) AS a, max(last_ts) AS b FROM chunks GROUP BY 1",
        ).all() as { s: number; n: number; a: number; b: number }[],
      );
    });
    return out;
  }

  /** Count, first and last timestamp of one sensor's raw readings. */
  sensorSummary(sensor: SensorInfo): { count: number; firstTs: number | null; lastTs: number | null } {
    const s = this.sensorSummaries().get(sensor.id);
    return { count: s?.count ?? 0, firstTs: s?.firstTs ?? null, lastTs: s?.lastTs ?? null };
  }

  /** The newest raw reading of `sensor` (latest ts, then highest id), or undefined when it has none. */
  latest(sensor: SensorInfo): { ts: number; value: number } | undefined {
    return this.latestAll().get(sensor.id);
  }

  /**
   * The newest raw reading of every sensor that has one, by sensor id: one pass over the hot table,
   * and the newest chunk of each sensor.
   */
  latestAll(): Map<number, { ts: number; value: number }> {
    const best = new Map<number, { id: number; ts: number; value: number }>();
    const offer = (sensor: number, id: number, ts: number, value: number) => {
      const b = best.get(sensor);
      if (b === undefined || ts > b.ts || (ts === b.ts && id > b.id)) best.set(sensor, { id, ts, value });
    };
    const { hot, chunks } = this.#conn.read(() => ({
      hot: this.#prepare(
        `SELECT sensor_id AS s, id, ts, value FROM (
           SELECT sensor_id, id, ts, value, row_number() OVER (PARTITION BY sensor_id ORDER BY ts DESC, id DESC) AS k
           FROM readings) WHERE k = 1`,
      ).all() as { s: number; id: number; ts: number; value: number }[],
      chunks: this.#prepare(
        `SELECT c.sensor_id AS s, c.data AS data FROM sensors t
         JOIN chunks c ON c.id = (SELECT id FROM chunks WHERE sensor_id = t.id ORDER BY last_ts DESC LIMIT 1)`,
      ).all() as { s: number; data: Uint8Array }[],
    }));
    for (const r of hot) offer(Number(r.s), Number(r.id), r.ts, r.value);
    for (const r of chunks) {
      const c = decodeChunk(r.data);
      for (let i = 0; i < c.length; i++) offer(Number(r.s), c.ids[i], c.ts[i], c.values[i]);
    }
    return new Map([...best].map(([s, b]) => [s, { ts: b.ts, value: b.value }]));
  }

  /**
   * Raw readings of `range`, per sensor in time order (hot and compacted readings merged), read
   * in short statements. Memory holds one sensor's hot readings of the range and the chunks being
   * merged, whatever the number of rows.
   */
  *readings(range: ReadRange, limit = Infinity): Generator<StoredReading> {
    const sensors = range.sensors ?? this.sensors();
    let left = limit;
    for (const sensor of sensors) {
      for (const [id, ts, value] of sensorReadings(this.#conn, sensor.id, range.since, range.until)) {
        if (left-- <= 0) return;
        yield { id, sensor: sensor.name, ts, value, unit: sensor.unit };
      }
    }
  }

  /**
   * Downsampled buckets of width `bucketMs` (aligned to the epoch) per sensor in time order,
   * with avg, min, max, count and last. Aggregates the logger already downsampled (table
   * `readings_downsampled`) are merged in, so long histories read the same way; for exact
   * results the bucket should be a multiple of the logger's `--downsample-bucket`. On equal
   * timestamps the raw reading's value is the `last`.
   */
  *buckets(range: ReadRange, bucketMs: number, limit = Infinity): Generator<Bucket> {
    const sensors = range.sensors ?? this.sensors();
    const since = range.since ?? Number.MIN_SAFE_INTEGER, until = range.until ?? Number.MAX_SAFE_INTEGER;
    const downsampled = this.schemaVersion >= 2
      ? returnArrays(this.#prepare(
        `SELECT bucket_ts, sum, min, max, count, last_ts, last FROM readings_downsampled
         WHERE sensor_id = ? AND bucket_ts >= ? AND bucket_ts < ? ORDER BY bucket_ts`,
      ))
      : undefined;
    let left = limit;
    for (const sensor of sensors) {
      const old = (downsampled?.all(sensor.id, since, until) ?? []) as unknown as DownsampledRow[];
      for (const b of foldBuckets(sensorSegments(this.#conn, sensor.id, since, until), old, bucketMs)) {
        if (left-- <= 0) return;
        yield { sensor: sensor.name, ...b };
      }
    }
  }

  /**
   * One page of readings in log order (by id) after `afterId`, optionally within a time range;
   * rows are `[id, sensor_id, ts, value]`. Exports and forwarders page with this.
   */
  pageById(afterId: number, range: Omit<ReadRange, "sensors">, rows: number): LogRow[] {
    return this.#pager.page(afterId, rows, range.since, range.until);
  }

  /** The largest reading id now (0 when empty). */
  maxId(): number {
    return maxReadingId(this.#conn);
  }

  /** Number of raw readings, hot and compacted (a count of the hot table and of the chunk index). */
  readingCount(): number {
    return this.#conn.read(() =>
      Number((this.#prepare("SELECT count(*) AS n FROM readings").get() as { n: number }).n) +
      Number((this.#prepare("SELECT coalesce(sum(count), 0) AS n FROM chunks").get() as { n: number }).n)
    );
  }

  /** Downsampled buckets and the raw readings they stand for. */
  downsampledCount(): { buckets: number; readings: number } {
    if (this.schemaVersion < 2) return { buckets: 0, readings: 0 };
    const row = this.#prepare(
      "SELECT count(*) AS n, coalesce(sum(count), 0) AS c FROM readings_downsampled",
    ).get() as { n: number; c: number };
    return { buckets: Number(row.n), readings: Number(row.c) };
  }

  /** The oldest and newest timestamp held, raw (hot or compacted) or downsampled. */
  timeSpan(): { first: number | null; last: number | null } {
    let first: number | null = null, last: number | null = null;
    for (const s of this.sensorSummaries().values()) {
      if (first === null || s.firstTs < first) first = s.firstTs;
      if (last === null || s.lastTs > last) last = s.lastTs;
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

  /** How the log's readings stand with the clock: provisional and re-stamped ones (schema 4). */
  clockSummary(): ClockSummary | undefined {
    if (this.schemaVersion < 4) return undefined;
    return this.#conn.read(() => clockSummary(this.#conn, minReadingId(this.#conn)));
  }

  /** For `--restamped`: whether reading `id` was re-stamped, or still carries a provisional stamp. */
  stampStatus(): (id: number) => StampStatus {
    if (this.schemaVersion < 4) return () => undefined;
    return stampStatusLookup(this.#conn);
  }

  /** Every forwarder's lag (readings not yet acknowledged upstream, and the oldest one's age). */
  forwardLags(nowMs: number = Date.now()): ForwardLag[] {
    return forwardLags(this.#conn, this.#pager, nowMs);
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
    if (full) problems.push(...this.#chunkProblems());
    return problems;
  }

  /** Chunks whose data does not decode (checksum, format) or disagrees with its index row; at most 100. */
  #chunkProblems(): string[] {
    const problems: string[] = [];
    const chunks = this.#prepare("SELECT id, count, first_id, last_id, data FROM chunks ORDER BY id");
    for (
      const row of chunks.iterate() as Iterable<
        { id: number; count: number; first_id: number; last_id: number; data: Uint8Array }
      >
    ) {
      try {
        const c = decodeChunk(row.data);
        const h = chunkHeader(row.data);
        if (c.length !== Number(row.count) || h.minId !== Number(row.first_id) || h.maxId !== Number(row.last_id)) {
          problems.push(`chunk ${row.id}: its readings do not match its index row`);
        }
      } catch (e) {
        problems.push(`chunk ${row.id}: ${(e as Error).message}`);
      }
      if (problems.length >= 100) break;
    }
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
