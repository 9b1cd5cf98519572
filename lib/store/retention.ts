/**
 * Housekeeping in the running logger: delete readings older than `--retention`, delete the
 * oldest while the data exceeds `--max-db-size`, replace readings older than `--downsample-after`
 * by per-bucket aggregates, and move readings older than `--compact-after` from the hot table into
 * compressed chunks (`chunks.ts`).
 *
 * Work is done in steps on the writer's own connection (there is only one writer). A step is one
 * short transaction touching at most `rowsPerStep` rows, so a group commit waits at most one
 * step; while a backlog remains, steps follow each other after a short pause that lets commits
 * and I/O run in between. Freed pages go to SQLite's freelist and are reused by new readings, so
 * the file stops growing instead of shrinking (no VACUUM, which would stall ingest).
 *
 * @module
 */

import type { Connection } from "./_connection.ts";
import { compact, minReadingId, planCompaction, rewriteChunk } from "./chunks.ts";

/** Settings of {@link Retention}. */
export interface RetentionOptions {
  retentionMs?: number;
  maxDbSizeBytes?: number;
  downsampleAfterMs?: number;
  downsampleBucketMs: number;
  /** Hot readings older than this move into compressed chunks (ms; default 10 minutes). */
  compactAfterMs?: number;
  /**
   * Hot readings beyond this move into chunks whatever their age (default 1,000,000): queries of
   * one sensor scan the hot table, so this bounds their cost at very high rates.
   */
  compactMaxHotRows?: number;
  /** Readings one compaction step moves at most (default 65536). */
  compactMaxRows?: number;
  /**
   * Readings due before a compaction step runs (default: 8192, and at least 64 per sensor up to
   * `compactMaxRows`), so that chunks are not tiny; readings older than twice `compactAfterMs`
   * move whatever their number.
   */
  compactMinRows?: number;
  /** Wall clock in unix ms; injectable for tests. */
  now?: () => number;
  /** Rows a step touches at most (default 5000). */
  rowsPerStep?: number;
  /** Pause between steps while work remains, ms (default 5). */
  busyIntervalMs?: number;
  /** Pause once nothing is left to do, ms (default 1000; bounds how far --max-db-size can overshoot). */
  idleIntervalMs?: number;
  /** Called when a step fails; the next step retries after the idle pause. */
  onError?: (error: unknown) => void;
  /**
   * Called after a deletion that left forwarders behind the oldest reading kept: readings they
   * had not sent yet were deleted (retention wins over the outbox).
   */
  onUnsentDeleted?: (forwarders: string[]) => void;
}

/** What retention did so far. */
export interface RetentionCounters {
  /** Rows (readings or downsampled buckets) deleted because they were older than `--retention`. */
  expired: number;
  /** Rows (readings or aggregates) deleted to stay under `--max-db-size`. */
  evicted: number;
  /** Raw readings replaced by aggregates. */
  downsampled: number;
  /** Readings moved from the hot table into compressed chunks. */
  compacted: number;
  /** Steps that failed. */
  errors: number;
}

/** What one {@link Retention.step} did. */
export type StepOutcome = "expired" | "evicted" | "downsampled" | "compacted" | "idle";

/**
 * Retention and downsampling on the writer's connection; made by `Store.retention(options)`.
 *
 * @example
 * ```ts
 * const retention = store.retention({ retentionMs: 30 * 86_400_000, downsampleBucketMs: 60_000 });
 * retention.start();
 * // … on shutdown, before the final commit:
 * retention.stop();
 * ```
 */
export class Retention {
  readonly #sql: RetentionSql;
  readonly #options:
    & Required<Omit<RetentionOptions, "retentionMs" | "maxDbSizeBytes" | "downsampleAfterMs" | "compactMinRows">>
    & RetentionOptions;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #sensorCursor = 0;
  readonly counters: RetentionCounters = { expired: 0, evicted: 0, downsampled: 0, compacted: 0, errors: 0 };

  /** Use `Store.retention(options)`: retention writes on the writer's connection only. */
  constructor(conn: Connection, options: RetentionOptions) {
    this.#sql = new RetentionSql(conn);
    this.#options = {
      now: () => Date.now(),
      rowsPerStep: 5000,
      compactAfterMs: DEFAULT_COMPACT_AFTER_MS,
      compactMaxRows: 65_536,
      compactMaxHotRows: 1_000_000,
      busyIntervalMs: 5,
      idleIntervalMs: 1000,
      onError: () => {},
      onUnsentDeleted: () => {},
      ...options,
    };
  }

  /** True when any retention setting is on (compaction always runs). */
  static isEnabled(options: Partial<RetentionOptions>): boolean {
    return options.retentionMs !== undefined || options.maxDbSizeBytes !== undefined ||
      options.downsampleAfterMs !== undefined;
  }

  /**
   * Does at most one short transaction of work, in order of urgency: expire, evict for size,
   * downsample, compact. Returns what it did ("idle" when nothing was due).
   */
  step(): StepOutcome {
    const o = this.#options;
    const store = this.#sql;
    const rows = o.rowsPerStep;
    if (o.retentionMs !== undefined) {
      const n = store.deleteOlderThan(o.now() - o.retentionMs, rows);
      if (n > 0) {
        this.counters.expired += n;
        this.#checkForwarders();
        return "expired";
      }
    }
    if (o.maxDbSizeBytes !== undefined && store.usage().usedBytes > o.maxDbSizeBytes) {
      const n = store.deleteOldest(rows);
      if (n > 0) {
        this.counters.evicted += n;
        this.#checkForwarders();
        return "evicted";
      }
    }
    if (o.downsampleAfterMs !== undefined) {
      const before = o.now() - o.downsampleAfterMs;
      // Downsampling works on chunks: hot readings that old are compacted first.
      const moved = store.compact({ cutoffTs: before, forceBeforeTs: before, maxRows: o.compactMaxRows, minRows: 1 });
      if (moved > 0) {
        this.counters.compacted += moved;
        return "compacted";
      }
      const ids = store.sensorIds();
      for (let tried = 0; tried < ids.length; tried++) {
        const id = ids[this.#sensorCursor % ids.length];
        const n = store.downsampleChunk(id, before, o.downsampleBucketMs);
        if (n > 0) {
          this.counters.downsampled += n;
          return "downsampled";
        }
        this.#sensorCursor = (this.#sensorCursor + 1) % ids.length;
      }
    }
    const now = o.now();
    const n = store.compact({
      cutoffTs: now - o.compactAfterMs,
      forceBeforeTs: now - 2 * o.compactAfterMs,
      maxRows: o.compactMaxRows,
      maxHotRows: o.compactMaxHotRows,
      // A chunk per sensor and step: with many sensors, wait for more readings so each chunk holds
      // enough to be worth its header and index entries.
      minRows: o.compactMinRows ??
        Math.max(MIN_STEP_READINGS, Math.min(o.compactMaxRows, READINGS_PER_CHUNK * store.sensorCount())),
    });
    if (n > 0) {
      this.counters.compacted += n;
      return "compacted";
    }
    return "idle";
  }

  #checkForwarders(): void {
    const behind = this.#sql.forwardersBehindOldest();
    if (behind.length > 0) this.#options.onUnsentDeleted(behind);
  }

  /** Starts stepping in the background: the first step runs at once. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(0);
  }

  #schedule(ms: number): void {
    this.#timer = setTimeout(() => {
      if (!this.#running) return;
      let next = this.#options.idleIntervalMs;
      try {
        if (this.step() !== "idle") next = this.#options.busyIntervalMs;
      } catch (e) {
        this.counters.errors++;
        this.#options.onError(e);
      }
      if (this.#running) this.#schedule(next);
    }, ms);
  }

  /** Stops stepping; a step never runs after this returns. */
  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** Default of `--compact-after`: readings stay in the hot table this long, ms. */
export const DEFAULT_COMPACT_AFTER_MS = 10 * 60_000;

/** Readings a compaction step waits for by default … */
const MIN_STEP_READINGS = 8192;
/** … and per sensor (at most `compactMaxRows` in all). */
const READINGS_PER_CHUNK = 64;

/** How many of each sensor's oldest chunks an expiry step looks at for readings partly expired. */
const STRADDLING_CHUNKS = 4;

/** The statements of retention, each one short transaction on the writer's connection. */
class RetentionSql {
  readonly #conn: Connection;

  constructor(conn: Connection) {
    this.#conn = conn;
  }

  /** How many pages the database file has and how many are in use. */
  usage(): { usedBytes: number } {
    return this.#conn.usage();
  }

  /** Number of sensors. */
  sensorCount(): number {
    return Number((this.#conn.prepare("SELECT count(*) AS n FROM sensors").get() as { n: number }).n);
  }

  /** The ids of every sensor (downsampling walks them). */
  sensorIds(): number[] {
    return (this.#conn.prepare("SELECT id FROM sensors ORDER BY id").all() as { id: number }[]).map((r) =>
      Number(r.id)
    );
  }

  /**
   * Forwarders whose cursor is behind the oldest reading kept: retention deleted readings they
   * had not sent yet.
   */
  forwardersBehindOldest(): string[] {
    const oldest = minReadingId(this.#conn);
    if (oldest === undefined) return [];
    return (this.#conn.prepare("SELECT name FROM forward_cursors WHERE last_id < ? ORDER BY name").all(oldest - 1) as {
      name: string;
    }[]).map((r) => r.name);
  }

  /** One compaction step if one is due by `policy`; returns the readings moved. */
  compact(policy: Parameters<typeof planCompaction>[1]): number {
    const plan = planCompaction(this.#conn, policy);
    return plan === undefined ? 0 : compact(this.#conn, plan);
  }

  /**
   * Deletes at most `limit` raw readings with `ts < cutoffTs` and at most `limit` downsampled
   * buckets that end before it, in one short transaction; returns the rows deleted. Walks the
   * `(sensor_id, ts)` and `bucket_ts` indexes, so it costs a few index probes when nothing is old.
   */
  deleteOlderThan(cutoffTs: number, limit: number): number {
    const conn = this.#conn;
    return conn.write(() => {
      let n = 0;
      // Whole chunks whose newest reading is older than the cutoff.
      const old = conn.prepare(
        `SELECT id, count FROM chunks WHERE sensor_id IN (SELECT id FROM sensors) AND last_ts < ? LIMIT ?`,
      ).all(cutoffTs, limit) as { id: number; count: number }[];
      const drop = conn.prepare("DELETE FROM chunks WHERE id = ?");
      for (const c of old) {
        drop.run(c.id);
        n += Number(c.count);
      }
      // Chunks partly older: the oldest few of each sensor (chunks hold one time stretch each).
      if (n < limit) {
        const straddling = conn.prepare(
          `SELECT c.id FROM sensors t JOIN chunks c ON c.id IN (
             SELECT id FROM chunks WHERE sensor_id = t.id ORDER BY last_ts LIMIT ${STRADDLING_CHUNKS})
           WHERE c.first_ts < ?`,
        ).all(cutoffTs) as { id: number }[];
        for (const c of straddling) n += rewriteChunk(conn, Number(c.id), (ts) => ts >= cutoffTs);
      }
      // Hot readings (older than the cutoff only when they arrived late or retention is short).
      if (n < limit && this.#oldestHotTs() < cutoffTs) {
        n += Number(
          conn.prepare(
            `DELETE FROM readings WHERE id IN (SELECT id FROM readings WHERE ts < ? ORDER BY id LIMIT ?)`,
          ).run(cutoffTs, limit - n).changes,
        );
      }
      const buckets = Number(
        conn.prepare(
          `DELETE FROM readings_downsampled WHERE (sensor_id, bucket_ts) IN (
           SELECT sensor_id, bucket_ts FROM readings_downsampled
           WHERE bucket_ts < ?1 AND bucket_ts + bucket_ms <= ?1 ORDER BY bucket_ts LIMIT ?2)`,
        ).run(cutoffTs, limit).changes,
      );
      return n + buckets;
    });
  }

  /**
   * The smallest timestamp among the oldest hot readings (by id): hot readings arrive in time
   * order, so this tells cheaply whether any can be old. Readings that arrived late are caught
   * once they are compacted.
   */
  #oldestHotTs(): number {
    const row = this.#conn.prepare("SELECT min(ts) AS t FROM (SELECT ts FROM readings ORDER BY id LIMIT 64)").get() as {
      t: number | null;
    };
    return row.t ?? Infinity;
  }

  /**
   * Deletes about the oldest `limit` rows in one short transaction: downsampled buckets first
   * (they hold the oldest history), then raw readings in log order (by id: whole chunks of the
   * oldest compaction step, then hot readings). Returns rows deleted.
   */
  deleteOldest(limit: number): number {
    return this.#conn.write(() => {
      const buckets = Number(
        this.#conn.prepare(
          `DELETE FROM readings_downsampled WHERE (sensor_id, bucket_ts) IN (
           SELECT sensor_id, bucket_ts FROM readings_downsampled ORDER BY bucket_ts LIMIT ?)`,
        ).run(limit).changes,
      );
      if (buckets > 0) return buckets;
      let n = 0;
      const oldest = this.#conn.prepare("SELECT id, count FROM chunks ORDER BY step_end, id LIMIT ?").all(limit) as {
        id: number;
        count: number;
      }[];
      const drop = this.#conn.prepare("DELETE FROM chunks WHERE id = ?");
      for (const c of oldest) {
        if (n >= limit) break;
        drop.run(c.id);
        n += Number(c.count);
      }
      if (n > 0) return n;
      return Number(
        this.#conn.prepare(
          `DELETE FROM readings WHERE id IN (SELECT id FROM readings ORDER BY id LIMIT ?)`,
        ).run(limit).changes,
      );
    });
  }

  /**
   * Replaces the readings older than `beforeTs` (aligned down to `bucketMs`) of one sensor's
   * oldest chunk by per-bucket aggregates, merged into existing buckets, in one transaction;
   * returns the readings replaced (0 when its oldest chunk has none that old).
   */
  downsampleChunk(sensorId: number, beforeTs: number, bucketMs: number): number {
    const end = beforeTs - (beforeTs % bucketMs);
    const conn = this.#conn;
    const oldest = conn.prepare("SELECT id, first_ts FROM chunks WHERE sensor_id = ? ORDER BY last_ts LIMIT 1").get(
      sensorId,
    ) as { id: number; first_ts: number } | undefined;
    if (oldest === undefined || oldest.first_ts >= end) return 0;
    return conn.write(() => {
      const buckets = new Map<number, Aggregate>();
      const n = rewriteChunk(conn, Number(oldest.id), (ts) => ts >= end, (_id, ts, value) => {
        const start = ts - (ts % bucketMs);
        const b = buckets.get(start);
        if (b === undefined) buckets.set(start, { n: 1, sum: value, min: value, max: value, lastTs: ts, last: value });
        else {
          b.n++;
          b.sum += value;
          if (value < b.min) b.min = value;
          if (value > b.max) b.max = value;
          if (ts >= b.lastTs) [b.lastTs, b.last] = [ts, value]; // (ts, id) order: the later id wins a tie
        }
      });
      const merge = conn.prepare(
        `INSERT INTO readings_downsampled(sensor_id, bucket_ts, bucket_ms, count, sum, min, max, last_ts, last)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(sensor_id, bucket_ts) DO UPDATE SET
           count = count + excluded.count, sum = sum + excluded.sum,
           min = min(min, excluded.min), max = max(max, excluded.max),
           last = CASE WHEN excluded.last_ts >= last_ts THEN excluded.last ELSE last END,
           last_ts = max(last_ts, excluded.last_ts)`,
      );
      for (const [start, b] of buckets) {
        merge.run(sensorId, start, bucketMs, b.n, b.sum, b.min, b.max, b.lastTs, b.last);
      }
      return n;
    });
  }
}

/** One downsampling bucket being summed up. */
interface Aggregate {
  n: number;
  sum: number;
  min: number;
  max: number;
  lastTs: number;
  last: number;
}
