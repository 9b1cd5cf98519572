/**
 * Errors with meaning: each maps to one exit code in `main.ts`, and each message says what
 * happened, names the file, and says what to do.
 *
 * @module
 */

/** Another edgelog already writes to this database (exit code 3). */
export class LockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LockedError";
  }
}

/**
 * The database file cannot be used as it is: unreadable, not writable, not SQLite, truncated,
 * corrupt, another application's, or from a newer edgelog (exit code 4). The file is never
 * modified when this is raised.
 */
export class DatabaseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DatabaseError";
  }
}

/** Exit codes, as documented in the README and `--help`. */
export const ExitCode = Object.freeze({
  ok: 0,
  failure: 1,
  usage: 2,
  locked: 3,
  database: 4,
});
