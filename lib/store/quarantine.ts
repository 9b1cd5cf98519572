/**
 * Damaged databases: telling damage from a failing read, and moving a damaged file aside so that
 * logging goes on in a fresh one. A quarantined file is renamed, with its `-wal` and `-shm`, next
 * to itself (`edgelog.db.damaged-20261127T112733Z`, `…-wal`, `…-shm`, so SQLite and
 * `edgelog salvage` open it with its WAL); it is never deleted and never written to.
 *
 * Why the extra care: a card failing reads with EIO makes SQLite report "database disk image is
 * malformed" for a healthy file (`SQLITE_IOERR_CORRUPTFS` is mapped to CORRUPT). A healthy file
 * must never be moved aside for that, so {@link diagnose} reads every byte itself first and asks
 * SQLite twice, on fresh connections.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { basename, dirname, join } from "node:path";
import { isCorruptionError } from "./sqlite_errors.ts";

/** What {@link diagnose} concluded about a database file. */
export type Diagnosis =
  /** Every byte reads, and SQLite finds the file damaged, twice: safe to move aside. */
  | { kind: "damaged"; detail: string }
  /** Reading the file fails (EIO, …): the storage is failing, the file may be fine. */
  | { kind: "unreadable"; detail: string }
  /** SQLite finds nothing wrong now. */
  | { kind: "sound" };

/** A database moved aside, as {@link quarantine} did it. */
export interface Quarantined {
  /** Where the database was. */
  from: string;
  /** Where it is now (its `-wal` and `-shm` beside it, if it had them). */
  to: string;
  /** Why (the damage SQLite or the vetting reported). */
  reason: string;
  /** When, unix ms. */
  at: number;
}

const READ_CHUNK = 1 << 20;

/** Reads every byte of `path` (missing is fine); the error of the first read that fails, if any. */
function readFailure(path: string): string | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (e) {
    return e instanceof Deno.errors.NotFound ? undefined : `${path}: ${(e as Error).message}`;
  }
  try {
    const buffer = new Uint8Array(READ_CHUNK);
    while (file.readSync(buffer) !== null) { /* only whether every read succeeds matters */ }
    return undefined;
  } catch (e) {
    return `${path}: ${(e as Error).message}`;
  } finally {
    file.close();
  }
}

/**
 * Reads every byte of the database at `path` and its WAL; the first read error, or undefined
 * when everything reads.
 */
export function readError(path: string): string | undefined {
  return readFailure(path) ?? readFailure(`${path}-wal`);
}

/** `PRAGMA quick_check` on a fresh read-only connection: "ok", the problems, or the error. */
function quickCheck(path: string): { ok: boolean; detail: string; corrupt: boolean } {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path, { readOnly: true, timeout: 5000 });
    const rows = db.prepare("PRAGMA quick_check(20)").all() as { quick_check: string }[];
    const detail = rows.map((r) => r.quick_check).join("; ").replace(/\s*\n\s*/g, "; ").slice(0, 300);
    return { ok: detail === "ok", detail, corrupt: detail !== "ok" };
  } catch (e) {
    return { ok: false, detail: (e as Error).message, corrupt: isCorruptionError(e) };
  } finally {
    try {
      db?.close();
    } catch { /* read-only: nothing to lose */ }
  }
}

/**
 * Decides whether the database at `path` is damaged, without writing to it. Damage must show
 * twice while every byte of the file and its WAL reads without error before and after; any read
 * error means the storage fails ("unreadable"), and a clean second look means it is "sound".
 *
 * @example
 * ```ts
 * const d = diagnose("/data/edgelog.db");
 * if (d.kind === "damaged") quarantine("/data/edgelog.db", d.detail);
 * ```
 */
export function diagnose(path: string): Diagnosis {
  for (let look = 0; look < 2; look++) {
    const failed = readError(path);
    if (failed !== undefined) return { kind: "unreadable", detail: failed };
    const check = quickCheck(path);
    if (check.ok) return { kind: "sound" };
    const failedAfter = readError(path);
    if (failedAfter !== undefined) return { kind: "unreadable", detail: failedAfter };
    if (!check.corrupt) return { kind: "unreadable", detail: check.detail };
    if (look === 1) return { kind: "damaged", detail: check.detail };
  }
  return { kind: "sound" }; // not reached
}

/** `20261127T112733Z`: a timestamp that sorts and is safe in a file name. */
function stamp(at: number): string {
  return new Date(at).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}

/**
 * Renames the database at `path` with its `-wal`, `-shm` and `-journal` to
 * `<path>.damaged-<UTC time>` (`-2`, `-3`, … appended if that exists), never overwriting or
 * deleting anything. The caller holds the writer lock and has no read-write connection open on
 * the file (closing one would checkpoint into it).
 */
export function quarantine(path: string, reason: string, at: number = Date.now()): Quarantined {
  let to = `${path}.damaged-${stamp(at)}`;
  for (let n = 2; exists(to) || exists(`${to}-wal`); n++) to = `${path}.damaged-${stamp(at)}-${n}`;
  // The WAL first: a database renamed without its WAL would lose what the WAL holds if anything
  // opened it in between; a WAL without its database is ignored by SQLite.
  for (const suffix of ["-wal", "-shm", "-journal", ""]) {
    try {
      Deno.renameSync(path + suffix, to + suffix);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return { from: path, to, reason, at };
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The quarantined databases beside `path` (`<path>.damaged-*`, not their -wal/-shm), oldest first.
 *
 * @example
 * ```ts
 * quarantinedBeside("/data/edgelog.db"); // ["/data/edgelog.db.damaged-20261127T112733Z"]
 * ```
 */
export function quarantinedBeside(path: string): string[] {
  const prefix = `${basename(path)}.damaged-`;
  const found: string[] = [];
  try {
    for (const entry of Deno.readDirSync(dirname(path))) {
      if (entry.isFile && entry.name.startsWith(prefix) && !/-(wal|shm|journal)$/.test(entry.name)) {
        found.push(join(dirname(path), entry.name));
      }
    }
  } catch { /* no directory: nothing quarantined */ }
  return found.sort();
}
