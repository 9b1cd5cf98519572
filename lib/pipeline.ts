/**
 * The bounded buffer between sources and the writer, the group-commit timer and the counters.
 *
 * Sources call `emit`; readings accepted there are *taken* (edgelog is responsible for them).
 * A group commits every `commitIntervalMs`, or as soon as `batchSize` readings wait. When the
 * writer fails (disk full, I/O error) the readings stay in the buffer and the commit is retried;
 * once the buffer is full, sources' readings are *dropped* and counted.
 *
 * @module
 */

import { type ClockGuard, resolveStamps } from "./clock.ts";
import { type Reading, ReadingBatch } from "./reading.ts";
import { Histogram } from "./histogram.ts";
import { LoopStallMonitor } from "./loop_stall.ts";
import { isTransientWriteError, type Store } from "./store/mod.ts";

/** The part of {@link Store} the pipeline needs: commit `batch[from..to)` in one transaction. */
export type BatchWriter = Pick<Store, "appendBatch">;

/** Upper bounds of the commit-latency histogram, seconds. */
export const COMMIT_SECONDS_BOUNDS: readonly number[] = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];
/** Upper bounds of the readings-per-commit histogram. */
export const BATCH_SIZE_BOUNDS: readonly number[] = [1, 10, 50, 100, 500, 1000, 5000, 10_000, 50_000, 100_000];

/** What one source handed to the pipeline (see {@link Pipeline.emitFor}). */
export interface SourceCounters {
  taken: number;
  dropped: number;
  /** Readings the source refused as invalid, by reason (see {@link Pipeline.countRejected}). */
  rejected: Map<string, number>;
}

/** The counters edgelog reports in its stats and final log record. */
export interface Counters {
  /** Readings accepted into the buffer. */
  taken: number;
  /** Readings committed to the database. */
  stored: number;
  /** Readings a source produced but the full buffer refused. */
  dropped: number;
  /** Readings a source refused as invalid, counted by the sources through `reject`. */
  rejected: number;
  /** `rejected` split by reason (`not_json`, `bad_timestamp`, …); a small fixed set of keys. */
  rejectedByReason: Record<string, number>;
  /** Transactions committed. */
  commits: number;
  /** Commits that failed (and were retried). */
  commitErrors: number;
  /**
   * Readings taken and not yet committed, read live from the buffer: `taken = stored + pending`
   * holds at every moment (a copy made with `{...counters}` keeps the value of that moment).
   */
  readonly pending: number;
  /** Duration of the last and the slowest commit, ms. */
  lastCommitMs: number;
  maxCommitMs: number;
  /** Wall-clock time of the last successful commit (unix ms), 0 before the first. */
  lastCommitAt: number;
  /** Wall-clock time of the last flush attempt (unix ms), 0 before the first. */
  lastFlushAt: number;
  /**
   * Wall-clock time of the last flush that left nothing pending (unix ms): a commit, or a tick
   * with nothing to commit, so an idle logger still shows a live writer. 0 before the first.
   */
  lastFlushOkAt: number;
  /** Failed commits since the last successful one. */
  commitErrorsInRow: number;
  /** Readings taken with a provisional stamp (the wall clock was not trusted; `clock.ts`). */
  provisional: number;
  /** Of those, readings that arrived after their segment closed and were corrected on the way in. */
  correctedOnArrival: number;
}

/** Settings of the pipeline. */
export interface PipelineOptions {
  commitIntervalMs: number;
  batchSize: number;
  bufferSize: number;
  /** Monotonic clock in ms; injectable for tests. */
  now?: () => number;
  /** The clock that stamps readings: provisional stamps (`clock.ts`) are resolved when taken; none: kept as is. */
  clock?: Pick<ClockGuard, "segmentOf" | "everProvisional">;
  /** Called when a commit fails, with the error and whether it is worth retrying. */
  onCommitError?: (error: unknown, transient: boolean) => void;
  /** Called after the first successful commit following failures. */
  onRecovered?: (failures: number) => void;
}

/** A function sources call with readings; returns how many were accepted. */
export type Emit = (readings: readonly Reading[]) => number;

/**
 * Direct access to the buffer's columns, for a sampler that produces many readings per tick (the
 * simulated sensors): it writes up to `buffer.room` readings at `buffer.length …` and then calls
 * `took(n)`. No object per reading is made. See {@link Pipeline.sinkFor}.
 */
export interface ColumnSink {
  readonly buffer: ReadingBatch;
  /** Marks the `n` readings written after `buffer.length` as taken. */
  took(n: number): void;
}

/** The buffer and group-commit loop in front of one {@link Store}. */
export class Pipeline {
  #store: BatchWriter;
  readonly #options:
    & Required<Pick<PipelineOptions, "commitIntervalMs" | "batchSize" | "bufferSize" | "now">>
    & PipelineOptions;
  /** The readings taken and not yet committed, in order. */
  readonly #buffer: ReadingBatch;
  #timer: ReturnType<typeof setInterval> | undefined;
  #soon: ReturnType<typeof setTimeout> | undefined;
  #fatal: unknown = undefined;
  /** Callers waiting until `stored` reaches a count, in ascending order of that count. */
  #storedWaiters: { target: number; resolve: (ok: boolean) => void }[] = [];
  readonly counters: Counters = {
    taken: 0,
    stored: 0,
    dropped: 0,
    rejected: 0,
    rejectedByReason: {},
    commits: 0,
    commitErrors: 0,
    pending: 0,
    lastCommitMs: 0,
    maxCommitMs: 0,
    lastCommitAt: 0,
    lastFlushAt: 0,
    lastFlushOkAt: 0,
    commitErrorsInRow: 0,
    provisional: 0,
    correctedOnArrival: 0,
  };
  /** Duration of each commit, seconds. */
  readonly commitSeconds: Histogram = new Histogram(COMMIT_SECONDS_BOUNDS);
  /** Readings per commit. */
  readonly batchSizes: Histogram = new Histogram(BATCH_SIZE_BOUNDS);
  /** How long the event loop was held from {@link start} to {@link close}: the time no reading could be taken. */
  readonly loopStalls: LoopStallMonitor = new LoopStallMonitor();
  /** Per-source counts, for the sources started through {@link emitFor}. */
  readonly sources: Map<string, SourceCounters> = new Map();

  constructor(store: BatchWriter, options: PipelineOptions) {
    this.#store = store;
    this.#options = { now: () => performance.now(), ...options };
    this.#buffer = new ReadingBatch(options.bufferSize);
    // A value set at each flush went stale as soon as the next reading was taken, so the stats
    // line said "0 pending" while hundreds waited for the next commit.
    const buffer = this.#buffer;
    Object.defineProperty(this.counters, "pending", { get: () => buffer.length, enumerable: true });
  }

  /** Accepts readings into the buffer, as many as fit; the rest are counted as dropped. */
  readonly emit: Emit = (readings) => {
    const n = Math.min(this.#buffer.room, readings.length);
    const at = this.#buffer.length;
    this.#buffer.push(readings, 0, n);
    this.#resolveStamps(at, at + n);
    this.counters.dropped += readings.length - n;
    this.#took(n);
    return n;
  };

  /** Resolves the provisional stamps of `buffer[from..to)` (see {@link resolveStamps}). */
  #resolveStamps(from: number, to: number): void {
    const clock = this.#options.clock;
    if (clock !== undefined && clock.everProvisional) resolveStamps(clock, this.#buffer, from, to, this.counters);
  }

  /** Counts `n` readings just added to the buffer as taken; commits soon if a batch is full. */
  #took(n: number): void {
    this.counters.taken += n;
    if (this.#buffer.length >= this.#options.batchSize) this.#commitSoon();
  }

  /**
   * Commits as soon as the event loop is free, without waiting for the interval: for a full batch,
   * or for a caller waiting on {@link waitStored}. Not while commits fail (the timer paces the
   * retries then), and not before {@link start} or after {@link stopTimers}.
   */
  #commitSoon(): void {
    if (this.#soon !== undefined || this.#timer === undefined || this.counters.commitErrorsInRow > 0) return;
    // setTimeout(0), not setImmediate: the 1-2 ms wait of a timeout is when the event loop polls
    // I/O. With setImmediate the loop never parks at the writer's limit, so signals and HTTP
    // requests wait far longer for a small throughput gain (figures in docs/BENCHMARKS.md).
    this.#soon = setTimeout(() => {
      this.#soon = undefined;
      this.flush();
    }, 0);
  }

  /**
   * A {@link ColumnSink} on the buffer for `source`, counted like {@link emitFor}. The sampler
   * must not write more than `buffer.room` readings before calling `took`.
   */
  sinkFor(source: string): ColumnSink {
    const c = this.#sourceCounters(source);
    const buffer = this.#buffer;
    return {
      buffer,
      took: (n) => {
        if (n <= 0) return;
        if (n > buffer.room) throw new RangeError(`${source} wrote ${n} readings into ${buffer.room} free places`);
        buffer.length += n;
        this.#resolveStamps(buffer.length - n, buffer.length);
        c.taken += n;
        this.#took(n);
      },
    };
  }

  /** Counts readings a sampler skipped for a full buffer (it checked {@link room}) as `dropped` of `source`. */
  countSkipped(source: string, n: number): void {
    this.counters.dropped += n;
    this.#sourceCounters(source).dropped += n;
  }

  /**
   * An {@link emit} that also counts what `source` handed over (per batch, not per reading), so
   * metrics can say which source took or dropped readings.
   */
  emitFor(source: string): Emit {
    const c = this.#sourceCounters(source);
    return (readings) => {
      const n = this.emit(readings);
      c.taken += n;
      c.dropped += readings.length - n;
      return n;
    };
  }

  /**
   * Counts `n` readings that `source` refused as invalid, for `reason`; `n = 0` declares a reason
   * the source may give, shown as 0 until then. Reasons are a small fixed set of identifiers
   * chosen by the sources (never text from the input), so the maps stay small.
   */
  countRejected(source: string, reason: string, n = 1): void {
    const rejected = this.#sourceCounters(source).rejected;
    // n = 0 declares a reason, so metrics show it at 0 before the first refusal.
    if (n <= 0) {
      if (!rejected.has(reason)) rejected.set(reason, 0);
      return;
    }
    rejected.set(reason, (rejected.get(reason) ?? 0) + n);
    this.counters.rejected += n;
    this.counters.rejectedByReason[reason] = (this.counters.rejectedByReason[reason] ?? 0) + n;
  }

  #sourceCounters(source: string): SourceCounters {
    let c = this.sources.get(source);
    if (c === undefined) this.sources.set(source, c = { taken: 0, dropped: 0, rejected: new Map() });
    return c;
  }

  /** Free places in the buffer now (push sources use it for back-pressure). */
  get room(): number {
    return this.#buffer.room;
  }

  /** The unrecoverable error that stopped the writer, if any (e.g. the file became corrupt). */
  get fatalError(): unknown {
    return this.#fatal;
  }

  /**
   * Clears the error that stopped the writer and goes on committing, into `writer` when given (a
   * fresh database after a damaged one was moved aside) or into the same one (the error turned
   * out to be a failing read, not damage). The readings pending stay and commit first.
   */
  resume(writer?: BatchWriter): void {
    if (writer !== undefined) this.#store = writer;
    this.#fatal = undefined;
  }

  /** Starts the group-commit timer. */
  start(): void {
    this.#timer ??= setInterval(() => this.flush(), this.#options.commitIntervalMs);
    this.loopStalls.start();
  }

  /** Stops the timers; readings still pending stay in the buffer for {@link flush}. */
  stopTimers(): void {
    clearInterval(this.#timer);
    clearTimeout(this.#soon);
    this.#timer = undefined;
    this.#soon = undefined;
  }

  /**
   * Commits everything pending, in groups of at most `groupSize` (default `batchSize`; the final
   * drain at shutdown uses one group, so one fsync). Returns true when the buffer is empty
   * afterwards; false when a commit failed (the readings stay pending).
   */
  flush(groupSize: number = this.#options.batchSize): boolean {
    if (this.#fatal !== undefined) return false;
    const batch = this.#buffer;
    this.counters.lastFlushAt = Date.now();
    if (batch.length === 0) {
      this.counters.lastFlushOkAt = this.counters.lastFlushAt;
      return true;
    }
    const { now } = this.#options;
    const total = batch.length;
    let i = 0;
    try {
      while (i < total) {
        const end = Math.min(i + groupSize, total);
        const t0 = now();
        this.#store.appendBatch(batch, i, end);
        const ms = now() - t0;
        this.counters.stored += end - i;
        this.counters.commits++;
        this.counters.lastCommitMs = ms;
        if (ms > this.counters.maxCommitMs) this.counters.maxCommitMs = ms;
        this.commitSeconds.observe(ms / 1000);
        this.batchSizes.observe(end - i);
        this.counters.lastCommitAt = Date.now();
        i = end;
      }
      // Flushing is synchronous: nothing was taken meanwhile, so all `total` are stored.
      batch.length = 0;
      this.counters.lastFlushOkAt = this.counters.lastCommitAt;
      this.#resolveStoredWaiters();
      if (this.counters.commitErrorsInRow > 0) {
        const failures = this.counters.commitErrorsInRow;
        this.counters.commitErrorsInRow = 0;
        this.#options.onRecovered?.(failures);
      }
      return true;
    } catch (e) {
      // Keep the readings not yet committed, in order.
      batch.shift(i);
      this.counters.commitErrors++;
      this.counters.commitErrorsInRow++;
      const transient = isTransientWriteError(e);
      if (!transient) {
        this.#fatal = e;
        for (const w of this.#storedWaiters.splice(0)) w.resolve(false);
      }
      this.#options.onCommitError?.(e, transient);
      return false;
    }
  }

  /**
   * Resolves true once every reading taken so far (up to `taken` = `target`) is committed, or
   * false if the writer fails for good or the pipeline is closed first. Readings commit in the
   * order they were taken, so a caller that emitted readings can wait for `counters.taken`.
   */
  waitStored(target: number = this.counters.taken): Promise<boolean> {
    if (this.counters.stored >= target) return Promise.resolve(true);
    if (this.#fatal !== undefined) return Promise.resolve(false);
    // Someone waits for the commit (an HTTP `?sync=1` request): do not make them wait for the
    // interval. Requests that arrive while a commit runs share the next one (group commit).
    this.#commitSoon();
    return new Promise((resolve) => {
      const waiters = this.#storedWaiters;
      let i = waiters.length;
      while (i > 0 && waiters[i - 1].target > target) i--;
      waiters.splice(i, 0, { target, resolve });
    });
  }

  #resolveStoredWaiters(): void {
    const waiters = this.#storedWaiters;
    let n = 0;
    while (n < waiters.length && waiters[n].target <= this.counters.stored) waiters[n++].resolve(true);
    if (n > 0) waiters.splice(0, n);
  }

  /** Releases every waiter of {@link waitStored} with false (the writer is gone). */
  close(): void {
    this.stopTimers();
    this.loopStalls.stop();
    for (const w of this.#storedWaiters.splice(0)) w.resolve(this.counters.stored >= w.target);
  }

  /** Number of readings taken but not yet committed. */
  get pendingCount(): number {
    return this.#buffer.length;
  }
}
