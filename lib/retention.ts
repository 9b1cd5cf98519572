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

import type { Store } from "./store.ts";

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

/** Retention and downsampling for one {@link Store}. */
export class Retention {
  readonly #store: Store;
  readonly #options:
    & Required<Omit<RetentionOptions, "retentionMs" | "maxDbSizeBytes" | "downsampleAfterMs">>
    & RetentionOptions;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #sensorCursor = 0;
  readonly counters: RetentionCounters = { expired: 0, evicted: 0, downsampled: 0, errors: 0 };

  constructor(store: Store, options: RetentionOptions) {
    this.#store = store;
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
    const store = this.#store;
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
    const behind = this.#store.forwardersBehindOldest();
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
