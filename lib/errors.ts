/**
 * Errors with meaning: each maps to one exit code in `main.ts`, and each message says what
 * happened, names the file or the setting, and says what to do.
 *
 * @module
 */

/** Raised for invalid usage or configuration; `main.ts` maps it to exit code 2. */
export class ConfigError extends Error {
  /** One human-readable line per invalid field. */
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/**
 * A value that does not parse, with the reason only: the caller knows where the value came from
 * (a flag, the environment, a config file key) and turns it into a {@link ConfigError} line.
 */
export class InvalidValue extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidValue";
  }
}

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

/**
 * edgelog's own database is damaged (truncated, corrupt pages, a failed `quick_check`): a
 * {@link DatabaseError} that `--on-damage quarantine` answers by moving the file aside and
 * starting a fresh one. `structural`: found by edgelog's own checks of the file's size and
 * header rather than by SQLite.
 */
export class DamagedDatabaseError extends DatabaseError {
  readonly path: string;
  readonly structural: boolean;
  constructor(path: string, message: string, structural = false) {
    super(message);
    this.name = "DamagedDatabaseError";
    this.path = path;
    this.structural = structural;
  }
}

/** The HTTP listener could not bind (address in use, no permission); exit code 1. */
export class ListenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ListenError";
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
