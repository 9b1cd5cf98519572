/**
 * The outbox is the readings table itself: forwarders read committed rows by id on their own
 * read-only connection (WAL readers never block the writer), and the lag of every cursor can be
 * computed from any connection.
 *
 * @module
 */

import type { StatementSync } from "node:sqlite";
import { Connection } from "./_connection.ts";
import { openReadConnection } from "./open.ts";

/** One committed reading with its position in the log (exports and forwarders page by it). */
export interface StoredReading {
  /** `readings.id`: the position in the log; a forwarder's cursor is the last acknowledged id. */
  id: number;
  sensor: string;
  /** Unix milliseconds. */
  ts: number;
  value: number;
  unit: string | null;
}

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

/**
 * A read-only connection that pages through committed readings by id.
 *
 * @example
 * ```ts
 * const outbox = OutboxReader.open("./data/edgelog.db");
 * const rows = outbox.after(0, 1000); // the first 1000 readings, ascending ids
 * outbox.close();
 * ```
 */
export class OutboxReader {
  readonly #conn: Connection;
  readonly #page: StatementSync;

  private constructor(conn: Connection) {
    this.#conn = conn;
    this.#page = conn.prepare(
      `SELECT r.id AS id, s.name AS sensor, s.unit AS unit, r.ts AS ts, r.value AS value
       FROM readings r JOIN sensors s ON s.id = r.sensor_id
       WHERE r.id > ? ORDER BY r.id LIMIT ?`,
    );
  }

  /** Opens a read-only connection to the database at `path` (which the writer already created). */
  static open(path: string): OutboxReader {
    return new OutboxReader(new Connection(openReadConnection(path).db));
  }

  /** Up to `limit` committed readings with id greater than `afterId`, ascending. */
  after(afterId: number, limit: number): StoredReading[] {
    return this.#page.all(afterId, limit) as unknown as StoredReading[];
  }

  /** The lag of cursor `name` given it stands at `cursor`. */
  lag(name: string, cursor: number, nowMs: number = Date.now()): ForwardLag {
    return lagOf(this.#conn, name, cursor, nowMs);
  }

  /** Closes the connection. */
  close(): void {
    this.#conn.close();
  }
}

/** The lag of cursor `name` at `cursor`, computed on `conn` (any connection). */
export function lagOf(conn: Connection, name: string, cursor: number, nowMs: number): ForwardLag {
  const bounds = conn.prepare("SELECT min(id) AS lo, max(id) AS hi FROM readings").get() as {
    lo: number | null;
    hi: number | null;
  };
  if (bounds.hi === null || bounds.hi <= cursor) return { name, cursor, rows: 0, seconds: 0 };
  // Ids are dense (INTEGER PRIMARY KEY, rows only ever deleted from the old end), so the
  // difference is exact without counting; rows deleted by retention before sending are excluded.
  const rows = bounds.hi - Math.max(cursor, (bounds.lo ?? 1) - 1);
  const oldest = conn.prepare("SELECT ts FROM readings WHERE id > ? ORDER BY id LIMIT 1").get(cursor) as
    | { ts: number }
    | undefined;
  const seconds = oldest ? Math.max(0, (nowMs - oldest.ts) / 1000) : 0;
  return { name, cursor, rows, seconds };
}

/** The lag of every forwarder that has a cursor in the database behind `conn`. */
export function forwardLags(conn: Connection, nowMs: number): ForwardLag[] {
  const cursors = conn.prepare("SELECT name, last_id FROM forward_cursors ORDER BY name").all() as {
    name: string;
    last_id: number;
  }[];
  return cursors.map((c) => lagOf(conn, c.name, Number(c.last_id), nowMs));
}

/**
 * Moves forwarder `name`'s cursor to `lastId` (its next batch starts after it) in the database
 * at `path`, beside a running logger if there is one: one small transaction on a connection of
 * its own. Returns the cursor's previous position, or undefined when no such forwarder ran here.
 *
 * @example
 * ```ts
 * rewindCursor("./data/edgelog.db", "victoria", 0); // send everything again
 * ```
 */
export function rewindCursor(path: string, name: string, lastId: number): number | undefined {
  const conn = new Connection(openReadConnection(path, { readOnly: false }).db);
  try {
    return conn.write(() => {
      const row = conn.prepare("SELECT last_id FROM forward_cursors WHERE name = ?").get(name) as
        | { last_id: number }
        | undefined;
      if (row === undefined) return undefined;
      conn.prepare("UPDATE forward_cursors SET last_id = ? WHERE name = ?").run(lastId, name);
      return Number(row.last_id);
    });
  } finally {
    conn.close();
  }
}
