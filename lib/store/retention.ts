/**
 * Housekeeping in the running logger: delete readings older than `--retention`, delete the
 * oldest while the data exceeds `--max-db-size`, replace readings older than `--downsample-after`
 * by per-bucket aggregates, and move the hot table into compressed chunks (`chunks.ts`) once it
 * holds a step, or readings older than `--compact-after`.
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
import { RetentionSql } from "./_retention_sql.ts";

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
  /**
   * Readings one compaction step moves at most (default 65536), or `compactMinRows` when that is
   * larger; a step that moves readings past `compactMaxHotRows` moves at most this many.
   */
  compactMaxRows?: number;
  /**
   * Readings due before a compaction step runs (default: 8192, and 512 per sensor of the last step
   * (every sensor before the first) up to 131,072),
   * so that chunks are not tiny: each chunk costs an entry in the per-sensor index, a leaf page
   * of its own with many sensors. A step may then move up to this many. Readings older than
   * `compactAfterMs` plus the larger of `compactAfterMs` and 10 minutes move whatever their number.
   */
  compactMinRows?: number;
  /**
   * Once the hot table holds a full step (`compactMinRows` or its default), move it as a whole,
   * the readings younger than `compactAfterMs` too: emptying the table frees its pages without
   * writing them, where deleting the older stretch rewrites every page it empties (about 25
   * bytes written per reading, docs/STORAGE.md). `compactAfterMs` then only bounds how long a
   * reading stays hot. The logger turns this on; default off (`edgelog compact` moves exactly the
   * readings older than it is told).
   */
  compactEarly?: boolean;
  /** Wall clock in unix ms; injectable for tests. */
  now?: () => number;
  /** Rows a step touches at most (default 5000). */
  rowsPerStep?: number;
  /** Pause between steps while work remains, ms (default 5). */
  busyIntervalMs?: number;
  /** Pause once nothing is left to do, ms (default 100; bounds how far --max-db-size can overshoot). */
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
    & Required<
      Omit<RetentionOptions, "retentionMs" | "maxDbSizeBytes" | "downsampleAfterMs" | "compactMinRows" | "compactEarly">
    >
    & RetentionOptions;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #sensorCursor = 0;
  /** `now()` of the last compaction step (or of the first look). */
  #lastCompactedAt: number | undefined;
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
      // Short: at high rates the hot table must not outgrow a whole-table step between two looks.
      idleIntervalMs: 100,
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
    // A chunk per sensor and step: with many sensors, wait for more readings so each chunk holds
    // enough to be worth its header and its index entry (figures in docs/STORAGE.md).
    const minRows = o.compactMinRows ??
      Math.max(MIN_STEP_READINGS, Math.min(MAX_WAITING_STEP, READINGS_PER_CHUNK * store.activeSensorCount()));
    // The WAL holds a few refills of a hot table that size, whose pages a checkpoint then copies once.
    store.sizeWalFor(minRows);
    const maxRows = Math.max(o.compactMaxRows, minRows);
    const n = store.compact({
      cutoffTs: now - o.compactAfterMs,
      // Readings that waited long move whatever their number, but at most once per --compact-after:
      // readings with old timestamps (a client sending history) would otherwise make a tiny step
      // at every look.
      forceBeforeTs: now - (this.#lastCompactedAt ??= now) >= o.compactAfterMs
        ? now - o.compactAfterMs - Math.max(o.compactAfterMs, FORCE_AFTER_MIN_MS)
        : -Infinity,
      maxRows,
      backlogRows: o.compactMaxRows,
      maxHotRows: o.compactMaxHotRows,
      minRows,
      ...(o.compactEarly ? { earlyRows: minRows, wholeMaxRows: Math.max(maxRows, MAX_WHOLE_STEP) } : {}),
    });
    if (n > 0) {
      this.#lastCompactedAt = now;
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
/** … and per sensor … */
const READINGS_PER_CHUNK = 512;
/** … up to this many in all: a step holds the event loop while it runs (the trade-off is in docs/STORAGE.md). */
const MAX_WAITING_STEP = 131_072;
/**
 * A hot table of up to this many readings moves in one step (more than a full step after a pause
 * or a burst; about 200 ms of the writer's time): a bigger one moves oldest first, in stretches
 * whose deletion writes every page (docs/STORAGE.md). Larger `--compact-step`s raise it.
 */
const MAX_WHOLE_STEP = 196_608;
/** Readings due wait for a full step at most `--compact-after` more, and at least this long, ms. */
const FORCE_AFTER_MIN_MS = 10 * 60_000;
