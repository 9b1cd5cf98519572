/**
 * Counting and reporting refused input: every refusal is counted by reason in the pipeline's
 * counters; the log gets at most one line per reason and interval, saying how many were refused
 * meanwhile, so a flood of bad input cannot flood the log.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { logger } from "../log.ts";
import type { RejectReason } from "./_reading_parser.ts";

/** What rejections are counted into (the pipeline). */
export interface RejectCounter {
  reject(reason: string, n?: number): void;
}

/** Options of {@link Rejections}. */
export interface RejectionsOptions {
  /** Least time between two log lines of one reason, ms (default 10 000). */
  logIntervalMs?: number;
  /** Monotonic clock, ms; injectable for tests. */
  now?: () => number;
  log?: Logger;
}

/**
 * The refusals of one source.
 *
 * @example
 * ```ts
 * const rejections = new Rejections("stdin", pipeline);
 * rejections.reject("invalid_json", "not valid JSON", "line 7");
 * ```
 */
export class Rejections {
  readonly #source: string;
  readonly #counter: RejectCounter;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #state = new Map<RejectReason, { lastLogAt: number; unlogged: number }>();

  constructor(source: string, counter: RejectCounter, options: RejectionsOptions = {}) {
    this.#source = source;
    this.#counter = counter;
    this.#intervalMs = options.logIntervalMs ?? 10_000;
    this.#now = options.now ?? (() => performance.now());
    this.#log = options.log ?? logger("sources");
  }

  /** Counts `n` refused readings under `reason` without logging (the caller logs its own way). */
  count(reason: RejectReason, n = 1): void {
    this.#counter.reject(reason, n);
  }

  /** Counts `n` refused readings under `reason` and logs, rate-limited per reason. */
  reject(reason: RejectReason, message: string, where?: string, n = 1): void {
    this.#counter.reject(reason, n);
    let state = this.#state.get(reason);
    if (!state) this.#state.set(reason, state = { lastLogAt: -Infinity, unlogged: 0 });
    const now = this.#now();
    if (now - state.lastLogAt < this.#intervalMs) {
      state.unlogged += n;
      return;
    }
    this.#log.warn(
      "{source}: rejected input ({reason}) at {where}: {problem}; {unlogged} more of this reason since the last report",
      {
        source: this.#source,
        reason,
        where: where ?? "input",
        problem: message,
        unlogged: state.unlogged,
      },
    );
    state.lastLogAt = now;
    state.unlogged = 0;
  }
}
