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
];

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.length - 1;

/** Rows per multi-row INSERT statement: one native call inserts this many readings. */
const ROWS_PER_INSERT = 128;

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
  readonly #insertMany: StatementSync;
  readonly #insertOne: StatementSync;
  readonly #upsertSensor: StatementSync;
  readonly #sensorIds = new Map<string, number>();
  readonly #args: (number | null)[] = new Array(ROWS_PER_INSERT * 3);
  #closed = false;

  private constructor(path: string, db: DatabaseSync, lock: WriterLock, busyTimeoutMs: number) {
    this.path = path;
    this.#db = db;
    this.#lock = lock;
    this.#busyTimeoutMs = busyTimeoutMs;
    this.sqliteVersion = String((db.prepare("SELECT sqlite_version() AS v").get() as { v: string }).v);
    const values = Array.from({ length: ROWS_PER_INSERT }, () => "(?,?,?)").join(",");
    this.#insertMany = db.prepare(`INSERT INTO readings(sensor_id, ts, value) VALUES ${values}`);
    this.#insertOne = db.prepare("INSERT INTO readings(sensor_id, ts, value) VALUES (?,?,?)");
    this.#upsertSensor = db.prepare(
      `INSERT INTO sensors(name, unit) VALUES (?, ?)
       ON CONFLICT(name) DO UPDATE SET unit = coalesce(sensors.unit, excluded.unit)
       RETURNING id`,
    );
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
    const inspected = inspectFile(abs);
    const existed = inspected !== "absent";
    ensureDirectory(dirname(abs));
    const lock = WriterLock.acquire(abs);
    let db: DatabaseSync | undefined;
    try {
      if (existed) vetExistingFile(abs, inspected, options.busyTimeoutMs ?? 5000);
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
    const db = this.#db;
    const newSensors: string[] = [];
    db.exec("BEGIN IMMEDIATE");
    try {
      const args = this.#args;
      let i = from;
      for (; i + ROWS_PER_INSERT <= to; i += ROWS_PER_INSERT) {
        for (let k = 0; k < ROWS_PER_INSERT; k++) {
          const r = readings[i + k];
          args[3 * k] = this.#sensorId(r, newSensors);
          args[3 * k + 1] = r.ts;
          args[3 * k + 2] = r.value;
        }
        this.#insertMany.run(...args);
      }
      for (; i < to; i++) {
        const r = readings[i];
        this.#insertOne.run(this.#sensorId(r, newSensors), r.ts, r.value);
      }
      db.exec("COMMIT");
    } catch (e) {
      for (const name of newSensors) this.#sensorIds.delete(name);
      if (db.isTransaction) {
        try {
          db.exec("ROLLBACK");
        } catch { /* SQLite rolls back by itself on I/O errors; the original error matters */ }
      }
      throw e;
    }
  }

  #sensorId(r: Reading, newSensors: string[]): number {
    const known = this.#sensorIds.get(r.sensor);
    if (known !== undefined) return known;
    const row = this.#upsertSensor.get(r.sensor, r.unit ?? null) as { id: number };
    this.#sensorIds.set(r.sensor, row.id);
    newSensors.push(r.sensor);
    return row.id;
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
    const row = this.#db.prepare(`PRAGMA wal_checkpoint(${mode})`).get() as {
      busy: number;
      log: number;
      checkpointed: number;
    };
    return { mode, busy: Number(row.busy), log: Number(row.log), checkpointed: Number(row.checkpointed) };
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
  const reader = new DatabaseSync(path, { readOnly: true, timeout: busyTimeoutMs });
  try {
    if (inspected === "short-with-wal") checkShortFileIsWholeWithWal(reader, path);
    checkIsEdgelogDatabase(reader, path);
  } finally {
    reader.close();
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
           PRAGMA foreign_keys = ON;
           PRAGMA temp_store = MEMORY;`);
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
