/**
 * The durable store: one SQLite database in WAL mode, written by exactly one edgelog.
 *
 * `Store.open` checks the file without touching it (directory, header, truncation, foreign
 * schema), takes the writer lock, sets the pragmas and migrates the schema; `append` commits one
 * group of readings in one transaction; `close` checkpoints with TRUNCATE and releases the lock.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { dirname, resolve } from "node:path";
import { DatabaseError, LockedError } from "./errors.ts";
import type { Durability } from "./config.ts";
import { ReadingBatch, type SensorTable } from "./batch.ts";

/** One measurement. `ts` is unix milliseconds. */
export interface Reading {
  sensor: string;
  ts: number;
  value: number;
  unit?: string;
}

/** What `PRAGMA wal_checkpoint` returned. */
export interface CheckpointResult {
  mode: "PASSIVE" | "TRUNCATE";
  /** 1 when the checkpoint could not complete because a reader or writer held a lock. */
  busy: number;
  /** Frames in the WAL (-1 when not in WAL mode). */
  log: number;
  /** Frames copied back into the database file. */
  checkpointed: number;
}

/** How the checkpoints of one mode ended, since the store was opened. */
export interface CheckpointCounts {
  /** Completed: every WAL frame was copied back. */
  ok: number;
  /** Could not copy every frame because a reader or writer held a lock (tried again later). */
  busy: number;
  /** Threw an error (e.g. disk full while copying back). */
  failed: number;
}

/** Pages of the database file: how big it is and how much of it is in use. */
export interface DbUsage {
  pageSize: number;
  pageCount: number;
  freelistCount: number;
  /** Bytes of pages holding data: (pageCount - freelistCount) * pageSize. */
  usedBytes: number;
}

/** Options of {@link Store.open}. */
export interface StoreOptions {
  durability: Durability;
  /** How long a statement waits for a lock held by a reader's checkpoint (ms). */
  busyTimeoutMs?: number;
}

/** `PRAGMA application_id` of edgelog databases: "EDLG". */
export const APPLICATION_ID = 0x45444c47;

/** The schema, one entry per version; `PRAGMA user_version` is the index of the last applied. */
const MIGRATIONS: readonly string[] = [
  "", // version 0: empty database
  `CREATE TABLE sensors(
     id INTEGER PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     unit TEXT
   );
   CREATE TABLE readings(
     id INTEGER PRIMARY KEY,
     sensor_id INTEGER NOT NULL REFERENCES sensors(id),
     ts INTEGER NOT NULL,
     value REAL NOT NULL
   );
   CREATE INDEX readings_sensor_ts ON readings(sensor_id, ts);
   CREATE TABLE forward_cursors(
     name TEXT PRIMARY KEY,
     last_id INTEGER NOT NULL
   );`,
  // version 2: per-bucket aggregates that replace raw readings older than --downsample-after.
  // `sum` (not avg) so that buckets merge exactly; `last` is the value at `last_ts`.
  `CREATE TABLE readings_downsampled(
     sensor_id INTEGER NOT NULL REFERENCES sensors(id),
     bucket_ts INTEGER NOT NULL,
     bucket_ms INTEGER NOT NULL,
     count INTEGER NOT NULL,
     sum REAL NOT NULL,
     min REAL NOT NULL,
     max REAL NOT NULL,
     last_ts INTEGER NOT NULL,
     last REAL NOT NULL,
     PRIMARY KEY(sensor_id, bucket_ts)
   ) WITHOUT ROWID;
   CREATE INDEX readings_downsampled_ts ON readings_downsampled(bucket_ts);`,
];

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.length - 1;

/**
 * Rows per multi-row INSERT statement, largest first: a group of readings goes in as few native
 * calls as these sizes allow (5000 = 4096 + 3x256 + 2x64 + 2x4). Fewer calls is faster (1024
 * rows per call: 0.96-0.99 M rows/s in-process, 128: 0.83-0.85 M, 5000: 1.0 M) and leaves less
 * garbage. The hot statements (INSERT, BEGIN, COMMIT) are executed with `get()`, not `run()`: in
 * Deno's node:sqlite `run()` builds a `{changes, lastInsertRowid}` result through serde on every
 * call, garbage that reached V8's old space and grew RSS by ~0.1 MB/s until a mark-compact, while
 * `get()` of a statement that returns no row allocates nothing (0 GCs in 2.5 M calls, against 88
 * for 1.5 M `run()` calls) and is faster. Errors carry the same `errcode` either way.
 * 4096 rows are 12,288 parameters (SQLite allows 32,766).
 */
const ROWS_PER_INSERT = [4096, 1024, 256, 64, 16, 4, 1] as const;

const SQLITE_HEADER = "SQLite format 3\0";

/** SQLite primary result codes that mean "the storage failed now, may work later". */
const TRANSIENT_CODES = new Set([5, 6, 10, 13, 14, 15]); // BUSY, LOCKED, IOERR, FULL, CANTOPEN, PROTOCOL
/** Primary result codes that mean the file is damaged. */
const CORRUPT_CODES = new Set([11, 26]); // CORRUPT, NOTADB

/**
 * SQLite's own texts for the primary result codes we act on (`sqlite3_errstr`). Deno's
 * `node:sqlite` errors carry only `code: "ERR_SQLITE_ERROR"` and the message, no `errcode`.
 */
const MESSAGE_CODES: readonly [RegExp, number][] = [
  [/^database is locked/, 5], // BUSY
  [/^database table is locked/, 6], // LOCKED
  [/^disk I\/O error/, 10], // IOERR (every extended code has this text)
  [/^database disk image is malformed|^malformed database schema/, 11], // CORRUPT
  [/^database or disk is full/, 13], // FULL
  [/^unable to open database file/, 14], // CANTOPEN
  [/^locking protocol/, 15], // PROTOCOL
  [/^file is not a database/, 26], // NOTADB
];

/** The SQLite primary result code of an error from `node:sqlite`, or undefined. */
export function sqliteCode(e: unknown): number | undefined {
  const code = (e as { errcode?: unknown })?.errcode;
  if (typeof code === "number") return code & 0xff;
  const message = e instanceof Error ? e.message : undefined;
  if (message === undefined) return undefined;
  return MESSAGE_CODES.find(([pattern]) => pattern.test(message))?.[1];
}

/** True when a write failed for a reason that may go away (disk full, I/O error, busy). */
export function isTransientWriteError(e: unknown): boolean {
  const code = sqliteCode(e);
  return code !== undefined && TRANSIENT_CODES.has(code);
}

/** True when SQLite says the database file is damaged or not a database. */
export function isCorruptionError(e: unknown): boolean {
  const code = sqliteCode(e);
  return code !== undefined && CORRUPT_CODES.has(code);
}

/**
 * The writer: owns the database connection, the writer lock and the prepared statements.
 */
export class Store {
  /** Absolute path of the database file. */
  readonly path: string;
  /** Version of the SQLite library linked into Deno. */
  readonly sqliteVersion: string;
  readonly #db: DatabaseSync;
  readonly #lock: WriterLock;
  readonly #busyTimeoutMs: number;
  /** The INSERT of `ROWS_PER_INSERT[i]` rows and its argument array, prepared on first use. */
  readonly #inserts: { statement: StatementSync; args: number[] }[] = [];
  readonly #upsertSensor: StatementSync;
  readonly #openCursor: StatementSync;
  readonly #advanceCursor: StatementSync;
  // BEGIN/COMMIT as prepared statements: errors from `db.exec` carry no `errcode` in Deno's
  // node:sqlite, so a full disk at COMMIT would not be recognised as transient.
  readonly #begin: StatementSync;
  readonly #commit: StatementSync;
  readonly #sensorIds = new Map<string, number>();
  /** Database ids by index of the last {@link SensorTable} appended from (the pipeline's). */
  #idsTable: SensorTable | undefined;
  #idsOfTable: (number | undefined)[] = [];
  readonly #statements = new Map<string, StatementSync>();
  #closed = false;
  /** Outcomes of {@link checkpoint} per mode, for metrics. */
  readonly checkpoints: Record<CheckpointResult["mode"], CheckpointCounts> = {
    PASSIVE: { ok: 0, busy: 0, failed: 0 },
    TRUNCATE: { ok: 0, busy: 0, failed: 0 },
  };
  /** The last checkpoint's result, null before the first. */
  lastCheckpoint: CheckpointResult | null = null;

  private constructor(path: string, db: DatabaseSync, lock: WriterLock, busyTimeoutMs: number) {
    this.path = path;
    this.#db = db;
    this.#lock = lock;
    this.#busyTimeoutMs = busyTimeoutMs;
    this.sqliteVersion = String((db.prepare("SELECT sqlite_version() AS v").get() as { v: string }).v);
    this.#begin = db.prepare("BEGIN IMMEDIATE");
    this.#commit = db.prepare("COMMIT");
    this.#upsertSensor = db.prepare(
      `INSERT INTO sensors(name, unit) VALUES (?, ?)
       ON CONFLICT(name) DO UPDATE SET unit = coalesce(sensors.unit, excluded.unit)
       RETURNING id`,
    );
    this.#openCursor = db.prepare(
      `INSERT INTO forward_cursors(name, last_id) VALUES (?, 0)
       ON CONFLICT(name) DO UPDATE SET last_id = last_id RETURNING last_id`,
    );
    this.#advanceCursor = db.prepare("UPDATE forward_cursors SET last_id = ? WHERE name = ? AND last_id = ?");
    for (const row of db.prepare("SELECT id, name FROM sensors").all() as { id: number; name: string }[]) {
      this.#sensorIds.set(row.name, row.id);
    }
  }

  /**
   * Opens (creating if needed) the database at `path` for writing.
   * Throws {@link LockedError} when another edgelog holds it and {@link DatabaseError} when the
   * file cannot be used; in both cases the database file is left untouched.
   *
   * @example
   * ```ts
   * const store = Store.open("./data/edgelog.db", { durability: "full" });
   * store.append([{ sensor: "t1", ts: Date.now(), value: 21.5, unit: "°C" }]);
   * store.close();
   * ```
   */
  static open(path: string, options: StoreOptions): Store {
    const abs = resolve(path);
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    let inspected: Inspection | "mid-transaction";
    try {
      inspected = inspectFile(abs);
    } catch (e) {
      // A header that is not (yet) right beside a rollback journal: a process was killed
      // mid-transaction before WAL mode took effect. Decided after the rollback, under the lock.
      if (!(e instanceof DatabaseError) || !hasRollbackJournal(abs)) throw e;
      inspected = "mid-transaction";
    }
    ensureDirectory(dirname(abs));
    const lock = WriterLock.acquire(abs);
    let db: DatabaseSync | undefined;
    try {
      if (inspected === "mid-transaction") {
        rollBackHotJournal(abs, busyTimeoutMs);
        inspected = inspectFile(abs);
      }
      if (inspected !== "absent") vetExistingFile(abs, inspected, busyTimeoutMs);
      else createPrivateFile(abs);
      db = openConnection(abs, options.busyTimeoutMs ?? 5000);
      configure(db, abs, options.durability);
      migrate(db);
      return new Store(abs, db, lock, options.busyTimeoutMs ?? 5000);
    } catch (e) {
      try {
        db?.close();
      } catch { /* the original error matters more */ }
      lock.release();
      if (e instanceof DatabaseError || e instanceof LockedError) throw e;
      if (isCorruptionError(e)) {
        throw new DatabaseError(
          `${abs} is corrupt or not a SQLite database (${
            (e as Error).message
          }); it was not modified. Restore it from a backup or move it aside.`,
        );
      }
      if (isTransientWriteError(e)) {
        throw new DatabaseError(
          `cannot open ${abs}: ${
            (e as Error).message
          }; is its disk full or failing? Free space or fix the disk, then start again.`,
        );
      }
      throw new DatabaseError(`cannot open ${abs}: ${(e as Error).message}`);
    }
  }

  /**
   * Commits `readings[from..to)` in one transaction. On error nothing of the group is stored
   * and the error is rethrown; the caller keeps the readings and retries.
   */
  append(readings: readonly Reading[], from = 0, to = readings.length): void {
    const batch = new ReadingBatch(Math.max(0, to - from));
    batch.push(readings, from, to);
    this.appendBatch(batch);
  }

  /**
   * Commits `batch[from..to)` in one transaction (the pipeline's path: no object per reading).
   * On error nothing of the group is stored and the error is rethrown.
   *
   * @example
   * ```ts
   * const store = Store.open("./data/edgelog.db", { durability: "full" });
   * store.appendBatch(ReadingBatch.of([{ sensor: "t1", ts: Date.now(), value: 21.5 }]));
   * store.close();
   * ```
   */
  appendBatch(batch: ReadingBatch, from = 0, to = batch.length): void {
    const table = batch.sensors;
    if (this.#idsTable !== table) {
      this.#idsTable = table;
      this.#idsOfTable = [];
    }
    const ids = this.#idsOfTable;
    const resolved: number[] = [];
    this.#write(() => {
      const { sensor, ts, value } = batch;
      let i = from;
      for (let tier = 0; tier < ROWS_PER_INSERT.length && i < to; tier++) {
        const rows = ROWS_PER_INSERT[tier];
        if (i + rows > to) continue;
        const { statement, args } = this.#insert(tier);
        for (; i + rows <= to; i += rows) {
          for (let k = 0; k < rows; k++) {
            const j = i + k;
            const s = sensor[j];
            args[3 * k] = ids[s] ?? this.#resolveSensor(table, s, resolved);
            args[3 * k + 1] = ts[j];
            args[3 * k + 2] = value[j];
          }
          statement.get(...args); // get(), not run(): see ROWS_PER_INSERT
        }
      }
    }, () => {
      // The sensors created in the rolled-back transaction do not exist.
      for (const s of resolved) {
        this.#sensorIds.delete(table.names[s]);
        ids[s] = undefined;
      }
    });
  }

  #insert(tier: number): { statement: StatementSync; args: number[] } {
    let insert = this.#inserts[tier];
    if (insert === undefined) {
      const rows = ROWS_PER_INSERT[tier];
      const values = Array.from({ length: rows }, () => "(?,?,?)").join(",");
      insert = this.#inserts[tier] = {
        statement: this.#db.prepare(`INSERT INTO readings(sensor_id, ts, value) VALUES ${values}`),
        args: new Array(rows * 3).fill(0),
      };
    }
    return insert;
  }

  /** The database id of sensor `s` of `table`, created if new (recorded in `created`). */
  #resolveSensor(table: SensorTable, s: number, created: number[]): number {
    const name = table.names[s];
    let id = this.#sensorIds.get(name);
    if (id === undefined) {
      const row = this.#upsertSensor.get(name, table.units[s] ?? null) as { id: number };
      id = row.id;
      this.#sensorIds.set(name, id);
      created.push(s);
    }
    this.#idsOfTable[s] = id;
    return id;
  }

  /**
   * The durable cursor of forwarder `name` (the last id the upstream acknowledged), created at 0
   * (send everything in the database) the first time. Small write on the writer connection.
   */
  openCursor(name: string): number {
    return Number((this.#openCursor.get(name) as { last_id: number }).last_id);
  }

  /**
   * Moves cursor `name` from `fromId` to `toId` in its own small transaction on the writer
   * connection (between group commits: all writes share one thread, so it never waits for the
   * writer). Returns false when the cursor was not at `fromId` (`edgelog replay` moved it).
   */
  advanceCursor(name: string, fromId: number, toId: number): boolean {
    return Number(this.#advanceCursor.run(toId, name, fromId).changes) === 1;
  }

  /**
   * Copies the whole WAL into the database file and truncates the WAL to zero bytes. The frame
   * counts come from a PASSIVE pass first (TRUNCATE itself reports the WAL after the reset).
   * `maxWaitMs` bounds how long it waits for readers (default: the connection's busy timeout).
   */
  checkpointTruncate(maxWaitMs?: number): CheckpointResult {
    const passive = this.checkpoint("PASSIVE");
    if (maxWaitMs === undefined) {
      const truncate = this.checkpoint("TRUNCATE");
      return { ...truncate, log: passive.log, checkpointed: passive.checkpointed };
    }
    // TRUNCATE waits for readers through the busy handler; bound that wait by the caller's budget.
    this.#db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(maxWaitMs))}`);
    try {
      const truncate = this.checkpoint("TRUNCATE");
      return { ...truncate, log: passive.log, checkpointed: passive.checkpointed };
    } finally {
      this.#db.exec(`PRAGMA busy_timeout = ${this.#busyTimeoutMs}`);
    }
  }

  /** Runs `PRAGMA wal_checkpoint(mode)` once and returns what SQLite reported. */
  checkpoint(mode: "PASSIVE" | "TRUNCATE"): CheckpointResult {
    let row;
    try {
      row = this.#db.prepare(`PRAGMA wal_checkpoint(${mode})`).get() as {
        busy: number;
        log: number;
        checkpointed: number;
      };
    } catch (e) {
      this.checkpoints[mode].failed++;
      throw e;
    }
    const result = { mode, busy: Number(row.busy), log: Number(row.log), checkpointed: Number(row.checkpointed) };
    const incomplete = result.busy !== 0 || (result.log > 0 && result.checkpointed < result.log);
    this.checkpoints[mode][incomplete ? "busy" : "ok"]++;
    this.lastCheckpoint = result;
    return result;
  }

  /**
   * Forwarders whose cursor is behind the oldest reading kept: retention deleted readings they
   * had not sent yet.
   */
  forwardersBehindOldest(): string[] {
    return (this.#prepare(
      `SELECT name FROM forward_cursors
       WHERE last_id < (SELECT min(id) FROM readings) - 1 ORDER BY name`,
    ).all() as { name: string }[]).map((r) => r.name);
  }

  /** The value of a pragma on the writer's own connection (for diagnostics and tests). */
  pragma(name: string): unknown {
    if (!/^[a-z_]+$/.test(name)) throw new Error(`invalid pragma name ${name}`);
    const row = this.#db.prepare(`PRAGMA ${name}`).get() as Record<string, unknown> | undefined;
    return row === undefined ? undefined : Object.values(row)[0];
  }

  /**
   * Deletes at most `limit` raw readings with `ts < cutoffTs` and at most `limit` downsampled
   * buckets that end before it, in one short transaction; returns the rows deleted. Walks the
   * `(sensor_id, ts)` and `bucket_ts` indexes, so it costs a few index probes when nothing is old.
   */
  deleteOlderThan(cutoffTs: number, limit: number): number {
    return this.#write(() => {
      const n = Number(
        this.#prepare(
          `DELETE FROM readings WHERE id IN (
           SELECT id FROM readings WHERE sensor_id IN (SELECT id FROM sensors) AND ts < ? LIMIT ?)`,
        ).run(cutoffTs, limit).changes,
      );
      const buckets = Number(
        this.#prepare(
          `DELETE FROM readings_downsampled WHERE (sensor_id, bucket_ts) IN (
           SELECT sensor_id, bucket_ts FROM readings_downsampled
           WHERE bucket_ts < ?1 AND bucket_ts + bucket_ms <= ?1 ORDER BY bucket_ts LIMIT ?2)`,
        ).run(cutoffTs, limit).changes,
      );
      return n + buckets;
    });
  }

  /**
   * Deletes the oldest `limit` rows in one short transaction: downsampled buckets first (they
   * hold the oldest history), then raw readings in log order (by id). Returns rows deleted.
   */
  deleteOldest(limit: number): number {
    return this.#write(() => {
      const buckets = Number(
        this.#prepare(
          `DELETE FROM readings_downsampled WHERE (sensor_id, bucket_ts) IN (
           SELECT sensor_id, bucket_ts FROM readings_downsampled ORDER BY bucket_ts LIMIT ?)`,
        ).run(limit).changes,
      );
      if (buckets > 0) return buckets;
      return Number(
        this.#prepare(
          `DELETE FROM readings WHERE id IN (SELECT id FROM readings ORDER BY id LIMIT ?)`,
        ).run(limit).changes,
      );
    });
  }

  /**
   * Replaces one sensor's raw readings in `[fromTs, toTs)` by per-bucket aggregates (merged into
   * existing buckets) in one transaction; `fromTs`/`toTs` should be bucket-aligned. Returns the
   * number of raw readings replaced.
   */
  downsample(sensorId: number, fromTs: number, toTs: number, bucketMs: number): number {
    return this.#write(() => {
      this.#prepare(
        `INSERT INTO readings_downsampled(sensor_id, bucket_ts, bucket_ms, count, sum, min, max, last_ts, last)
         SELECT ?1, g.bucket, ?4, g.n, g.total, g.mn, g.mx, g.last_ts,
                (SELECT value FROM readings r WHERE r.sensor_id = ?1 AND r.ts = g.last_ts ORDER BY r.id DESC LIMIT 1)
         FROM (SELECT (ts - ts % ?4) AS bucket, count(*) AS n, sum(value) AS total, min(value) AS mn,
                      max(value) AS mx, max(ts) AS last_ts
               FROM readings WHERE sensor_id = ?1 AND ts >= ?2 AND ts < ?3 GROUP BY 1) AS g
         WHERE true
         ON CONFLICT(sensor_id, bucket_ts) DO UPDATE SET
           count = count + excluded.count, sum = sum + excluded.sum,
           min = min(min, excluded.min), max = max(max, excluded.max),
           last = CASE WHEN excluded.last_ts >= last_ts THEN excluded.last ELSE last END,
           last_ts = max(last_ts, excluded.last_ts)`,
      ).run(sensorId, fromTs, toTs, bucketMs);
      return Number(
        this.#prepare("DELETE FROM readings WHERE sensor_id = ? AND ts >= ? AND ts < ?").run(sensorId, fromTs, toTs)
          .changes,
      );
    });
  }

  /**
   * The end (exclusive) of the next stretch of one sensor's raw readings older than `beforeTs`
   * holding about `rows` readings, as `{fromTs, toTs}` aligned to `bucketMs`; undefined when the
   * sensor has no raw reading in a complete bucket before `beforeTs`.
   */
  nextDownsampleRange(
    sensorId: number,
    beforeTs: number,
    bucketMs: number,
    rows: number,
  ): { fromTs: number; toTs: number } | undefined {
    const end = beforeTs - (beforeTs % bucketMs);
    const first = this.#prepare("SELECT min(ts) AS t FROM readings WHERE sensor_id = ? AND ts < ?").get(
      sensorId,
      end,
    ) as { t: number | null };
    if (first.t === null) return undefined;
    const fromTs = first.t - (first.t % bucketMs);
    const nth = this.#prepare(
      "SELECT ts FROM readings WHERE sensor_id = ? AND ts >= ? AND ts < ? ORDER BY ts LIMIT 1 OFFSET ?",
    ).get(sensorId, fromTs, end, rows) as { ts: number } | undefined;
    let toTs = nth ? nth.ts - (nth.ts % bucketMs) : end;
    if (toTs <= fromTs) toTs = fromTs + bucketMs; // one bucket holds more than `rows`: take it whole
    return { fromTs, toTs };
  }

  /** The names of every sensor in the database. */
  sensorNames(): string[] {
    return [...this.#sensorIds.keys()];
  }

  /** The ids of every sensor (retention walks them). */
  sensorIds(): number[] {
    return (this.#prepare("SELECT id FROM sensors ORDER BY id").all() as { id: number }[]).map((r) => Number(r.id));
  }

  /** How many pages the database file has and how many are in use (cheap: header fields). */
  usage(): DbUsage {
    const pageSize = Number((this.#prepare("PRAGMA page_size").get() as { page_size: number }).page_size);
    const pageCount = Number((this.#prepare("PRAGMA page_count").get() as { page_count: number }).page_count);
    const freelistCount = Number(
      (this.#prepare("PRAGMA freelist_count").get() as { freelist_count: number }).freelist_count,
    );
    return { pageSize, pageCount, freelistCount, usedBytes: (pageCount - freelistCount) * pageSize };
  }

  #prepare(sql: string): StatementSync {
    let st = this.#statements.get(sql);
    if (!st) {
      st = this.#db.prepare(sql);
      this.#statements.set(sql, st);
    }
    return st;
  }

  /** Runs `fn` in one IMMEDIATE transaction; rolls back and rethrows on error. */
  #write<T>(fn: () => T, onRollback?: () => void): T {
    const db = this.#db;
    this.#begin.get();
    try {
      const result = fn();
      this.#commit.get();
      return result;
    } catch (e) {
      onRollback?.();
      if (db.isTransaction) {
        try {
          db.exec("ROLLBACK");
        } catch { /* SQLite rolls back by itself on I/O errors; the original error matters more */ }
      }
      throw e;
    }
  }

  /** Closes the connection and releases the writer lock; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#db.close();
    } finally {
      this.#lock.release();
    }
  }
}

/**
 * What {@link inspectFile} found: no file, a file that looks whole, or a file shorter than its
 * header says while a `-wal` file lies beside it (see {@link checkShortFileIsWholeWithWal}).
 */
type Inspection = "absent" | "whole" | "short-with-wal";

/** Checks the file without opening it with SQLite; throws DatabaseError if it is not usable. */
function inspectFile(path: string): Inspection {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "absent";
    throw new DatabaseError(`cannot access ${path}: ${(e as Error).message}`);
  }
  if (info.isDirectory) {
    throw new DatabaseError(
      `${path} is a directory, not a database file; point --db at a file inside it, e.g. ${path}/edgelog.db`,
    );
  }
  if (!info.isFile) throw new DatabaseError(`${path} is not a regular file`);
  if (info.size === 0) return "whole"; // SQLite treats an empty file as an empty database
  let header: Uint8Array;
  try {
    const file = Deno.openSync(path, { read: true });
    try {
      header = new Uint8Array(100);
      let got = 0;
      while (got < 100) {
        const n = file.readSync(header.subarray(got));
        if (n === null) break;
        got += n;
      }
      header = header.subarray(0, got);
    } finally {
      file.close();
    }
  } catch (e) {
    throw new DatabaseError(`cannot read ${path}: ${(e as Error).message}; check its permissions`);
  }
  if (header.length < 100 || new TextDecoder().decode(header.subarray(0, 16)) !== SQLITE_HEADER) {
    throw new DatabaseError(
      `${path} is not a SQLite database (wrong header); it was not modified. Move it aside or choose another --db.`,
    );
  }
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const rawPageSize = view.getUint16(16);
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  const pageCount = view.getUint32(28);
  const headerValid = view.getUint32(24) === view.getUint32(92);
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) {
    throw new DatabaseError(
      `${path} is corrupt (invalid page size ${rawPageSize}); it was not modified. Restore it from a backup.`,
    );
  }
  const shorterThanHeader = headerValid && pageCount > 0 && info.size < pageCount * pageSize;
  // A checkpoint copies WAL frames in page order: page 1, with the new page count, lands before
  // the file grows. After a crash mid-checkpoint the WAL still holds the rest; SQLite decides.
  if (info.size % pageSize === 0 && shorterThanHeader && walHasContent(path)) return "short-with-wal";
  if (info.size % pageSize !== 0 || shorterThanHeader) {
    throw new DatabaseError(
      `${path} is truncated (${info.size} bytes, expected ${
        headerValid ? pageCount * pageSize : "a multiple of " + pageSize
      }); it was not modified. Restore it from a backup.`,
    );
  }
  return "whole";
}

function walHasContent(dbPath: string): boolean {
  try {
    return Deno.statSync(`${dbPath}-wal`).size > 32; // more than the WAL header
  } catch {
    return false;
  }
}

/**
 * For a file shorter than its header says, with a WAL beside it: SQLite reads the missing pages
 * from the WAL (a crash mid-checkpoint). A read-only `quick_check` tells a recoverable file from
 * a truncated one before anything is written.
 */
function checkShortFileIsWholeWithWal(db: DatabaseSync, path: string): void {
  let result: string;
  try {
    result = (db.prepare("PRAGMA quick_check").all() as { quick_check: string }[]).map((r) => r.quick_check).join("; ");
  } catch (e) {
    result = (e as Error).message;
  }
  if (result !== "ok") {
    throw new DatabaseError(
      `${path} is truncated and its WAL does not hold the missing pages (${
        result.slice(0, 200)
      }); it was not modified. Restore it from a backup.`,
    );
  }
}

function ensureDirectory(dir: string): void {
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new DatabaseError(`cannot create directory ${dir}: ${(e as Error).message}`);
  }
}

function createPrivateFile(path: string): void {
  try {
    Deno.openSync(path, { write: true, createNew: true, mode: 0o600 }).close();
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return;
    throw new DatabaseError(`cannot create ${path}: ${(e as Error).message}`);
  }
}

function openConnection(path: string, busyTimeoutMs: number): DatabaseSync {
  return new DatabaseSync(path, { timeout: busyTimeoutMs });
}

/**
 * Checks an existing file on a read-only connection before the writer opens it: closing a
 * read-write connection checkpoints and deletes the WAL, which would modify a file we refuse
 * (another application's database, a truncated one).
 */
function vetExistingFile(path: string, inspected: Inspection, busyTimeoutMs: number): void {
  const vet = () => {
    const reader = new DatabaseSync(path, { readOnly: true, timeout: busyTimeoutMs });
    try {
      if (inspected === "short-with-wal") checkShortFileIsWholeWithWal(reader, path);
      checkIsEdgelogDatabase(reader, path);
    } finally {
      reader.close();
    }
  };
  try {
    vet();
  } catch (e) {
    if ((e as { errcode?: unknown })?.errcode !== SQLITE_READONLY_ROLLBACK) throw e;
    // A hot rollback journal beside the file: a process was killed mid-transaction before WAL
    // mode took effect (edgelog itself, SIGKILLed while creating the database). Only a read-write
    // connection may roll it back; SQLite does exactly that on any open, restoring the last
    // committed state, so do it and vet again.
    rollBackHotJournal(path, busyTimeoutMs);
    vet();
  }
}

/** `SQLITE_READONLY_ROLLBACK`: a read-only connection found a hot journal it may not roll back. */
const SQLITE_READONLY_ROLLBACK = 776;

/** True when a non-empty `-journal` lies beside `path` (it may be hot: SQLite decides). */
function hasRollbackJournal(path: string): boolean {
  try {
    return Deno.statSync(`${path}-journal`).size > 0;
  } catch {
    return false;
  }
}

/** Opens `path` read-write and reads it once: SQLite rolls back a hot journal on the first read. */
function rollBackHotJournal(path: string, busyTimeoutMs: number): void {
  const db = new DatabaseSync(path, { timeout: busyTimeoutMs });
  try {
    db.prepare("PRAGMA user_version").get();
  } finally {
    db.close();
  }
}

function checkIsEdgelogDatabase(db: DatabaseSync, path: string): void {
  const appId = Number((db.prepare("PRAGMA application_id").get() as { application_id: number }).application_id);
  const version = Number((db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version);
  const tables =
    (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .all() as {
        name: string;
      }[]).map((r) => r.name);
  if (appId !== 0 && appId !== APPLICATION_ID) {
    throw new DatabaseError(
      `${path} belongs to another application (application_id ${appId}); it was not modified. Choose another --db.`,
    );
  }
  if (appId === 0 && tables.length > 0) {
    throw new DatabaseError(
      `${path} is not an edgelog database (it has tables ${
        tables.slice(0, 5).join(", ")
      }); it was not modified. Choose another --db.`,
    );
  }
  if (version > SCHEMA_VERSION) {
    throw new DatabaseError(
      `${path} was written by a newer edgelog (schema ${version}, this build knows ${SCHEMA_VERSION}); it was not modified. Upgrade edgelog.`,
    );
  }
}

function configure(db: DatabaseSync, path: string, durability: Durability): void {
  const mode = (db.prepare("PRAGMA journal_mode = WAL").get() as { journal_mode: string }).journal_mode;
  if (mode !== "wal") {
    throw new DatabaseError(
      `${path}: could not switch to WAL mode (got '${mode}'); is the file or its directory read-only?`,
    );
  }
  db.exec(`PRAGMA synchronous = ${durability === "full" ? "FULL" : "NORMAL"};
           PRAGMA wal_autocheckpoint = 1000;
           PRAGMA journal_size_limit = ${64 * 1024 * 1024};
           PRAGMA foreign_keys = OFF;
           PRAGMA temp_store = MEMORY;`);
  // foreign_keys is OFF on purpose (SQLite's default): enforcing it costs one lookup in `sensors`
  // per inserted reading, 12-15 % of the writer's throughput, and protects nothing here. Every
  // sensor_id the writer inserts comes from the upsert in the same transaction (or from a cache
  // that forgets ids of rolled-back transactions), and nothing deletes sensors. The REFERENCES
  // clause stays in the schema, and `edgelog check` verifies it with `PRAGMA foreign_key_check`.
}

function migrate(db: DatabaseSync): void {
  const current = Number((db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version);
  if (current >= SCHEMA_VERSION) return;
  db.exec("BEGIN IMMEDIATE");
  try {
    for (let v = current + 1; v <= SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]);
    db.exec(`PRAGMA application_id = ${APPLICATION_ID}; PRAGMA user_version = ${SCHEMA_VERSION};`);
    db.exec("COMMIT");
  } catch (e) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw e;
  }
}

/**
 * An exclusive advisory lock (`flock`) on `<db>.lock`, holding the owner's pid. The kernel
 * releases it when the process dies, so a SIGKILLed logger never leaves a stale lock.
 */
class WriterLock {
  readonly #file: Deno.FsFile;
  private constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  static acquire(dbPath: string): WriterLock {
    const lockPath = `${dbPath}.lock`;
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(lockPath, { read: true, write: true, create: true, mode: 0o600 });
    } catch (e) {
      throw new DatabaseError(
        `cannot create the lock file ${lockPath}: ${(e as Error).message}; the directory ${
          dirname(dbPath)
        } must be writable (SQLite also creates -wal and -shm files there)`,
      );
    }
    if (!file.tryLockSync(true)) {
      const owner = readAll(file).trim();
      file.close();
      throw new LockedError(
        `${dbPath} is already being written by another edgelog (pid ${
          owner || "unknown"
        }); stop it first or choose another --db`,
      );
    }
    try {
      // The pid only helps the message of a refused second writer; the flock is the lock. On a
      // full disk this write fails, and opening the database then says why.
      file.truncateSync(0);
      file.seekSync(0, Deno.SeekMode.Start);
      file.writeSync(new TextEncoder().encode(`${Deno.pid}\n`));
    } catch { /* best effort */ }
    return new WriterLock(file);
  }

  release(): void {
    try {
      this.#file.truncateSync(0);
      this.#file.unlockSync();
    } catch { /* closing releases the lock anyway */ }
    try {
      this.#file.close();
    } catch { /* already closed */ }
  }
}

function readAll(file: Deno.FsFile): string {
  const buf = new Uint8Array(64);
  const n = file.readSync(buf) ?? 0;
  return new TextDecoder().decode(buf.subarray(0, n));
}
