/**
 * The cold part of the log: readings leave the hot, append-only `readings` table for per-sensor
 * compressed chunks (`chunks`, one BLOB each, see `chunk_codec.ts`) once they are older than
 * `--compact-after`, or, in the logger, as soon as the hot table holds a full step: then the
 * whole table moves and is emptied in one statement, which costs far fewer writes than deleting
 * a stretch of it ({@link CompactionPlan.whole}).
 *
 * A compaction step moves every hot reading with an id up to `step_end` in one transaction, so a
 * reading is in exactly one place at every moment, and the chunks of one step hold one contiguous
 * stretch of the log: paging by id (forwarders, exports) reads the steps in order, then the hot
 * table. Per-sensor time ranges (queries, the read API) merge the sensor's chunks with its hot
 * readings in (ts, id) order (`_merge.ts`).
 *
 * @module
 */

import type { StatementSync } from "node:sqlite";
import type { Connection } from "./_connection.ts";
import type { CompactionPlan } from "./_compaction_plan.ts";
import { decodeChunk, encodeChunk } from "./chunk_codec.ts";
import { type Column, columnIn, hotMirror, releaseColumns } from "./_hot_mirror.ts";

/** One reading of the log: `[id, sensorId, ts, value]`. */
export type LogRow = [id: number, sensorId: number, ts: number, value: number];

/** Makes `st` return rows as arrays (faster; `setReturnArrays` is missing from Deno's types). */
export function returnArrays(st: StatementSync): StatementSync {
  (st as unknown as { setReturnArrays(enabled: boolean): void }).setReturnArrays(true);
  return st;
}

const NO_MIN = Number.MIN_SAFE_INTEGER;
const NO_MAX = Number.MAX_SAFE_INTEGER;

/** The largest reading id in the database, hot or compacted (0 when there is none). */
export function maxReadingId(conn: Connection): number {
  const hot = conn.prepare("SELECT max(id) AS m FROM readings").get() as { m: number | null };
  const cold = conn.prepare("SELECT max(step_end) AS m FROM chunks").get() as { m: number | null };
  return Math.max(Number(hot.m ?? 0), Number(cold.m ?? 0));
}

/** The smallest reading id still stored, hot or compacted; undefined when there is none. */
export function minReadingId(conn: Connection): number | undefined {
  const cold = conn.prepare(
    "SELECT min(first_id) AS m FROM chunks WHERE step_end = (SELECT min(step_end) FROM chunks)",
  ).get() as { m: number | null };
  if (cold.m !== null) return Number(cold.m);
  const hot = conn.prepare("SELECT min(id) AS m FROM readings").get() as { m: number | null };
  return hot.m === null ? undefined : Number(hot.m);
}

/** Rows a compaction step reads from the hot table at a time (bounds the rows held as JS arrays). */
// Small: a slice's rows are JS arrays that must die young (the logger runs with a 1 MB semi-space;
// 16,384 rows a slice were promoted and cost about 12 MB of RSS at the maximum rate).
const READ_SLICE = 2048;

/**
 * Moves the hot readings with `lo <= id <= hi` (`lo` the oldest hot id) into one chunk per sensor,
 * each sorted by (ts, id), in one transaction; returns the number of readings moved. A step that
 * empties the table takes them from the writer's {@link HotMirror} when it vouches for them;
 * otherwise they are read in slices into typed columns (24 bytes a reading), not held as one JS
 * array per row.
 */
export function compact(conn: Connection, plan: CompactionPlan): number {
  const mirror = hotMirror(conn);
  const bySensor = new Map<number, Column>();
  let fromMirror = false;
  try {
    const { moved, emptied } = conn.write(() => {
      const copy = mirror.covering(conn, plan);
      fromMirror = copy !== undefined;
      return moveStretch(conn, plan, copy ?? readStretch(conn, plan, bySensor), fromMirror ? mirror.rows : undefined);
    });
    if (fromMirror) mirror.unreadTotal += moved;
    if (emptied) mirror.emptied(plan.hi + 1);
    else mirror.drop();
    return moved;
  } catch (e) {
    mirror.drop();
    // The table did not hold exactly the copy (rolled back): the same step, reading it back.
    if (e instanceof CopyMismatch) return compact(conn, plan);
    throw e;
  } finally {
    releaseColumns(bySensor);
  }
}

/** A step from the writer's copy found other readings in the table than the copy's. */
class CopyMismatch extends Error {}

/** Reads the hot readings of `plan` into `bySensor`, one column per sensor, in id order. */
function readStretch(conn: Connection, plan: CompactionPlan, bySensor: Map<number, Column>): Map<number, Column> {
  const select = returnArrays(
    conn.prepare("SELECT id, sensor_id, ts, value FROM readings WHERE id >= ? AND id <= ? ORDER BY id"),
  );
  for (let from = plan.lo; from <= plan.hi; from += READ_SLICE) {
    const rows = select.all(from, Math.min(plan.hi, from + READ_SLICE - 1)) as unknown as LogRow[];
    for (let i = 0; i < rows.length; i++) {
      const [id, s, t, v] = rows[i];
      columnIn(bySensor, s).push(id, t, v);
    }
  }
  return bySensor;
}

/**
 * Writes one chunk per sensor of `bySensor` (sorted in place) and deletes the stretch from the hot
 * table, in the caller's transaction. `emptied`: the step emptied the whole table. With
 * `expectedRows` (the writer's copy), the step must empty the table and remove exactly that many.
 */
function moveStretch(
  conn: Connection,
  plan: CompactionPlan,
  bySensor: Map<number, Column>,
  expectedRows?: number,
): { moved: number; emptied: boolean } {
  const insert = conn.prepare(
    `INSERT INTO chunks(sensor_id, step_end, first_ts, last_ts, first_id, last_id, count, data)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  let moved = 0;
  for (const [sensorId, column] of bySensor) {
    column.sort();
    moved += column.length;
    insert.run(sensorId, plan.hi, ...columnsOf(column.ids, column.ts, column.values, column.length));
  }
  // The whole table only when it still ends at `hi` (the plan was made outside this transaction).
  const newest = plan.whole
    ? (conn.prepare("SELECT max(id) AS m FROM readings").get() as { m: number | null }).m
    : null;
  if (newest !== null && Number(newest) === plan.hi) {
    const { changes } = conn.prepare("DELETE FROM readings").run();
    if (expectedRows !== undefined && Number(changes) !== expectedRows) throw new CopyMismatch();
    return { moved, emptied: true };
  }
  if (expectedRows !== undefined) throw new CopyMismatch(); // the table does not end at the copy's last id
  conn.prepare("DELETE FROM readings WHERE id >= ? AND id <= ?").run(plan.lo, plan.hi);
  return { moved, emptied: false };
}

/**
 * The columns of a chunk row holding `rows` (one sensor's, sorted by ts then id):
 * `[first_ts, last_ts, first_id, last_id, count, data]`.
 */
export function chunkColumns(rows: readonly LogRow[]): [number, number, number, number, number, Uint8Array] {
  const n = rows.length;
  const ids = new Float64Array(n), ts = new Float64Array(n), values = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const [id, , t, v] = rows[i];
    ids[i] = id;
    ts[i] = t;
    values[i] = v;
  }
  return columnsOf(ids, ts, values, n);
}

/** {@link chunkColumns} of the first `n` readings of columns sorted by ts then id. */
function columnsOf(
  ids: Float64Array,
  ts: Float64Array,
  values: Float64Array,
  n: number,
): [number, number, number, number, number, Uint8Array] {
  let minTs = Infinity, maxTs = -Infinity, minId = Infinity, maxId = -Infinity;
  for (let i = 0; i < n; i++) {
    const t = ts[i], id = ids[i];
    if (t < minTs) minTs = t;
    if (t > maxTs) maxTs = t;
    if (id < minId) minId = id;
    if (id > maxId) maxId = id;
  }
  return [minTs, maxTs, minId, maxId, n, encodeChunk(ids, ts, values, n)];
}

/** A chunk's readings, decoded. */
interface Columns {
  ids: Float64Array;
  ts: Float64Array;
  values: Float64Array;
  length: number;
}

function decode(data: Uint8Array): Columns {
  const d = decodeChunk(data);
  return { ids: d.ids, ts: d.ts, values: d.values, length: d.length };
}

/**
 * Rewrites chunk `chunkId` keeping only the readings for which `keep(ts)` holds (deleting the row
 * when none is left), and hands the others to `dropped`. Returns how many were dropped. Runs
 * inside the caller's write transaction.
 */
export function rewriteChunk(
  conn: Connection,
  chunkId: number,
  keep: (ts: number) => boolean,
  dropped?: (id: number, ts: number, value: number) => void,
): number {
  const row = conn.prepare("SELECT sensor_id, data FROM chunks WHERE id = ?").get(chunkId) as
    | { sensor_id: number; data: Uint8Array }
    | undefined;
  if (row === undefined) return 0;
  const c = decode(row.data);
  const kept: LogRow[] = [];
  let n = 0;
  for (let i = 0; i < c.length; i++) {
    if (keep(c.ts[i])) kept.push([c.ids[i], row.sensor_id, c.ts[i], c.values[i]]);
    else {
      dropped?.(c.ids[i], c.ts[i], c.values[i]);
      n++;
    }
  }
  if (n === 0) return 0;
  if (kept.length === 0) conn.prepare("DELETE FROM chunks WHERE id = ?").run(chunkId);
  else {
    conn.prepare(
      "UPDATE chunks SET first_ts = ?, last_ts = ?, first_id = ?, last_id = ?, count = ?, data = ? WHERE id = ?",
    ).run(...chunkColumns(kept), chunkId);
  }
  return n;
}

/** One compaction step's readings in id order, decoded (the pager keeps the last one). */
interface Step {
  stepEnd: number;
  /** The time range the step was decoded for (chunks outside it were skipped). */
  since: number;
  until: number;
  ids: Float64Array;
  sensors: Float64Array;
  ts: Float64Array;
  values: Float64Array;
}

/**
 * Pages through the log in id order, compacted steps first, then the hot table. Each page is read
 * in one snapshot, so a compaction between pages never hides or repeats a reading.
 */
export class LogPager {
  readonly #conn: Connection;
  #step: Step | undefined;

  constructor(conn: Connection) {
    this.#conn = conn;
  }

  /** Up to `limit` readings with id greater than `afterId` and `since <= ts < until`, ascending ids. */
  page(afterId: number, limit: number, since = NO_MIN, until = NO_MAX): LogRow[] {
    const conn = this.#conn;
    return conn.read(() => {
      const out: LogRow[] = [];
      let cursor = afterId;
      const nextStep = conn.prepare("SELECT min(step_end) AS r FROM chunks WHERE step_end > ?");
      while (out.length < limit) {
        const r = (nextStep.get(cursor) as { r: number | null }).r;
        if (r === null) break;
        const step = this.#load(Number(r), since, until);
        let i = lowerBound(step.ids, cursor);
        for (; i < step.ids.length && out.length < limit; i++) {
          const t = step.ts[i];
          if (t >= since && t < until) out.push([step.ids[i], step.sensors[i], t, step.values[i]]);
        }
        if (i < step.ids.length) return out;
        cursor = Number(r);
      }
      if (out.length < limit) {
        const hot = returnArrays(conn.prepare(
          "SELECT id, sensor_id, ts, value FROM readings WHERE id > ? AND ts >= ? AND ts < ? ORDER BY id LIMIT ?",
        )).all(cursor, since, until, limit - out.length) as unknown as LogRow[];
        for (const row of hot) out.push(row);
      }
      return out;
    });
  }

  /** The readings of step `stepEnd` in id order, from the cache or decoded (skipping chunks out of range). */
  #load(stepEnd: number, since: number, until: number): Step {
    const cached = this.#step;
    if (cached?.stepEnd === stepEnd && cached.since === since && cached.until === until) return cached;
    const chunks = this.#conn.prepare(
      "SELECT sensor_id, first_ts, last_ts, data FROM chunks WHERE step_end = ?",
    ).all(stepEnd) as { sensor_id: number; first_ts: number; last_ts: number; data: Uint8Array }[];
    const parts: { sensor: number; c: Columns }[] = [];
    let total = 0;
    for (const chunk of chunks) {
      if (chunk.last_ts < since || chunk.first_ts >= until) continue;
      const c = decode(chunk.data);
      parts.push({ sensor: Number(chunk.sensor_id), c });
      total += c.length;
    }
    const order = new Uint32Array(total);
    const ids = new Float64Array(total), sensors = new Float64Array(total);
    const ts = new Float64Array(total), values = new Float64Array(total);
    let k = 0;
    for (const { sensor, c } of parts) {
      for (let i = 0; i < c.length; i++, k++) {
        ids[k] = c.ids[i];
        sensors[k] = sensor;
        ts[k] = c.ts[i];
        values[k] = c.values[i];
        order[k] = k;
      }
    }
    order.sort((x, y) => ids[x] - ids[y]);
    const step: Step = {
      stepEnd,
      since,
      until,
      ids: new Float64Array(total),
      sensors: new Float64Array(total),
      ts: new Float64Array(total),
      values: new Float64Array(total),
    };
    for (let i = 0; i < total; i++) {
      const j = order[i];
      step.ids[i] = ids[j];
      step.sensors[i] = sensors[j];
      step.ts[i] = ts[j];
      step.values[i] = values[j];
    }
    this.#step = step;
    return step;
  }
}

/** The first index whose value is greater than `x` in ascending `xs`. */
function lowerBound(xs: Float64Array, x: number): number {
  let a = 0, b = xs.length;
  while (a < b) {
    const m = (a + b) >>> 1;
    if (xs[m] <= x) a = m + 1;
    else b = m;
  }
  return a;
}
