/**
 * One SQLite connection with what every user of it in `lib/store/` needs: cached statements,
 * a write transaction that rolls back on error, pragmas and page usage. Private to the store.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";

/** Pages of the database file: how big it is and how much of it is in use. */
export interface DbUsage {
  pageSize: number;
  pageCount: number;
  freelistCount: number;
  /** Bytes of pages holding data: (pageCount - freelistCount) * pageSize. */
  usedBytes: number;
}

/** A connection with cached prepared statements. */
export class Connection {
  readonly db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  // BEGIN/COMMIT as prepared statements: errors from `db.exec` carry no `errcode` in Deno's
  // node:sqlite, so a full disk at COMMIT would not be recognised as transient.
  #begin: StatementSync | undefined;
  #commit: StatementSync | undefined;
  #beginRead: StatementSync | undefined;

  constructor(db: DatabaseSync) {
    this.db = db;
  }

  /** The statement for `sql`, prepared once. */
  prepare(sql: string): StatementSync {
    let st = this.#statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.#statements.set(sql, st);
    }
    return st;
  }

  /**
   * Runs `fn` in one IMMEDIATE transaction; on error calls `onRollback`, rolls back and rethrows.
   * BEGIN and COMMIT run with `get()`, which allocates no result object (see the writer).
   */
  write<T>(fn: () => T, onRollback?: () => void): T {
    this.#begin ??= this.db.prepare("BEGIN IMMEDIATE");
    this.#commit ??= this.db.prepare("COMMIT");
    this.#begin.get();
    try {
      const result = fn();
      this.#commit.get();
      return result;
    } catch (e) {
      onRollback?.();
      if (this.db.isTransaction) {
        try {
          this.db.exec("ROLLBACK");
        } catch { /* SQLite rolls back by itself on I/O errors; the original error matters more */ }
      }
      throw e;
    }
  }

  /**
   * Runs `fn` in one read transaction: every statement in it sees the same snapshot (a reader's
   * view cannot change half-way through, e.g. while the writer compacts). Keep `fn` short.
   */
  read<T>(fn: () => T): T {
    if (this.db.isTransaction) return fn();
    this.#beginRead ??= this.db.prepare("BEGIN");
    this.#beginRead.get();
    try {
      return fn();
    } finally {
      if (this.db.isTransaction) this.db.exec("COMMIT");
    }
  }

  /**
   * Runs `fn`, whole write transactions, with `synchronous = NORMAL`, then restores the setting.
   * Only for work that rearranges what is already committed (compaction): in WAL mode such a commit
   * is not fsynced, so a power cut may roll it back, never tear it (the WAL's checksum chain ends
   * before its frames), and the next synced commit or checkpoint makes it durable with the rest.
   */
  unsynced<T>(fn: () => T): T {
    const before = Number(this.pragma("synchronous"));
    if (before <= 1) return fn(); // already NORMAL (durability=normal) or OFF
    this.db.exec("PRAGMA synchronous = NORMAL");
    try {
      return fn();
    } finally {
      this.db.exec(`PRAGMA synchronous = ${before}`);
    }
  }

  /** The single value `PRAGMA name` returns (undefined when it returns no row). */
  pragma(name: string): unknown {
    if (!/^[a-z_]+$/.test(name)) throw new Error(`invalid pragma name ${name}`);
    const row = this.prepare(`PRAGMA ${name}`).get() as Record<string, unknown> | undefined;
    return row === undefined ? undefined : Object.values(row)[0];
  }

  /** How many pages the database file has and how many are in use (cheap: header fields). */
  usage(): DbUsage {
    const pageSize = Number(this.pragma("page_size"));
    const pageCount = Number(this.pragma("page_count"));
    const freelistCount = Number(this.pragma("freelist_count"));
    return { pageSize, pageCount, freelistCount, usedBytes: (pageCount - freelistCount) * pageSize };
  }

  /** Closes the connection; idempotent. */
  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
