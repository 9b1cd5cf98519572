/**
 * The outbox is the readings table itself: forwarders read committed rows by id on their own
 * read-only connection (WAL readers never block the writer), and the lag of every cursor can be
 * computed from any connection.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { OutboxRow } from "./forwarder.ts";

/** How far one forwarder is behind the log. */
export interface ForwardLag {
  /** The forwarder's name (its cursor key). */
  name: string;
  /** Last acknowledged reading id. */
  cursor: number;
  /** Readings committed but not yet acknowledged upstream. */
  rows: number;
  /** Age of the oldest unacknowledged reading (now − its ts), seconds; 0 when caught up. */
  seconds: number;
}

/** A read-only connection that pages through committed readings by id. */
export class OutboxReader {
  readonly #db: DatabaseSync;
  readonly #page: StatementSync;

  /** Opens a read-only connection to the database at `path` (which the writer already created). */
  constructor(path: string) {
    this.#db = new DatabaseSync(path, { readOnly: true, timeout: 5000 });
    this.#page = this.#db.prepare(
      `SELECT r.id AS id, s.name AS sensor, s.unit AS unit, r.ts AS ts, r.value AS value
       FROM readings r JOIN sensors s ON s.id = r.sensor_id
       WHERE r.id > ? ORDER BY r.id LIMIT ?`,
    );
  }

  /** Up to `limit` committed readings with id greater than `afterId`, ascending. */
  after(afterId: number, limit: number): OutboxRow[] {
    return this.#page.all(afterId, limit) as unknown as OutboxRow[];
  }

  /** The lag of cursor `name` given it stands at `cursor`. */
  lag(name: string, cursor: number, nowMs: number = Date.now()): ForwardLag {
    return lagOf(this.#db, name, cursor, nowMs);
  }

  /** Closes the connection. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}

function lagOf(db: DatabaseSync, name: string, cursor: number, nowMs: number): ForwardLag {
  const bounds = db.prepare("SELECT min(id) AS lo, max(id) AS hi FROM readings").get() as {
    lo: number | null;
    hi: number | null;
  };
  if (bounds.hi === null || bounds.hi <= cursor) return { name, cursor, rows: 0, seconds: 0 };
  // Ids are dense (INTEGER PRIMARY KEY, rows only ever deleted from the old end), so the
  // difference is exact without counting; rows deleted by retention before sending are excluded.
  const rows = bounds.hi - Math.max(cursor, (bounds.lo ?? 1) - 1);
  const oldest = db.prepare("SELECT ts FROM readings WHERE id > ? ORDER BY id LIMIT 1").get(cursor) as
    | { ts: number }
    | undefined;
  const seconds = oldest ? Math.max(0, (nowMs - oldest.ts) / 1000) : 0;
  return { name, cursor, rows, seconds };
}

/**
 * The lag of every forwarder that has a cursor in the database behind `db` (any connection,
 * read-only is fine). For `edgelog stats` and `/metrics`.
 *
 * @example
 * ```ts
 * const db = new DatabaseSync("./data/edgelog.db", { readOnly: true });
 * for (const l of forwardLag(db)) console.log(l.name, l.rows, l.seconds);
 * ```
 */
export function forwardLag(db: DatabaseSync, nowMs: number = Date.now()): ForwardLag[] {
  const cursors = db.prepare("SELECT name, last_id FROM forward_cursors ORDER BY name").all() as {
    name: string;
    last_id: number;
  }[];
  return cursors.map((c) => lagOf(db, c.name, Number(c.last_id), nowMs));
}
