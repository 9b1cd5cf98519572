/**
 * When hot readings move into chunks, and which: the plan of one compaction step (`chunks.ts`
 * carries it out). Private to the store.
 *
 * @module
 */

import type { Connection } from "./_connection.ts";

/** A stretch of hot readings, by id, that a compaction step moves. */
export interface CompactionPlan {
  /** The oldest hot reading's id. */
  lo: number;
  /** The last id moved. */
  hi: number;
  /**
   * The stretch is the whole hot table: the step empties it with one `DELETE FROM readings`,
   * which SQLite runs as a truncation that frees the table's pages without writing them. Deleting
   * a stretch instead rewrites every page it empties (in WAL mode a freed page that was changed
   * is written to the WAL, then copied by the checkpoint): about 25 bytes written per reading
   * moved, and as much CPU time as reading the stretch (docs/STORAGE.md).
   */
  whole: boolean;
}

/** When hot readings move to chunks. */
export interface CompactionPolicy {
  /** Readings with `ts` before this (unix ms) may move. */
  cutoffTs: number;
  /** At most this many readings per step (the step is one transaction between group commits). */
  maxRows: number;
  /** At most this many when the step moves readings past `maxHotRows` (default `maxRows`). */
  backlogRows?: number;
  /** Wait until this many readings are due, so that chunks are not tiny … */
  minRows: number;
  /** … unless the oldest hot reading is older than this (unix ms): then move what is due. */
  forceBeforeTs: number;
  /**
   * More hot readings than this move whatever their age (oldest first): the hot table has no
   * per-sensor index, so its size bounds what a query of one sensor scans. Default: no bound.
   */
  maxHotRows?: number;
  /**
   * Once the hot table holds this many readings, or its oldest is older than `forceBeforeTs`, it
   * moves as a whole, the young readings too (at most `wholeMaxRows`; beyond that its oldest
   * `maxRows` move first). The logger sets it to a full step: emptying the table costs almost
   * nothing, deleting a stretch of it costs as much as writing it. Default: never; only readings
   * older than `cutoffTs` move.
   */
  earlyRows?: number;
  /** The most readings a step that empties the hot table moves (default `maxRows`). */
  wholeMaxRows?: number;
}

/**
 * The next stretch of hot readings to compact, or undefined when nothing is due. Readings move in
 * log order, so the stretch starts at the oldest hot id and ends at the last id whose reading is
 * older than the cutoff (found by binary search on the rowid; timestamps out of order only make
 * a reading move a little earlier or later, never twice).
 */
export function planCompaction(conn: Connection, policy: CompactionPolicy): CompactionPlan | undefined {
  const oldest = conn.prepare("SELECT id, ts FROM readings ORDER BY id LIMIT 1").get() as
    | { id: number; ts: number }
    | undefined;
  if (oldest === undefined) return undefined;
  const lo = Number(oldest.id);
  const newest = Number((conn.prepare("SELECT max(id) AS m FROM readings").get() as { m: number }).m);
  // Ids are given in increasing order, so the span of hot ids bounds the number of hot readings
  // (retention may have deleted some in between).
  const span = newest - lo + 1;
  const stretch = (n: number): CompactionPlan => ({
    lo,
    hi: Math.min(newest, lo + n - 1),
    whole: lo + n - 1 >= newest,
  });
  if (span > (policy.maxHotRows ?? Infinity)) {
    // Too many hot readings: move the oldest.
    return stretch(policy.backlogRows ?? policy.maxRows);
  }
  if (policy.earlyRows !== undefined && (span >= policy.earlyRows || oldest.ts < policy.forceBeforeTs)) {
    return stretch(span <= (policy.wholeMaxRows ?? policy.maxRows) ? span : policy.maxRows);
  }
  if (oldest.ts >= policy.cutoffTs) return undefined;
  const tsFrom = conn.prepare("SELECT id, ts FROM readings WHERE id >= ? ORDER BY id LIMIT 1");
  let a = lo, b = Math.min(newest, lo + policy.maxRows - 1);
  while (a < b) {
    const mid = Math.ceil((a + b) / 2);
    const row = tsFrom.get(mid) as { id: number; ts: number };
    if (row.ts < policy.cutoffTs) a = mid;
    else b = mid - 1;
  }
  const hi = a;
  if (hi - lo + 1 < policy.minRows && oldest.ts >= policy.forceBeforeTs) return undefined;
  return { lo, hi, whole: hi === newest };
}
