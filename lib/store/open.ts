/**
 * Opening a database, vetted: every connection edgelog makes goes through here. The writer's
 * open checks the file before SQLite touches it (a directory, not SQLite, truncated, another
 * application's, from a newer edgelog: refused, never modified), takes the writer lock, recovers
 * what a crash left (a hot rollback journal, a checkpoint cut short), sets the pragmas and
 * migrates. A read-only open never creates anything and refuses what is not edgelog's.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { dirname, resolve } from "node:path";
import { DamagedDatabaseError, DatabaseError, LockedError } from "../errors.ts";
import { createPrivateFile, ensureDirectory, fileSize, hasRollbackJournal, walHasContent } from "./files.ts";
import { WriterLock } from "./lock.ts";
import { diagnose, quarantine, type Quarantined, readError } from "./quarantine.ts";
import { APPLICATION_ID, configureWriter, type Durability, identify, migrate, SCHEMA_VERSION } from "./schema.ts";
import { isCorruptionError, isTransientWriteError, SQLITE_READONLY_ROLLBACK } from "./sqlite_errors.ts";

/** Files up to this size get a `quick_check` at every writer open, not only after a crash. */
export const QUICK_CHECK_ALWAYS_BYTES = 64 * 1024 * 1024;

/** How long a statement waits for a lock another connection holds, by default (ms). */
export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

/** The writer's connection and lock, from {@link openWriterConnection}. */
export interface WriterConnection {
  /** Absolute path of the database file. */
  path: string;
  db: DatabaseSync;
  lock: WriterLock;
  /** The schema version the file had before this open migrated it (0: a new database). */
  migratedFrom: number;
  /** The damaged database this open moved aside before starting a fresh one (`onDamage: "quarantine"`). */
  quarantined?: Quarantined;
}

/**
 * What the writer's open does with a damaged database of edgelog's own: `refuse` (exit code 4,
 * the file untouched) or `quarantine` (move it aside, start a fresh one). Files that are not
 * edgelog's, or from a newer edgelog, are refused either way.
 */
export type OnDamage = "refuse" | "quarantine";

/**
 * Opens (creating if needed) the database at `path` for writing, vetted, locked, configured and
 * migrated. Throws {@link LockedError} when another edgelog holds it and {@link DatabaseError}
 * when the file cannot be used; in both cases the database file is left untouched.
 */
export function openWriterConnection(
  path: string,
  options: { durability: Durability; busyTimeoutMs?: number; onDamage?: OnDamage },
): WriterConnection {
  try {
    return openVetted(resolve(path), options);
  } catch (e) {
    if (!(e instanceof DamagedDatabaseError) || options.onDamage !== "quarantine") throw e;
    const lock = WriterLock.acquire(e.path); // LockedError: another edgelog writes it; leave it be
    let moved: Quarantined;
    try {
      moved = quarantineIfDamaged(e);
    } finally {
      lock.release();
    }
    return { ...openVetted(e.path, options), quarantined: moved };
  }
}

/**
 * Moves the database of `damage` aside when a second look confirms the damage; a file that
 * cannot be read (a failing card) or that looks sound now is refused instead, untouched.
 */
function quarantineIfDamaged(damage: DamagedDatabaseError): Quarantined {
  const path = damage.path;
  if (damage.structural) {
    const failed = readError(path);
    if (failed !== undefined) throw new DatabaseError(`cannot read ${path} (${failed}); is its disk failing?`);
  } else {
    const diagnosis = diagnose(path);
    if (diagnosis.kind === "unreadable") {
      throw new DatabaseError(`cannot read ${path} (${diagnosis.detail}); is its disk failing? It was not moved.`);
    }
    if (diagnosis.kind === "sound") throw damage;
  }
  return quarantine(path, damage.message);
}

function openVetted(
  abs: string,
  options: { durability: Durability; busyTimeoutMs?: number },
): WriterConnection {
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  // quick_check reads the whole file: always after a crash or power cut (a WAL or journal left
  // behind), after a clean stop only while that stays cheap (figures in docs/RELIABILITY.md).
  const check = walHasContent(abs) || hasRollbackJournal(abs) || fileSize(abs) <= QUICK_CHECK_ALWAYS_BYTES;
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
    if (inspected !== "absent") vetExistingFile(abs, inspected, busyTimeoutMs, check);
    else createPrivateFile(abs);
    db = new DatabaseSync(abs, { timeout: busyTimeoutMs });
    configureWriter(db, abs, options.durability);
    const migratedFrom = migrate(db);
    return { path: abs, db, lock, migratedFrom };
  } catch (e) {
    try {
      db?.close();
    } catch { /* the original error matters more */ }
    lock.release();
    throw explain(e, abs);
  }
}

/** A read-only connection, from {@link openReadConnection}. */
export interface ReadConnection {
  /** Absolute path of the database file. */
  path: string;
  db: DatabaseSync;
  /** `PRAGMA user_version` of the file. */
  schemaVersion: number;
}

/**
 * Opens `path` read-only. Never creates the file: a missing, foreign, empty, newer or damaged
 * database raises {@link DatabaseError} (exit code 4) and nothing is modified. A logger writing
 * to the database at the same time is fine (WAL). `readOnly: false` gives a connection for a
 * small administrative write beside a running logger (`edgelog replay` moving a cursor), vetted
 * the same way and without the writer lock.
 */
export function openReadConnection(
  path: string,
  options: { readOnly?: boolean; busyTimeoutMs?: number } = {},
): ReadConnection {
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
    db = new DatabaseSync(abs, {
      readOnly: options.readOnly ?? true,
      timeout: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
    });
    const identity = identify(db, abs);
    if (identity.kind === "empty") {
      throw new DatabaseError(
        `${abs} is not an edgelog database (an empty SQLite file: no logger has written to it); it was not modified`,
      );
    }
    // Databases from before compressed chunks (schema 3) read as if they had none.
    if (identity.version < 3) db.exec(EMPTY_CHUNKS);
    return { path: abs, db, schemaVersion: identity.version };
  } catch (e) {
    try {
      db?.close();
    } catch { /* the original error matters more */ }
    throw explain(e, abs, "read");
  }
}

/** An empty stand-in for the chunks table of schema 3, for reading older files without changing them. */
const EMPTY_CHUNKS = `CREATE TEMP TABLE chunks(id INTEGER PRIMARY KEY, sensor_id INTEGER, first_ts INTEGER,
  last_ts INTEGER, first_id INTEGER, last_id INTEGER, step_end INTEGER, count INTEGER, data BLOB)`;

/** Turns what SQLite threw while opening into a DatabaseError that says what to do. */
function explain(e: unknown, path: string, verb: "open" | "read" = "open"): Error {
  if (e instanceof DatabaseError || e instanceof LockedError) return e;
  const message = (e as Error).message;
  if (isCorruptionError(e)) {
    return new DatabaseError(
      `${path} is corrupt or not a SQLite database (${message}); it was not modified. ` +
        `Restore it from a backup or move it aside.`,
    );
  }
  if (verb === "open" && isTransientWriteError(e)) {
    return new DatabaseError(
      `cannot open ${path}: ${message}; is its disk full or failing? Free space or fix the disk, then start again.`,
    );
  }
  return new DatabaseError(`cannot ${verb} ${path}: ${message}`);
}

/**
 * What {@link inspectFile} found: no file, a file that looks whole, or a file shorter than its
 * header says while a `-wal` file lies beside it (see {@link checkShortFileIsWholeWithWal}).
 */
type Inspection = "absent" | "whole" | "short-with-wal";

const SQLITE_HEADER = "SQLite format 3\0";

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
    header = readHeader(path);
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
  // The header says whose file this is: only edgelog's own files count as damaged (and may be
  // moved aside); anything else is a configuration mistake and stays refused.
  const ours = view.getUint32(68) === APPLICATION_ID && view.getUint32(60) <= SCHEMA_VERSION;
  const Damage = (message: string) => ours ? new DamagedDatabaseError(path, message, true) : new DatabaseError(message);
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) {
    throw Damage(
      `${path} is corrupt (invalid page size ${rawPageSize}); it was not modified. Restore it from a backup.`,
    );
  }
  const shorterThanHeader = headerValid && pageCount > 0 && info.size < pageCount * pageSize;
  // A checkpoint copies WAL frames in page order: page 1, with the new page count, lands before
  // the file grows. After a crash mid-checkpoint the WAL still holds the rest; SQLite decides.
  if (info.size % pageSize === 0 && shorterThanHeader && walHasContent(path)) return "short-with-wal";
  if (info.size % pageSize !== 0 || shorterThanHeader) {
    throw Damage(
      `${path} is truncated (${info.size} bytes, expected ${
        headerValid ? pageCount * pageSize : "a multiple of " + pageSize
      }); it was not modified. Restore it from a backup.`,
    );
  }
  return "whole";
}

/** True when the header of `path` carries edgelog's application_id and a schema this build knows. */
function headerSaysOurs(path: string): boolean {
  try {
    const header = readHeader(path);
    if (header.length < 100) return false;
    const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
    return view.getUint32(68) === APPLICATION_ID && view.getUint32(60) <= SCHEMA_VERSION;
  } catch {
    return false;
  }
}

/** The first 100 bytes of the file (fewer when it is shorter): SQLite's database header. */
function readHeader(path: string): Uint8Array {
  const file = Deno.openSync(path, { read: true });
  try {
    const header = new Uint8Array(100);
    let got = 0;
    while (got < 100) {
      const n = file.readSync(header.subarray(got));
      if (n === null) break;
      got += n;
    }
    return header.subarray(0, got);
  } finally {
    file.close();
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
    throw new DamagedDatabaseError(
      path,
      `${path} is truncated and its WAL does not hold the missing pages (${
        result.slice(0, 200)
      }); it was not modified. Restore it from a backup.`,
    );
  }
}

/**
 * Checks an existing file on a read-only connection before the writer opens it: closing a
 * read-write connection checkpoints and deletes the WAL, which would modify a file we refuse
 * (another application's database, a truncated one).
 */
function vetExistingFile(path: string, inspected: Inspection, busyTimeoutMs: number, check: boolean): void {
  const vet = () => {
    const reader = new DatabaseSync(path, { readOnly: true, timeout: busyTimeoutMs });
    try {
      if (inspected === "short-with-wal") checkShortFileIsWholeWithWal(reader, path);
      const identity = identify(reader, path);
      if (check && identity.kind === "edgelog") {
        const rows = reader.prepare("PRAGMA quick_check(20)").all() as { quick_check: string }[];
        const result = rows.map((r) => r.quick_check).join("; ").replace(/\s*\n\s*/g, "; ");
        if (result !== "ok") {
          throw new DamagedDatabaseError(
            path,
            `${path} is damaged (quick_check: ${result.slice(0, 300)})`,
          );
        }
      }
    } finally {
      reader.close();
    }
  };
  try {
    try {
      vet();
    } catch (e) {
      if (isCorruptionError(e) && headerSaysOurs(path)) {
        throw new DamagedDatabaseError(path, `${path} is damaged (${(e as Error).message})`);
      }
      throw e;
    }
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

/** Opens `path` read-write and reads it once: SQLite rolls back a hot journal on the first read. */
function rollBackHotJournal(path: string, busyTimeoutMs: number): void {
  const db = new DatabaseSync(path, { timeout: busyTimeoutMs });
  try {
    db.prepare("PRAGMA user_version").get();
  } finally {
    db.close();
  }
}
