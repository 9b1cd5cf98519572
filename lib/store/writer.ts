/**
 * The writer: one SQLite connection in WAL mode, used by exactly one edgelog at a time.
 *
 * `Store.open` goes through the vetted open (`open.ts`: file checks, writer lock, pragmas,
 * migrations); `appendBatch` commits one group of readings in one transaction; the checkpoints
 * keep the WAL bounded; `close` releases the connection and the lock. Retention runs on the same
 * connection (`retention.ts`), between group commits.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { type Reading, ReadingBatch, type SensorTable } from "../reading.ts";
import { Connection, type DbUsage } from "./_connection.ts";
import { hotMirror } from "./_hot_mirror.ts";
import { maxReadingId, minReadingId } from "./chunks.ts";
import { ClockLog } from "./clock_log.ts";
import { fileSize, walPath } from "./files.ts";
import type { WriterLock } from "./lock.ts";
import { DEFAULT_BUSY_TIMEOUT_MS, type OnDamage, openWriterConnection } from "./open.ts";
import { diagnose, type Diagnosis, quarantine, type Quarantined } from "./quarantine.ts";
import { Retention, type RetentionOptions } from "./retention.ts";
import type { Durability } from "./schema.ts";

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

/** Options of {@link Store.open}. */
export interface StoreOptions {
  durability: Durability;
  /** How long a statement waits for a lock held by a reader's checkpoint (ms). */
  busyTimeoutMs?: number;
  /** A damaged database of edgelog's own: refused (DatabaseError) or moved aside; `refuse` by default. */
  onDamage?: OnDamage;
}

/**
 * Rows per multi-row INSERT statement, largest first: a group goes in as few native calls as these
 * sizes allow (5000 = its first row, then 4096 + 3x256 + 2x64 + 4 + 3x1). Fewer native calls is
 * faster and leaves less garbage (figures in docs/BENCHMARKS.md). The hot statements (INSERT,
 * BEGIN, COMMIT) run with `get()`, not `run()`: in Deno's node:sqlite `run()` builds a
 * `{changes, lastInsertRowid}` result on every call, garbage that reaches V8's old space, while
 * `get()` of a statement that returns no row allocates nothing. Only a group's first row names its
 * id; SQLite numbers the rest (largest rowid + 1, the next id since ids only grow), 1.5x as fast;
 * the last rowid is checked before COMMIT. 4096 rows are 12,288 parameters (SQLite allows 32,766).
 */
const ROWS_PER_INSERT = [4096, 1024, 256, 64, 16, 4, 1] as const;

/**
 * The writer: owns the database connection, the writer lock and the prepared statements.
 *
 * @example
 * ```ts
 * const store = Store.open("./data/edgelog.db", { durability: "full" });
 * store.append([{ sensor: "t1", ts: Date.now(), value: 21.5, unit: "°C" }]);
 * store.close();
 * ```
 */
export class Store {
  /** Absolute path of the database file. */
  readonly path: string;
  /** Version of the SQLite library linked into Deno. */
  readonly sqliteVersion: string;
  readonly #conn: Connection;
  readonly #lock: WriterLock;
  readonly #busyTimeoutMs: number;
  /** The INSERT of `ROWS_PER_INSERT[i]` rows numbered by SQLite and its argument array, prepared on first use. */
  readonly #inserts: { statement: StatementSync; args: number[] }[] = [];
  /** The INSERT of a group's first row, which names its id. */
  readonly #insertFirst: StatementSync;
  readonly #lastRowid: StatementSync;
  readonly #upsertSensor: StatementSync;
  readonly #sensorIds = new Map<string, number>();
  /** Database ids by index of the last {@link SensorTable} appended from (the pipeline's). */
  #idsTable: SensorTable | undefined;
  #idsOfTable: (number | undefined)[] = [];
  /**
   * The id the next reading gets. Ids are given by the writer, not by SQLite's max(rowid)+1:
   * compaction empties the hot table, and an id must never be given twice (forwarders and exports
   * page by it). A group's first row names it; SQLite's numbering of the rest follows from it.
   */
  #nextId: number;
  #closed = false;
  /** The schema version the file had when it was opened (0: a new database); see `migrate`. */
  readonly migratedFrom: number;
  /** The damaged database the open moved aside before creating this one, if it did. */
  quarantined: Quarantined | undefined;
  /** Outcomes of {@link checkpoint} per mode, for metrics. */
  readonly checkpoints: Record<CheckpointResult["mode"], CheckpointCounts> = {
    PASSIVE: { ok: 0, busy: 0, failed: 0 },
    TRUNCATE: { ok: 0, busy: 0, failed: 0 },
  };
  /** The last checkpoint's result, null before the first. */
  lastCheckpoint: CheckpointResult | null = null;
  /** The provisional readings (wall clock not trusted) and their re-stamp. */
  readonly clock: ClockLog;

  private constructor(
    path: string,
    conn: Connection,
    lock: WriterLock,
    busyTimeoutMs: number,
    migratedFrom: number,
  ) {
    this.path = path;
    this.#conn = conn;
    this.#lock = lock;
    this.#busyTimeoutMs = busyTimeoutMs;
    this.migratedFrom = migratedFrom;
    this.#nextId = maxReadingId(conn) + 1;
    this.clock = new ClockLog(conn);
    this.sqliteVersion = String(conn.prepare("SELECT sqlite_version() AS v").get()!.v);
    this.#upsertSensor = conn.prepare(
      `INSERT INTO sensors(name, unit) VALUES (?, ?)
       ON CONFLICT(name) DO UPDATE SET unit = coalesce(sensors.unit, excluded.unit)
       RETURNING id`,
    );
    this.#insertFirst = conn.prepare("INSERT INTO readings(id, sensor_id, ts, value) VALUES (?, ?, ?, ?)");
    this.#lastRowid = conn.prepare("SELECT last_insert_rowid() AS id");
    for (const row of conn.prepare("SELECT id, name FROM sensors").all() as { id: number; name: string }[]) {
      this.#sensorIds.set(row.name, row.id);
    }
  }

  /**
   * Opens (creating if needed) the database at `path` for writing.
   * Throws {@link LockedError} when another edgelog holds it and {@link DatabaseError} when the
   * file cannot be used; in both cases the database file is left untouched.
   */
  static open(path: string, options: StoreOptions): Store {
    const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    const opened = openWriterConnection(path, { ...options, busyTimeoutMs });
    const store = new Store(opened.path, new Connection(opened.db), opened.lock, busyTimeoutMs, opened.migratedFrom);
    store.quarantined = opened.quarantined;
    return store;
  }

  /** Whether the file is damaged, unreadable or sound now, asked on fresh read-only connections. */
  diagnose(): Diagnosis {
    return diagnose(this.path);
  }

  /**
   * Closes this store without writing another byte to the file and moves the file aside (see
   * `quarantine.ts`), for a database found damaged while logging. A read-only connection stays
   * open while the writer's closes: SQLite checkpoints the WAL into the file when the last
   * connection closes, and that would modify the damaged file. Releases the writer lock; the
   * caller opens a fresh store at {@link path}.
   */
  abandonDamaged(reason: string): Quarantined {
    if (this.#closed) throw new Error(`${this.path}: the store is already closed`);
    this.#closed = true;
    let guard: DatabaseSync | undefined;
    try {
      guard = new DatabaseSync(this.path, { readOnly: true, timeout: this.#busyTimeoutMs });
      guard.prepare("PRAGMA user_version").get(); // takes the shared lock that prevents the checkpoint
    } catch { /* page 1 unreadable: the writer's close cannot checkpoint into it either */ }
    try {
      try {
        this.#conn.close();
      } catch { /* a damaged file may refuse even that; the rename below matters */ }
      return quarantine(this.path, reason);
    } finally {
      guard?.close();
      this.#lock.release();
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
    let id = this.#nextId;
    this.#conn.write(() => {
      if (from >= to) return;
      const { sensor, ts, value } = batch;
      const s0 = sensor[from];
      this.#insertFirst.get(id++, ids[s0] ?? this.#resolveSensor(table, s0, resolved), ts[from], value[from]);
      let i = from + 1;
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
          id += rows;
        }
      }
      const last = Number((this.#lastRowid.get() as { id: number | bigint }).id);
      if (last !== id - 1) throw new Error(`readings numbered up to ${last}, not ${this.#nextId}..${id - 1}`);
      if (batch.everProvisional) this.clock.record(batch, from, to, this.#nextId);
    }, () => {
      // The sensors created in the rolled-back transaction do not exist.
      for (const s of resolved) {
        this.#sensorIds.delete(table.names[s]);
        ids[s] = undefined;
      }
    });
    hotMirror(this.#conn).committed(this.#nextId, batch, from, to, ids);
    this.#nextId = id; // only once committed: a failed group gives its ids again
    if (batch.everProvisional) this.clock.committed();
  }

  #insert(tier: number): { statement: StatementSync; args: number[] } {
    let insert = this.#inserts[tier];
    if (insert === undefined) {
      const rows = ROWS_PER_INSERT[tier];
      const values = Array.from({ length: rows }, () => "(?,?,?)").join(",");
      insert = this.#inserts[tier] = {
        statement: this.#conn.db.prepare(`INSERT INTO readings(sensor_id, ts, value) VALUES ${values}`),
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
    const row = this.#conn.prepare(
      `INSERT INTO forward_cursors(name, last_id) VALUES (?, 0)
       ON CONFLICT(name) DO UPDATE SET last_id = last_id RETURNING last_id`,
    ).get(name) as { last_id: number };
    return Number(row.last_id);
  }

  /**
   * Moves cursor `name` from `fromId` to `toId` in its own small transaction on the writer
   * connection (between group commits: all writes share one thread, so it never waits for the
   * writer). Returns false when the cursor was not at `fromId` (`edgelog replay` moved it).
   */
  advanceCursor(name: string, fromId: number, toId: number): boolean {
    const st = this.#conn.prepare("UPDATE forward_cursors SET last_id = ? WHERE name = ? AND last_id = ?");
    return Number(st.run(toId, name, fromId).changes) === 1;
  }

  /**
   * Copies the whole WAL into the database file and truncates the WAL to zero bytes. The frame
   * counts come from a PASSIVE pass first (TRUNCATE itself reports the WAL after the reset).
   * `maxWaitMs` bounds how long it waits for readers (default: the connection's busy timeout).
   */
  checkpointTruncate(maxWaitMs?: number): CheckpointResult {
    const passive = this.checkpoint("PASSIVE");
    // TRUNCATE waits for readers through the busy handler; bound that wait by the caller's budget.
    const bounded = maxWaitMs !== undefined;
    if (bounded) this.#conn.db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(maxWaitMs))}`);
    try {
      const truncate = this.checkpoint("TRUNCATE");
      return { ...truncate, log: passive.log, checkpointed: passive.checkpointed };
    } finally {
      if (bounded) this.#conn.db.exec(`PRAGMA busy_timeout = ${this.#busyTimeoutMs}`);
    }
  }

  /** Runs `PRAGMA wal_checkpoint(mode)` once and returns what SQLite reported. */
  checkpoint(mode: "PASSIVE" | "TRUNCATE"): CheckpointResult {
    let row;
    try {
      row = this.#conn.prepare(`PRAGMA wal_checkpoint(${mode})`).get() as {
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
   * Retention and downsampling on this writer's connection, in short steps between commits;
   * call `start()` on the result.
   */
  retention(options: RetentionOptions): Retention {
    return new Retention(this.#conn, options);
  }

  /**
   * Readings compaction steps took from the writer's copy of the hot table instead of reading
   * them back (for diagnostics and tests; see `HotMirror`).
   */
  compactedUnread(): number {
    return hotMirror(this.#conn).unreadTotal;
  }

  /** The value of a pragma on the writer's own connection (for diagnostics and tests). */
  pragma(name: string): unknown {
    return this.#conn.pragma(name);
  }

  /** The names of every sensor in the database. */
  sensorNames(): string[] {
    return [...this.#sensorIds.keys()];
  }

  /** How many pages the database file has and how many are in use (cheap: header fields). */
  usage(): DbUsage {
    return this.#conn.usage();
  }

  /**
   * Database pages in use per raw reading stored (hot and compacted; downsampled buckets not
   * counted), or null when there is none. Cheap: page counts and the id range.
   */
  bytesPerReading(): number | null {
    const lo = minReadingId(this.#conn);
    if (lo === undefined) return null;
    const readings = maxReadingId(this.#conn) - lo + 1;
    return Math.round((this.usage().usedBytes / readings) * 10) / 10;
  }

  /** Sizes of the database file and its WAL, bytes. */
  fileSizes(): { db: number; wal: number } {
    return { db: fileSize(this.path), wal: fileSize(walPath(this.path)) };
  }

  /** Closes the connection and releases the writer lock; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } finally {
      this.#lock.release();
    }
  }
}
