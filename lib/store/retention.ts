/**
 * Retention in the running logger: delete readings older than `--retention`, delete the oldest
 * while the data exceeds `--max-db-size`, and replace readings older than `--downsample-after`
 * by per-bucket aggregates.
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

/** Settings of {@link Retention}. */
export interface RetentionOptions {
  retentionMs?: number;
  maxDbSizeBytes?: number;
  downsampleAfterMs?: number;
  downsampleBucketMs: number;
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
  /** Steps that failed. */
  errors: number;
}

/** What one {@link Retention.step} did. */
export type StepOutcome = "expired" | "evicted" | "downsampled" | "idle";

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
    & Required<Omit<RetentionOptions, "retentionMs" | "maxDbSizeBytes" | "downsampleAfterMs">>
    & RetentionOptions;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #sensorCursor = 0;
  readonly counters: RetentionCounters = { expired: 0, evicted: 0, downsampled: 0, errors: 0 };

  /** Use `Store.retention(options)`: retention writes on the writer's connection only. */
  constructor(conn: Connection, options: RetentionOptions) {
    this.#sql = new RetentionSql(conn);
    this.#options = {
      now: () => Date.now(),
      rowsPerStep: 5000,
      busyIntervalMs: 5,
      idleIntervalMs: 1000,
      onError: () => {},
      onUnsentDeleted: () => {},
      ...options,
    };
  }

  /** True when any retention setting is on. */
  static isEnabled(options: Partial<RetentionOptions>): boolean {
    return options.retentionMs !== undefined || options.maxDbSizeBytes !== undefined ||
      options.downsampleAfterMs !== undefined;
  }

  /**
   * Does at most one short transaction of work, in order of urgency: expire, evict for size,
   * downsample. Returns what it did ("idle" when nothing was due).
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
      const ids = store.sensorIds();
      for (let tried = 0; tried < ids.length; tried++) {
        const id = ids[this.#sensorCursor % ids.length];
        const range = store.nextDownsampleRange(id, before, o.downsampleBucketMs, rows);
        if (range) {
          this.counters.downsampled += store.downsample(id, range.fromTs, range.toTs, o.downsampleBucketMs);
          return "downsampled";
        }
        this.#sensorCursor = (this.#sensorCursor + 1) % ids.length;
      }
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
    return (this.#conn.prepare(
      `SELECT name FROM forward_cursors
       WHERE last_id < (SELECT min(id) FROM readings) - 1 ORDER BY name`,
    ).all() as { name: string }[]).map((r) => r.name);
  }

  /**
   * Deletes at most `limit` raw readings with `ts < cutoffTs` and at most `limit` downsampled
   * buckets that end before it, in one short transaction; returns the rows deleted. Walks the
   * `(sensor_id, ts)` and `bucket_ts` indexes, so it costs a few index probes when nothing is old.
   */
  deleteOlderThan(cutoffTs: number, limit: number): number {
    return this.#conn.write(() => {
      const n = Number(
        this.#conn.prepare(
          `DELETE FROM readings WHERE id IN (
           SELECT id FROM readings WHERE sensor_id IN (SELECT id FROM sensors) AND ts < ? LIMIT ?)`,
        ).run(cutoffTs, limit).changes,
      );
      const buckets = Number(
        this.#conn.prepare(
          `DELETE FROM readings_downsampled WHERE (sensor_id, bucket_ts) IN (
           SELECT sensor_id, bucket_ts FROM readings_downsampled
           WHERE bucket_ts < ?1 AND bucket_ts + bucket_ms <= ?1 ORDER BY bucket_ts LIMIT ?2)`,
        ).run(cutoffTs, limit).changes,
      );
      return n + buckets;
    });
  }

  /**
   * Deletes the oldest `limit` rows in one short transaction: downsampled buckets first (they
   * hold the oldest history), then raw readings in log order (by id). Returns rows deleted.
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
      return Number(
        this.#conn.prepare(
          `DELETE FROM readings WHERE id IN (SELECT id FROM readings ORDER BY id LIMIT ?)`,
        ).run(limit).changes,
      );
    });
  }

  /**
   * Replaces one sensor's raw readings in `[fromTs, toTs)` by per-bucket aggregates (merged into
   * existing buckets) in one transaction; `fromTs`/`toTs` should be bucket-aligned. Returns the
   * number of raw readings replaced.
   */
  downsample(sensorId: number, fromTs: number, toTs: number, bucketMs: number): number {
    return this.#conn.write(() => {
      this.#conn.prepare(
        `INSERT INTO readings_downsampled(sensor_id, bucket_ts, bucket_ms, count, sum, min, max, last_ts, last)
         SELECT ?1, g.bucket, ?4, g.n, g.total, g.mn, g.mx, g.last_ts,
                (SELECT value FROM readings r WHERE r.sensor_id = ?1 AND r.ts = g.last_ts ORDER BY r.id DESC LIMIT 1)
         FROM (SELECT (ts - ts % ?4) AS bucket, count(*) AS n, sum(value) AS total, min(value) AS mn,
                      max(value) AS mx, max(ts) AS last_ts
               FROM readings WHERE sensor_id = ?1 AND ts >= ?2 AND ts < ?3 GROUP BY 1) AS g
         WHERE true
         ON CONFLICT(sensor_id, bucket_ts) DO UPDATE SET
           count = count + excluded.count, sum = sum + excluded.sum,
           min = min(min, excluded.min), max = max(max, excluded.max),
           last = CASE WHEN excluded.last_ts >= last_ts THEN excluded.last ELSE last END,
           last_ts = max(last_ts, excluded.last_ts)`,
      ).run(sensorId, fromTs, toTs, bucketMs);
      return Number(
        this.#conn.prepare("DELETE FROM readings WHERE sensor_id = ? AND ts >= ? AND ts < ?").run(
          sensorId,
          fromTs,
          toTs,
        ).changes,
      );
    });
  }

  /**
   * The next stretch of one sensor's raw readings older than `beforeTs` holding about `rows`
   * readings, as `{fromTs, toTs}` aligned to `bucketMs`; undefined when the sensor has no raw
   * reading in a complete bucket before `beforeTs`.
   */
  nextDownsampleRange(
    sensorId: number,
    beforeTs: number,
    bucketMs: number,
    rows: number,
  ): { fromTs: number; toTs: number } | undefined {
    const end = beforeTs - (beforeTs % bucketMs);
    const first = this.#conn.prepare("SELECT min(ts) AS t FROM readings WHERE sensor_id = ? AND ts < ?").get(
      sensorId,
      end,
    ) as { t: number | null };
    if (first.t === null) return undefined;
    const fromTs = first.t - (first.t % bucketMs);
    const nth = this.#conn.prepare(
      "SELECT ts FROM readings WHERE sensor_id = ? AND ts >= ? AND ts < ? ORDER BY ts LIMIT 1 OFFSET ?",
    ).get(sensorId, fromTs, end, rows) as { ts: number } | undefined;
    let toTs = nth ? nth.ts - (nth.ts % bucketMs) : end;
    if (toTs <= fromTs) toTs = fromTs + bucketMs; // one bucket holds more than `rows`: take it whole
    return { fromTs, toTs };
  }
}
