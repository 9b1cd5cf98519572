/**
 * The provisional readings of the log (`clock.ts`): which ids were stamped while the wall clock
 * was not trusted, and the re-stamp that gives them their true time once it is.
 *
 * Recorded as runs of ids (`clock_provisional`: first_id, last_id, segment, restamped), written
 * in the same transaction as the readings. Runs, not a flag per row: a flag would widen every
 * row and every chunk for a state most logs never see, while runs cost one small row per stretch
 * of provisional readings (a client's own timestamps in between split a run, and are never
 * re-stamped). A re-stamp shifts every reading of a segment's open runs by the segment's
 * correction, hot or already compacted into chunks, in one transaction, and keeps the runs
 * (marked restamped) so that `query --restamped` and `export --restamped` can show them.
 *
 * @module
 */

import type { ReadingBatch } from "../reading.ts";
import type { Connection } from "./_connection.ts";
import { decodeChunk } from "./chunk_codec.ts";
import { hotMirror } from "./_hot_mirror.ts";
import { chunkColumns, type LogRow } from "./chunks.ts";

/** What the store keeps of a clock segment (see `ClockSegment` in `clock.ts`). */
export interface SegmentRecord {
  id: number;
  kind: "start" | "step";
  reason: string;
  wallAtStart: number;
  wallAnchor: number;
  monoAnchor: number;
  /** The boot, and its uptime at the anchor (a later run of the same boot can re-stamp). */
  bootId?: string;
  uptimeAnchor?: number;
}

/** A segment of an earlier run of this boot, still to re-stamp. */
export interface EarlierSegment {
  id: number;
  wallAnchor: number;
  uptimeAnchor: number;
}

/** How the readings of the log stand with respect to the clock. */
export interface ClockSummary {
  /** Readings stored with a provisional stamp that was never re-stamped. */
  provisional: number;
  /** Readings whose provisional stamp was re-stamped. */
  restamped: number;
  /** Segments recorded, and those of earlier runs that could not be re-stamped. */
  segments: number;
  abandonedSegments: number;
  /** The newest segment, if any. */
  last: {
    id: number;
    reason: string;
    wallAtStart: number;
    correctionMs: number | null;
    restampedAt: number | null;
    abandonedAt: number | null;
  } | null;
}

/** The clock status of a reading id, for `--restamped` columns. */
export type StampStatus = "restamped" | "provisional" | undefined;

/** One run, as staged in a transaction. */
interface Run {
  first: number;
  last: number;
  segment: number;
  restamped: boolean;
}

/** The provisional-readings log on the writer's connection. */
export class ClockLog {
  readonly #conn: Connection;
  /** Segments announced but not yet written (written with the first run that needs them). */
  readonly #unwritten = new Map<number, SegmentRecord>();
  /** The first id of each segment's runs still to re-stamp (what forwarders hold at). */
  readonly #heldFrom = new Map<number, number>();
  #staged: Run[] = [];
  /** The last run written and committed: the next commit's first run may extend it. */
  #lastRun: Run | undefined;
  /** Whether the first staged run extends {@link #lastRun} (an UPDATE, not an INSERT). */
  #extends = false;
  /** Readings re-stamped by this store (counted at the re-stamp or recorded pre-corrected). */
  restampedTotal = 0;

  constructor(conn: Connection) {
    this.#conn = conn;
  }

  /** The id the next segment gets: ids are never reused within a database. */
  nextSegmentId(): number {
    const row = this.#conn.prepare(
      `SELECT max(coalesce((SELECT max(id) FROM clock_segments), 0),
                  coalesce((SELECT max(segment) FROM clock_provisional), 0)) AS m`,
    ).get() as { m: number };
    return Number(row.m) + 1;
  }

  /**
   * The newest timestamp among the last readings written (hot, or the last compaction step): a
   * wall clock earlier than it is not trusted. Not `max(ts)` over everything, which would scan.
   */
  floor(): number | undefined {
    const hot = this.#conn.prepare(
      "SELECT max(ts) AS m FROM (SELECT ts FROM readings ORDER BY id DESC LIMIT 1000)",
    ).get() as { m: number | null };
    const cold = this.#conn.prepare(
      "SELECT max(last_ts) AS m FROM chunks WHERE step_end = (SELECT max(step_end) FROM chunks)",
    ).get() as { m: number | null };
    const m = Math.max(Number(hot.m ?? -Infinity), Number(cold.m ?? -Infinity));
    return Number.isFinite(m) ? m : undefined;
  }

  /**
   * The segments of earlier runs that were never re-stamped: those of boot `bootId` are returned
   * (their anchors are on the boot's clock, so they can still be re-stamped, and forwarders hold
   * their readings); the others are marked abandoned (their monotonic clock is gone), and how
   * many readings that leaves provisional for good is counted.
   */
  adoptEarlier(bootId: string | undefined, nowMs: number): { adopted: EarlierSegment[]; abandoned: number } {
    return this.#conn.write(() => {
      const open = this.#conn.prepare(
        `SELECT id, wall_anchor, boot_id, uptime_anchor FROM clock_segments
         WHERE restamped_at IS NULL AND abandoned_at IS NULL`,
      ).all() as { id: number; wall_anchor: number; boot_id: string | null; uptime_anchor: number | null }[];
      const adopted: EarlierSegment[] = [];
      let abandoned = 0;
      const count = this.#conn.prepare(
        `SELECT coalesce(sum(last_id - first_id + 1), 0) AS n, min(first_id) AS first
         FROM clock_provisional WHERE segment = ? AND restamped = 0`,
      );
      const abandon = this.#conn.prepare("UPDATE clock_segments SET abandoned_at = ? WHERE id = ?");
      for (const s of open) {
        const runs = count.get(s.id) as { n: number; first: number | null };
        if (bootId !== undefined && s.boot_id === bootId && s.uptime_anchor !== null) {
          adopted.push({ id: Number(s.id), wallAnchor: Number(s.wall_anchor), uptimeAnchor: Number(s.uptime_anchor) });
          if (runs.first !== null) this.#heldFrom.set(Number(s.id), Number(runs.first));
        } else {
          abandon.run(nowMs, s.id);
          abandoned += Number(runs.n);
        }
      }
      return { adopted, abandoned };
    });
  }

  /** A segment began: written now if possible, else with its first run. */
  beginSegment(segment: SegmentRecord): void {
    this.#unwritten.set(segment.id, segment);
    try {
      this.#conn.write(() => this.#writeSegment(segment));
      this.#unwritten.delete(segment.id);
    } catch { /* written with the first run (the commit retries like any other) */ }
  }

  #writeSegment(s: SegmentRecord): void {
    this.#conn.prepare(
      `INSERT OR IGNORE INTO clock_segments(id, kind, reason, wall_at_start, wall_anchor, mono_anchor, boot_id,
         uptime_anchor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(s.id, s.kind, s.reason, s.wallAtStart, s.wallAnchor, s.monoAnchor, s.bootId ?? null, s.uptimeAnchor ?? null);
  }

  /**
   * Records the provisional readings of `batch[from..to)`, stored from id `firstId` on, inside
   * the writer's transaction; {@link committed} makes it count once that commits.
   */
  record(batch: ReadingBatch, from: number, to: number, firstId: number): void {
    const staged: Run[] = this.#staged = [];
    const seg = batch.segment;
    let run: Run | undefined;
    for (let i = from; i < to; i++) {
      const s = seg[i];
      if (s === 0) {
        run = undefined;
        continue;
      }
      const id = firstId + (i - from);
      const segment = s > 0 ? s : -s;
      if (run !== undefined && run.segment === segment && run.restamped === s < 0 && run.last === id - 1) {
        run.last = id;
      } else {
        staged.push(run = { first: id, last: id, segment, restamped: s < 0 });
      }
    }
    this.#extends = false;
    if (staged.length === 0) return;
    const insert = this.#conn.prepare(
      "INSERT INTO clock_provisional(first_id, last_id, segment, restamped) VALUES (?, ?, ?, ?)",
    );
    const prev = this.#lastRun, head = staged[0];
    // One row per stretch, not per commit: a stretch goes on across group commits.
    if (prev && prev.last === head.first - 1 && prev.segment === head.segment && prev.restamped === head.restamped) {
      this.#conn.prepare("UPDATE clock_provisional SET last_id = ? WHERE first_id = ?").run(head.last, prev.first);
      this.#extends = true;
    }
    for (let i = this.#extends ? 1 : 0; i < staged.length; i++) {
      const r = staged[i];
      const unwritten = this.#unwritten.get(r.segment);
      if (unwritten) this.#writeSegment(unwritten);
      insert.run(r.first, r.last, r.segment, r.restamped ? 1 : 0);
    }
  }

  /** The transaction of the last {@link record} committed. */
  committed(): void {
    const staged = this.#staged;
    if (staged.length > 0) {
      const tail = staged[staged.length - 1];
      this.#lastRun = this.#extends && staged.length === 1 ? { ...tail, first: this.#lastRun!.first } : tail;
    }
    for (const r of staged) {
      this.#unwritten.delete(r.segment);
      if (r.restamped) {
        this.restampedTotal += r.last - r.first + 1;
        continue;
      }
      const held = this.#heldFrom.get(r.segment);
      if (held === undefined || r.first < held) this.#heldFrom.set(r.segment, r.first);
    }
    this.#staged = [];
  }

  /** The first id of segment `segment`'s readings still to re-stamp, if any were stored. */
  heldFrom(segment: number): number | undefined {
    return this.#heldFrom.get(segment);
  }

  /**
   * Shifts every stored reading of segment `segment` not yet re-stamped by `correctionMs`, hot
   * or compacted, in one transaction; returns how many readings it re-stamped.
   */
  restamp(segment: number, correctionMs: number, nowMs: number): number {
    const conn = this.#conn;
    const n = conn.write(() => {
      const runs = conn.prepare(
        "SELECT first_id, last_id FROM clock_provisional WHERE segment = ? AND restamped = 0 ORDER BY first_id",
      ).all(segment) as { first_id: number; last_id: number }[];
      let n = 0;
      if (runs.length > 0 && correctionMs !== 0) {
        // The writer's copy of the hot table would keep the old stamps: compaction reads them back.
        hotMirror(conn).drop();
        const shift = conn.prepare("UPDATE readings SET ts = ts + ? WHERE id >= ? AND id <= ?");
        for (const r of runs) n += Number(shift.run(correctionMs, r.first_id, r.last_id).changes);
        n += restampChunks(conn, runs.map((r) => [Number(r.first_id), Number(r.last_id)]), correctionMs);
      } else {
        for (const r of runs) n += Number(r.last_id) - Number(r.first_id) + 1;
      }
      conn.prepare("UPDATE clock_provisional SET restamped = 1 WHERE segment = ? AND restamped = 0").run(segment);
      const unwritten = this.#unwritten.get(segment);
      if (unwritten) this.#writeSegment(unwritten);
      conn.prepare("UPDATE clock_segments SET correction_ms = ?, restamped_at = ? WHERE id = ?")
        .run(correctionMs, nowMs, segment);
      return n;
    });
    this.#unwritten.delete(segment);
    this.#heldFrom.delete(segment);
    if (this.#lastRun?.segment === segment) this.#lastRun = undefined;
    this.restampedTotal += n;
    return n;
  }
}

/** Shifts the readings of the chunks that hold ids of `runs` (sorted) by `correctionMs`. */
function restampChunks(conn: Connection, runs: [number, number][], correctionMs: number): number {
  const lo = runs[0][0], hi = runs[runs.length - 1][1];
  const chunks = conn.prepare(
    "SELECT id, sensor_id, data FROM chunks WHERE step_end >= ? AND first_id <= ? AND last_id >= ?",
  ).all(lo, hi, lo) as { id: number; sensor_id: number; data: Uint8Array }[];
  const inRuns = (id: number) => {
    let a = 0, b = runs.length - 1;
    while (a <= b) {
      const m = (a + b) >>> 1;
      if (id < runs[m][0]) b = m - 1;
      else if (id > runs[m][1]) a = m + 1;
      else return true;
    }
    return false;
  };
  const update = conn.prepare(
    "UPDATE chunks SET first_ts = ?, last_ts = ?, first_id = ?, last_id = ?, count = ?, data = ? WHERE id = ?",
  );
  let n = 0;
  for (const chunk of chunks) {
    const c = decodeChunk(chunk.data);
    const rows: LogRow[] = [];
    let shifted = 0;
    for (let i = 0; i < c.length; i++) {
      const hit = inRuns(c.ids[i]);
      if (hit) shifted++;
      rows.push([c.ids[i], chunk.sensor_id, hit ? c.ts[i] + correctionMs : c.ts[i], c.values[i]]);
    }
    if (shifted === 0) continue;
    rows.sort((x, y) => x[2] - y[2] || x[0] - y[0]); // a chunk stays in (ts, id) order
    update.run(...chunkColumns(rows), chunk.id);
    n += shifted;
  }
  return n;
}

/** The clock summary of the database behind `conn` (any connection). */
export function clockSummary(conn: Connection, minId: number | undefined): ClockSummary {
  const lo = minId ?? Number.MAX_SAFE_INTEGER;
  const counts = conn.prepare(
    `SELECT coalesce(sum(CASE WHEN restamped = 0 THEN last_id - max(first_id, ?) + 1 ELSE 0 END), 0) AS p,
            coalesce(sum(CASE WHEN restamped = 1 THEN last_id - max(first_id, ?) + 1 ELSE 0 END), 0) AS r
     FROM clock_provisional WHERE last_id >= ?`,
  ).get(lo, lo, lo) as { p: number; r: number };
  const segs = conn.prepare(
    "SELECT count(*) AS n, coalesce(sum(abandoned_at IS NOT NULL), 0) AS a FROM clock_segments",
  ).get() as { n: number; a: number };
  const last = conn.prepare(
    `SELECT id, reason, wall_at_start, correction_ms, restamped_at, abandoned_at
     FROM clock_segments ORDER BY id DESC LIMIT 1`,
  ).get() as Record<string, number | string | null> | undefined;
  return {
    provisional: Number(counts.p),
    restamped: Number(counts.r),
    segments: Number(segs.n),
    abandonedSegments: Number(segs.a),
    last: last === undefined ? null : {
      id: Number(last.id),
      reason: String(last.reason),
      wallAtStart: Number(last.wall_at_start),
      correctionMs: last.correction_ms === null ? null : Number(last.correction_ms),
      restampedAt: last.restamped_at === null ? null : Number(last.restamped_at),
      abandonedAt: last.abandoned_at === null ? null : Number(last.abandoned_at),
    },
  };
}

/**
 * The clock status of reading ids, from the runs (read once): for the `--restamped` column of
 * `query` and `export`.
 */
export function stampStatusLookup(conn: Connection): (id: number) => StampStatus {
  const runs = conn.prepare(
    "SELECT first_id, last_id, restamped FROM clock_provisional ORDER BY first_id",
  ).all() as { first_id: number; last_id: number; restamped: number }[];
  const first = runs.map((r) => Number(r.first_id));
  return (id) => {
    let a = 0, b = first.length - 1, at = -1;
    while (a <= b) {
      const m = (a + b) >>> 1;
      if (first[m] <= id) {
        at = m;
        a = m + 1;
      } else b = m - 1;
    }
    if (at < 0 || Number(runs[at].last_id) < id) return undefined;
    return runs[at].restamped ? "restamped" : "provisional";
  };
}
