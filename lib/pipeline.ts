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

import type { Reading, Store } from "./store.ts";
import { isTransientWriteError } from "./store.ts";

/** The counters edgelog reports in its stats and final log record. */
export interface Counters {
  /** Readings accepted into the buffer. */
  taken: number;
  /** Readings committed to the database. */
  stored: number;
  /** Readings a source produced but the full buffer refused. */
  dropped: number;
  /** Readings a source refused as invalid (by reason), counted by the sources. */
  rejected: number;
  /** Transactions committed. */
  commits: number;
  /** Commits that failed (and were retried). */
  commitErrors: number;
  /** Readings waiting in the buffer now. */
  pending: number;
  /** Duration of the last and the slowest commit, ms. */
  lastCommitMs: number;
  maxCommitMs: number;
  /** Wall-clock time of the last successful commit (unix ms), 0 before the first. */
  lastCommitAt: number;
}

/** Settings of the pipeline. */
export interface PipelineOptions {
  commitIntervalMs: number;
  batchSize: number;
  bufferSize: number;
  /** Monotonic clock in ms; injectable for tests. */
  now?: () => number;
  /** Called when a commit fails, with the error and whether it is worth retrying. */
  onCommitError?: (error: unknown, transient: boolean) => void;
  /** Called after the first successful commit following failures. */
  onRecovered?: (failures: number) => void;
}

/** A function sources call with readings; returns how many were accepted. */
export type Emit = (readings: readonly Reading[]) => number;

/** The buffer and group-commit loop in front of one {@link Store}. */
export class Pipeline {
  readonly #store: Store;
  readonly #options:
    & Required<Pick<PipelineOptions, "commitIntervalMs" | "batchSize" | "bufferSize" | "now">>
    & PipelineOptions;
  #pending: Reading[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #soon: ReturnType<typeof setTimeout> | undefined;
  #failuresInRow = 0;
  #fatal: unknown = undefined;
  /** Callers waiting until `stored` reaches a count, in ascending order of that count. */
  #storedWaiters: { target: number; resolve: (ok: boolean) => void }[] = [];
  readonly counters: Counters = {
    taken: 0,
    stored: 0,
    dropped: 0,
    rejected: 0,
    commits: 0,
    commitErrors: 0,
    pending: 0,
    lastCommitMs: 0,
    maxCommitMs: 0,
    lastCommitAt: 0,
  };

  constructor(store: Store, options: PipelineOptions) {
    this.#store = store;
    this.#options = { now: () => performance.now(), ...options };
  }

  /** Accepts readings into the buffer, as many as fit; the rest are counted as dropped. */
  readonly emit: Emit = (readings) => {
    const room = this.#options.bufferSize - this.#pending.length;
    const n = Math.min(room, readings.length);
    const pending = this.#pending;
    for (let i = 0; i < n; i++) pending.push(readings[i]);
    this.counters.taken += n;
    this.counters.dropped += readings.length - n;
    // A full batch commits at once, unless the writer is failing: then the commit timer paces
    // the retries instead of every emit (a full disk would otherwise be retried every tick).
    if (
      pending.length >= this.#options.batchSize && this.#soon === undefined && this.#timer !== undefined &&
      this.#failuresInRow === 0
    ) {
      this.#soon = setTimeout(() => {
        this.#soon = undefined;
        this.flush();
      }, 0);
    }
    return n;
  };

  /** Free places in the buffer now (push sources use it for back-pressure). */
  get room(): number {
    return this.#options.bufferSize - this.#pending.length;
  }

  /** The unrecoverable error that stopped the writer, if any (e.g. the file became corrupt). */
  get fatalError(): unknown {
    return this.#fatal;
  }

  /** Starts the group-commit timer. */
  start(): void {
    this.#timer ??= setInterval(() => this.flush(), this.#options.commitIntervalMs);
  }

  /** Stops the timers; readings still pending stay in the buffer for {@link flush}. */
  stopTimers(): void {
    clearInterval(this.#timer);
    clearTimeout(this.#soon);
    this.#timer = undefined;
    this.#soon = undefined;
  }

  /**
   * Commits everything pending, in groups of at most `batchSize`. Returns true when the buffer
   * is empty afterwards; false when a commit failed (the readings stay pending).
   */
  flush(): boolean {
    if (this.#fatal !== undefined) return false;
    const batch = this.#pending;
    if (batch.length === 0) return true;
    this.#pending = [];
    const { batchSize, now } = this.#options;
    let i = 0;
    try {
      while (i < batch.length) {
        const end = Math.min(i + batchSize, batch.length);
        const t0 = now();
        this.#store.append(batch, i, end);
        const ms = now() - t0;
        this.counters.stored += end - i;
        this.counters.commits++;
        this.counters.lastCommitMs = ms;
        if (ms > this.counters.maxCommitMs) this.counters.maxCommitMs = ms;
        this.counters.lastCommitAt = Date.now();
        i = end;
      }
      this.#resolveStoredWaiters();
      if (this.#failuresInRow > 0) {
        const failures = this.#failuresInRow;
        this.#failuresInRow = 0;
        this.#options.onRecovered?.(failures);
      }
      return true;
    } catch (e) {
      // Keep the readings not yet committed, in order, ahead of any that arrive meanwhile.
      this.#pending = i === 0 ? batch : batch.slice(i);
      this.counters.commitErrors++;
      this.#failuresInRow++;
      const transient = isTransientWriteError(e);
      if (!transient) {
        this.#fatal = e;
        for (const w of this.#storedWaiters.splice(0)) w.resolve(false);
      }
      this.#options.onCommitError?.(e, transient);
      return false;
    } finally {
      this.counters.pending = this.#pending.length;
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
    for (const w of this.#storedWaiters.splice(0)) w.resolve(this.counters.stored >= w.target);
  }

  /** Number of readings taken but not yet committed. */
  get pendingCount(): number {
    return this.#pending.length;
  }
}
