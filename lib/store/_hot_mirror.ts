/**
 * Readings of a compaction step as per-sensor columns, and the writer's copy of the hot table in
 * the same columns ({@link HotMirror}), so that a step that empties the table need not read it
 * back. Private to the store.
 *
 * @module
 */

import type { ReadingBatch } from "../reading.ts";
import type { Connection } from "./_connection.ts";
import type { CompactionPlan } from "./_compaction_plan.ts";
import { doubled } from "./chunk_codec.ts";

/**
 * Columns of earlier steps, kept for the next one: the same sensors come back every step, so
 * their columns stop growing, and a step allocates no typed arrays to throw away (V8 frees those
 * only after tens of MB of them). At most {@link SPARE_COLUMNS} are kept.
 */
const spareColumns: Column[] = [];
const SPARE_COLUMNS = 1024;

/** Columns for a step's (or the mirror's) sensor: a spare one, emptied, or a new one. */
function takeColumn(): Column {
  const column = spareColumns.pop() ?? new Column();
  column.length = 0;
  return column;
}

/** The column of sensor `s` in `bySensor`, taken (see {@link takeColumn}) and added if it has none. */
export function columnIn(bySensor: Map<number, Column>, s: number): Column {
  let column = bySensor.get(s);
  if (column === undefined) bySensor.set(s, column = takeColumn());
  return column;
}

/** Gives the columns of `bySensor` back to the spare pool (as many as it keeps) and clears it. */
export function releaseColumns(bySensor: Map<number, Column>): void {
  for (const column of bySensor.values()) if (spareColumns.length < SPARE_COLUMNS) spareColumns.push(column);
  bySensor.clear();
}

/**
 * The most readings the mirror holds (24 bytes each): a step that empties the hot table moves at
 * most `MAX_WHOLE_STEP` (196,608) readings, and a table larger than that moves in stretches.
 */
const MIRROR_MAX_ROWS = 262_144;

/**
 * The writer's copy of the hot table, sensor by sensor, in the columns a compaction step fills: a
 * step that empties the table takes its readings from here instead of reading them back. Reading
 * them was 58 % of compaction's CPU time and 21 % of the program's at the maximum rate; taking
 * them from here, the program ingests 0.81-0.96x of what the writer alone commits, against 0.44x
 * (docs/STORAGE.md, "Without reading back").
 *
 * Only the writer's commits (after COMMIT returned) and the steps change it. It is trusted only
 * from a moment the table was seen empty, as long as every reading committed since is in it; a
 * step checks, in its transaction, that the table holds exactly the mirror's ids (its first and
 * last id, each a lookup at the b-tree's edge, and the number of rows its `DELETE` removed, which
 * SQLite counts while it frees the pages), which catches every delete (retention, size cap) and
 * any insert it did not see. Updates do not change those, so the one place that updates hot
 * readings (the clock's re-stamp) drops the mirror first. Whatever it cannot vouch for is read
 * back as before.
 */
export class HotMirror {
  #trusted = false;
  /** The first id held; `#rows` ids from it, without gaps. */
  #lo = 0;
  #rows = 0;
  readonly #bySensor = new Map<number, Column>();
  /** Readings moved by steps that took them from the mirror (diagnostics and tests). */
  unreadTotal = 0;

  /** The hot table is empty: the mirror starts over, trusted, with the next id `nextId`. */
  emptied(nextId: number): void {
    releaseColumns(this.#bySensor);
    this.#trusted = true;
    this.#lo = nextId;
    this.#rows = 0;
  }

  /** Something changed the hot table behind the mirror's back, or it grew too big: stop trusting it. */
  drop(): void {
    if (!this.#trusted && this.#rows === 0) return;
    releaseColumns(this.#bySensor);
    this.#trusted = false;
    this.#rows = 0;
  }

  /**
   * Readings `from..to` of `batch` were committed with ids from `firstId` on; `sensorIds[s]` is
   * the database id of the batch's sensor `s`. Values are kept as SQLite gives them back: it
   * stores -0 as 0.
   */
  committed(
    firstId: number,
    batch: ReadingBatch,
    from: number,
    to: number,
    sensorIds: readonly (number | undefined)[],
  ): void {
    if (!this.#trusted) return;
    const n = to - from;
    if (firstId !== this.#lo + this.#rows || this.#rows + n > MIRROR_MAX_ROWS) return this.drop();
    const { sensor, ts, value } = batch;
    for (let i = from, id = firstId; i < to; i++, id++) {
      columnIn(this.#bySensor, sensorIds[sensor[i]]!).push(id, ts[i] + 0, value[i] + 0);
    }
    this.#rows += n;
  }

  /**
   * The mirror's readings by sensor when `plan` empties the table, its ids are the mirror's and
   * the table starts at the mirror's first id; undefined otherwise. Run inside the step's
   * transaction. The step then checks that the table still ends at the last id (as it does for
   * every whole-table step) and that its `DELETE` removed exactly {@link rows} readings: a deletion
   * in the middle of the ids shows there, and the step is rolled back.
   */
  covering(conn: Connection, plan: CompactionPlan): Map<number, Column> | undefined {
    if (!this.#trusted || !plan.whole || this.#rows === 0) return undefined;
    if (plan.lo !== this.#lo || plan.hi !== this.#lo + this.#rows - 1) return undefined;
    const first = conn.prepare("SELECT id FROM readings ORDER BY id LIMIT 1").get() as { id: number } | undefined;
    return first !== undefined && Number(first.id) === plan.lo ? this.#bySensor : undefined;
  }

  /** The number of readings the mirror holds. */
  get rows(): number {
    return this.#rows;
  }
}

const mirrors = new WeakMap<Connection, HotMirror>();

/** The hot-table mirror of the writer's connection `conn`. */
export function hotMirror(conn: Connection): HotMirror {
  let mirror = mirrors.get(conn);
  if (mirror === undefined) mirrors.set(conn, mirror = new HotMirror());
  return mirror;
}

/** One sensor's readings of a compaction step, as growing columns. */
export class Column {
  ids = new Float64Array(64);
  ts = new Float64Array(64);
  values = new Float64Array(64);
  length = 0;

  push(id: number, t: number, v: number): void {
    if (this.length === this.ids.length) {
      this.ids = doubled(this.ids);
      this.ts = doubled(this.ts);
      this.values = doubled(this.values);
    }
    this.ids[this.length] = id;
    this.ts[this.length] = t;
    this.values[this.length] = v;
    this.length++;
  }

  /** Sorts by (ts, id) in place; readings usually arrive in time order, so this mostly only checks. */
  sort(): void {
    const { ids, ts, values, length: n } = this;
    let sorted = true;
    for (let i = 1; i < n && sorted; i++) sorted = ts[i - 1] < ts[i] || (ts[i - 1] === ts[i] && ids[i - 1] < ids[i]);
    if (sorted) return;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((x, y) => ts[x] - ts[y] || ids[x] - ids[y]);
    const [i2, t2, v2] = [ids.slice(0, n), ts.slice(0, n), values.slice(0, n)];
    for (let i = 0; i < n; i++) {
      const j = order[i];
      ids[i] = i2[j];
      ts[i] = t2[j];
      values[i] = v2[j];
    }
  }
}
