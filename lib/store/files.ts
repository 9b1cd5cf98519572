/**
 * The files of one database on disk: the `.db` itself, its `-wal`, `-journal` and `.lock`
 * neighbours, and how they are created (owner-only) and measured.
 *
 * @module
 */

import { DatabaseError } from "../errors.ts";

/** Path of the WAL file beside the database at `dbPath`. */
export function walPath(dbPath: string): string {
  return `${dbPath}-wal`;
}

/** Path of the writer lock beside the database at `dbPath`. */
export function lockPath(dbPath: string): string {
  return `${dbPath}.lock`;
}

/**
 * Size of a file in bytes, 0 when it does not exist.
 *
 * @example
 * ```ts
 * fileSize(walPath("./data/edgelog.db")); // 0 after a graceful stop
 * ```
 */
export function fileSize(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}

/** True when the WAL beside `dbPath` holds more than its header (frames to recover). */
export function walHasContent(dbPath: string): boolean {
  return fileSize(walPath(dbPath)) > 32;
}

/** True when a non-empty `-journal` lies beside `dbPath` (it may be hot: SQLite decides). */
export function hasRollbackJournal(dbPath: string): boolean {
  return fileSize(`${dbPath}-journal`) > 0;
}

/** Creates `dir` (and its parents) owner-only; DatabaseError when it cannot. */
export function ensureDirectory(dir: string): void {
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new DatabaseError(`cannot create directory ${dir}: ${(e as Error).message}`);
  }
}

/** Creates an empty owner-only file at `path` unless one exists; DatabaseError when it cannot. */
export function createPrivateFile(path: string): void {
  try {
    Deno.openSync(path, { write: true, createNew: true, mode: 0o600 }).close();
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return;
    throw new DatabaseError(`cannot create ${path}: ${(e as Error).message}`);
  }
}
