/**
 * The writer lock: an exclusive advisory lock (`flock`) on `<db>.lock`, a file holding the
 * owner's pid followed by a newline. This module is the only one that writes or reads that
 * format. The kernel releases the lock when the process dies, so a SIGKILLed logger never
 * leaves a stale lock.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { DatabaseError, LockedError } from "../errors.ts";
import { lockPath } from "./files.ts";

/**
 * The lock held by the one writer of a database.
 *
 * @example
 * ```ts
 * const lock = WriterLock.acquire("/data/edgelog.db"); // LockedError when another edgelog holds it
 * lock.release();
 * ```
 */
export class WriterLock {
  readonly #file: Deno.FsFile;
  private constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  /** Takes the lock of the database at `dbPath` (absolute); throws LockedError when it is held. */
  static acquire(dbPath: string): WriterLock {
    const path = lockPath(dbPath);
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path, { read: true, write: true, create: true, mode: 0o600 });
    } catch (e) {
      throw new DatabaseError(
        `cannot create the lock file ${path}: ${(e as Error).message}; the directory ${
          dirname(dbPath)
        } must be writable (SQLite also creates -wal and -shm files there)`,
      );
    }
    if (!file.tryLockSync(true)) {
      const owner = readPid(file);
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

  /** Empties the pid and releases the lock; idempotent. */
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

/**
 * The pid of the logger holding the writer lock on `dbPath`, 0 when it is held but the pid is
 * unreadable, undefined when nobody holds it. Takes a shared lock for an instant and releases
 * it; never creates the lock file.
 *
 * @example
 * ```ts
 * writerPid("./data/edgelog.db"); // e.g. 4242 while a logger runs, undefined otherwise
 * ```
 */
export function writerPid(dbPath: string): number | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(lockPath(resolve(dbPath)), { read: true });
  } catch {
    return undefined;
  }
  try {
    if (file.tryLockSync(false)) {
      file.unlockSync();
      return undefined;
    }
    return readPid(file);
  } finally {
    file.close();
  }
}

/** The pid written in an open lock file, 0 when there is none. */
function readPid(file: Deno.FsFile): number {
  const buf = new Uint8Array(32);
  const n = file.readSync(buf) ?? 0;
  const pid = Number(new TextDecoder().decode(buf.subarray(0, n)).trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : 0;
}
