/**
 * The outbox is the readings table itself: forwarders read committed rows by id on their own
 * read-only connection (WAL readers never block the writer), and the lag of every cursor can be
 * computed from any connection.
 *
 * @module
 */

import { Connection } from "./_connection.ts";
import { LogPager, maxReadingId, minReadingId } from "./chunks.ts";
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
  /**
   * Of `rows`, those held back until their provisional timestamps are re-stamped (the wall clock
   * was not trusted); set by a running forwarder only.
   */
  held?: number;
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
  readonly #pager: LogPager;
  #sensors = new Map<number, { name: string; unit: string | null }>();

  private constructor(conn: Connection) {
    this.#conn = conn;
    this.#pager = new LogPager(conn);
  }

  /** Opens a read-only connection to the database at `path` (which the writer already created). */
  static open(path: string): OutboxReader {
    return new OutboxReader(new Connection(openReadConnection(path).db));
  }

  /** Up to `limit` committed readings with id greater than `afterId`, ascending (hot or compacted). */
  after(afterId: number, limit: number): StoredReading[] {
    return this.#pager.page(afterId, limit).map(([id, sensorId, ts, value]) => {
      const sensor = this.#sensor(sensorId);
      return { id, sensor: sensor.name, unit: sensor.unit, ts, value };
    });
  }

  #sensor(id: number): { name: string; unit: string | null } {
    let s = this.#sensors.get(id);
    if (s === undefined) {
      const rows = this.#conn.prepare("SELECT id, name, unit FROM sensors").all() as {
        id: number;
        name: string;
        unit: string | null;
      }[];
      this.#sensors = new Map(rows.map((r) => [Number(r.id), { name: r.name, unit: r.unit }]));
      s = this.#sensors.get(id) ?? { name: `#${id}`, unit: null };
    }
    return s;
  }

  /** The lag of cursor `name` given it stands at `cursor`. */
  lag(name: string, cursor: number, nowMs: number = Date.now()): ForwardLag {
    return lagOf(this.#conn, this.#pager, name, cursor, nowMs);
  }

  /** Closes the connection. */
  close(): void {
    this.#conn.close();
  }
}

/** The lag of cursor `name` at `cursor`, computed on `conn` (any connection). */
function lagOf(conn: Connection, pager: LogPager, name: string, cursor: number, nowMs: number): ForwardLag {
  return conn.read(() => {
    const hi = maxReadingId(conn);
    const lo = minReadingId(conn);
    if (lo === undefined || hi <= cursor) return { name, cursor, rows: 0, seconds: 0 };
    // Ids are dense (the writer gives them in order; rows only ever leave from the old end), so
    // the difference is exact without counting; rows deleted by retention before sending are
    // excluded.
    const rows = hi - Math.max(cursor, lo - 1);
    const oldest = pager.page(cursor, 1)[0];
    const seconds = oldest ? Math.max(0, (nowMs - oldest[2]) / 1000) : 0;
    return { name, cursor, rows, seconds };
  });
}

/** The lag of every forwarder that has a cursor in the database behind `conn`. */
export function forwardLags(conn: Connection, pager: LogPager, nowMs: number): ForwardLag[] {
  const cursors = conn.prepare("SELECT name, last_id FROM forward_cursors ORDER BY name").all() as {
    name: string;
    last_id: number;
  }[];
  return cursors.map((c) => lagOf(conn, pager, c.name, Number(c.last_id), nowMs));
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
