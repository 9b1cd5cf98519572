/**
 * How long the event loop was held: a timer due every few tens of milliseconds measures how late
 * it fires. While the loop is held (a commit waiting for its fsync, a forwarder reading a page of
 * its outbox, housekeeping between commits) no source can take a reading and no request is
 * answered, so the lateness is the time ingest stood still. It is what "ingest is never slowed"
 * is measured by (docs/CLAIMS.md), and what `/metrics` and the final record report.
 *
 * A loaded machine makes the loop late too (the process waits for a CPU): the figure is an upper
 * bound of what edgelog itself held, never less.
 *
 * @module
 */

import { Histogram } from "./histogram.ts";

/** Upper bounds of the stall histogram, seconds. */
export const LOOP_STALL_SECONDS_BOUNDS: readonly number[] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** How often the timer is due, ms: 20 wake-ups a second, a stall shorter than this may go unseen. */
export const LOOP_STALL_INTERVAL_MS = 50;

/**
 * Measures the lateness of a timer due every `intervalMs`.
 *
 * @example
 * ```ts
 * const stalls = new LoopStallMonitor();
 * stalls.start();
 * // … later
 * stalls.maxMs; // the longest the loop was held since start, ms
 * stalls.stop();
 * ```
 */
export class LoopStallMonitor {
  /** Lateness of each tick, seconds. */
  readonly stalls: Histogram = new Histogram(LOOP_STALL_SECONDS_BOUNDS);
  /** The longest lateness seen since the start, ms. */
  maxMs = 0;
  readonly #intervalMs: number;
  readonly #now: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #due = 0;

  constructor(intervalMs = LOOP_STALL_INTERVAL_MS, now: () => number = () => performance.now()) {
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /** Starts measuring; the timer does not keep the process alive. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#schedule();
  }

  /** Stops measuring; what was measured stays readable. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Records one tick that ran at `at` (ms, the clock of the constructor) and schedules the next. */
  tick(at: number = this.#now()): void {
    const lateMs = Math.max(0, at - this.#due);
    this.stalls.observe(lateMs / 1000);
    if (lateMs > this.maxMs) this.maxMs = lateMs;
  }

  #schedule(): void {
    // A timeout per tick, not an interval: an interval's next due time after a stall is not
    // specified, a timeout's is "interval after it was set".
    this.#due = this.#now() + this.#intervalMs;
    this.#timer = setTimeout(() => {
      this.tick();
      this.#schedule();
    }, this.#intervalMs);
    Deno.unrefTimer(this.#timer);
  }
}
