/**
 * The statements of housekeeping (retention, size cap, downsampling, compaction), each one short
 * transaction on the writer's connection. Private to the store: `retention.ts` decides when.
 *
 * @module
 */

import type { Connection } from "./_connection.ts";
import { planCompaction } from "./_compaction_plan.ts";
import { compact, minReadingId, rewriteChunk } from "./chunks.ts";
import { autoCheckpointBytes } from "./schema.ts";

/** How many of each sensor's oldest chunks an expiry step looks at for readings partly expired. */
const STRADDLING_CHUNKS = 4;

/** The statements of retention, each one short transaction on the writer's connection. */
export class RetentionSql {
  readonly #conn: Connection;

  /** The page size, and the `wal_autocheckpoint` last set ({@link sizeWalFor}). */
  #pageSize: number | undefined;
  #autoCheckpointPages: number | undefined;

  constructor(conn: Connection) {
    this.#conn = conn;
  }

  /**
   * Sets the WAL pages between automatic checkpoints for compaction steps of `stepReadings`
   * ({@link autoCheckpointBytes}); a statement only when the figure changes.
   */
  sizeWalFor(stepReadings: number): void {
    this.#pageSize ??= Number(this.#conn.pragma("page_size"));
    const pages = Math.ceil(autoCheckpointBytes(stepReadings) / this.#pageSize);
    if (pages === this.#autoCheckpointPages) return;
    this.#conn.db.exec(`PRAGMA wal_autocheckpoint = ${pages}`);
    this.#autoCheckpointPages = pages;
  }

  /** How many pages the database file has and how many are in use. */
  usage(): { usedBytes: number } {
    return this.#conn.usage();
  }

  /** Number of sensors. */
  sensorCount(): number {
    return Number((this.#conn.prepare("SELECT count(*) AS n FROM sensors").get() as { n: number }).n);
  }

  /**
   * The sensors that had readings in the last compaction step (its chunks, one per sensor), or
   * every sensor before the first step: an estimate of the active ones that costs one index probe.
   */
  activeSensorCount(): number {
    const n = Number(
      (this.#conn.prepare(
        "SELECT count(*) AS n FROM chunks WHERE step_end = (SELECT max(step_end) FROM chunks)",
      ).get() as { n: number }).n,
    );
    return n > 0 ? n : this.sensorCount();
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
    // A step only moves committed readings: one lost to a power cut leaves them hot, so it needs
    // no fsync of its own (a step of 8,192 readings would otherwise cost as much as a group commit).
    return plan === undefined ? 0 : this.#conn.unsynced(() => compact(this.#conn, plan));
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
