/**
 * What a SQLite error means for edgelog: a failure that may go away (disk full, I/O error, busy)
 * or a damaged file. Deno's `node:sqlite` errors carry `errcode` only for prepared statements,
 * so the message text is read too.
 *
 * @module
 */

/** SQLite primary result codes that mean "the storage failed now, may work later". */
const TRANSIENT_CODES = new Set([5, 6, 10, 13, 14, 15]); // BUSY, LOCKED, IOERR, FULL, CANTOPEN, PROTOCOL
/** Primary result codes that mean the file is damaged. */
const CORRUPT_CODES = new Set([11, 26]); // CORRUPT, NOTADB

/**
 * SQLite's own texts for the primary result codes we act on (`sqlite3_errstr`). Deno's
 * `node:sqlite` errors from `exec` carry only `code: "ERR_SQLITE_ERROR"` and the message.
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

/** `SQLITE_READONLY_ROLLBACK`: a read-only connection found a hot journal it may not roll back. */
export const SQLITE_READONLY_ROLLBACK = 776;

/**
 * The SQLite primary result code of an error from `node:sqlite`, or undefined.
 *
 * @example
 * ```ts
 * sqliteCode(new Error("database or disk is full")); // 13
 * ```
 */
export function sqliteCode(e: unknown): number | undefined {
  const code = (e as { errcode?: unknown })?.errcode;
  if (typeof code === "number") return code & 0xff;
  const message = e instanceof Error ? e.message : undefined;
  if (message === undefined) return undefined;
  return MESSAGE_CODES.find(([pattern]) => pattern.test(message))?.[1];
}

/**
 * True when a write failed for a reason that may go away (disk full, I/O error, busy).
 *
 * @example
 * ```ts
 * isTransientWriteError(new Error("disk I/O error")); // true
 * ```
 */
export function isTransientWriteError(e: unknown): boolean {
  const code = sqliteCode(e);
  return code !== undefined && TRANSIENT_CODES.has(code);
}

/**
 * True when SQLite says the database file is damaged or not a database.
 *
 * @example
 * ```ts
 * isCorruptionError(new Error("database disk image is malformed")); // true
 * ```
 */
export function isCorruptionError(e: unknown): boolean {
  const code = sqliteCode(e);
  return code !== undefined && CORRUPT_CODES.has(code);
}
