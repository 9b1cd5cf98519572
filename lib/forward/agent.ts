/**
 * The agent that runs one forwarder: it reads committed readings after the durable cursor on
 * its own read connection, sends them in batches, advances the cursor only after the upstream
 * acknowledged, and retries failures with exponential backoff and jitter. It owns batching,
 * retries and shutdown; the {@link Forwarder} only delivers.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import type { ForwardLag, OutboxReader } from "../store/mod.ts";
import { type Forwarder, UpstreamError } from "./forwarder.ts";

/** Where the durable cursor lives: the store's single writer connection. */
export interface CursorStore {
  /** The cursor of `name`, created at 0 if it does not exist yet. */
  openCursor(name: string): number;
  /** Moves the cursor from `fromId` to `toId`; false if it was not at `fromId` (a replay moved it). */
  advanceCursor(name: string, fromId: number, toId: number): boolean;
}

/** Backoff settings, ms. */
export interface Backoff {
  /** First retry delay (before jitter). */
  baseMs: number;
  /** Largest retry delay for failures that may go away. */
  maxMs: number;
  /** Delay after a failure that will not go away by retrying (400, 401, 403, 404, bad credentials). */
  permanentMs: number;
}

/** The default backoff: 1 s doubling up to 10 s; 5 min after a permanent error. */
export const DEFAULT_BACKOFF: Readonly<Backoff> = Object.freeze({ baseMs: 1000, maxMs: 10_000, permanentMs: 300_000 });

/** Settings of one agent. */
export interface AgentOptions {
  name: string;
  /** The upstream without secrets, for logs. */
  display: string;
  batchSize: number;
  /** How often a caught-up agent looks for new rows, ms (default 250). */
  pollMs?: number;
  backoff?: Backoff;
  /** Random source in [0, 1); injectable for tests. */
  random?: () => number;
  /** The first id not to send yet (provisional readings before their re-stamp); none: send all. */
  holdFrom?: () => number | undefined;
  log: Logger;
}

/** What an agent did so far. */
export interface AgentCounters {
  /** Readings acknowledged by the upstream. */
  sent: number;
  /** Requests (or bursts of publishes) acknowledged. */
  batches: number;
  /** Failed attempts. */
  failures: number;
  /** The last failure, if any since the last success. */
  lastError: string | undefined;
}

/**
 * The delay before retry number `failures` (1-based): "equal jitter" exponential backoff, so
 * retries spread out but never come back-to-back; Retry-After is honoured when given.
 */
export function retryDelayMs(failures: number, error: unknown, backoff: Backoff, random: () => number): number {
  if (error instanceof UpstreamError && error.permanent) return backoff.permanentMs * (0.9 + 0.2 * random());
  const cap = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(failures - 1, 30));
  const jittered = cap / 2 + random() * cap / 2;
  if (error instanceof UpstreamError && error.retryAfterMs !== undefined) {
    return Math.min(Math.max(error.retryAfterMs, backoff.baseMs / 2), 3_600_000) + random() * backoff.baseMs / 2;
  }
  return jittered;
}

/** Runs one {@link Forwarder} against the outbox. */
export class ForwardAgent {
  readonly name: string;
  readonly counters: AgentCounters = { sent: 0, batches: 0, failures: 0, lastError: undefined };
  readonly #forwarder: Forwarder;
  readonly #cursors: CursorStore;
  readonly #reader: OutboxReader;
  readonly #options: Required<Omit<AgentOptions, "log" | "holdFrom">> & Pick<AgentOptions, "log" | "holdFrom">;
  #cursor = 0;
  #failuresInRow = 0;
  #lastWarnAt = -Infinity;
  #draining = false;
  #aborted = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  /** The lag when the agent stopped (its read connection is closed then). */
  #finalLag: ForwardLag | undefined;

  constructor(forwarder: Forwarder, cursors: CursorStore, reader: OutboxReader, options: AgentOptions) {
    this.name = options.name;
    this.#forwarder = forwarder;
    this.#cursors = cursors;
    this.#reader = reader;
    this.#options = { pollMs: 250, backoff: DEFAULT_BACKOFF, random: Math.random, ...options };
  }

  /** Reads the durable cursor and starts sending in the background. */
  start(): void {
    this.#cursor = this.#cursors.openCursor(this.name);
    this.#loop ??= this.#run();
  }

  /** The last acknowledged id. */
  get cursor(): number {
    return this.#cursor;
  }

  /** How far behind the log this forwarder is. */
  lag(nowMs: number = Date.now()): ForwardLag {
    if (this.#finalLag) return this.#finalLag;
    const lag = this.#reader.lag(this.name, this.#cursor, nowMs);
    const hold = this.#options.holdFrom?.();
    // The rows at or after the hold: committed, not sent, waiting for their re-stamp.
    if (hold !== undefined) lag.held = Math.max(0, Math.min(lag.rows, lag.rows - (hold - 1 - lag.cursor)));
    return lag;
  }

  /**
   * Sends what is still in the outbox for at most `budgetMs`, then stops; a request in flight at
   * the deadline is aborted and its rows stay in the outbox for the next run.
   */
  async stop(budgetMs: number): Promise<void> {
    this.#draining = true;
    const timer = setTimeout(() => this.abort(), Math.max(0, budgetMs));
    this.#wake?.();
    try {
      await this.#loop;
    } finally {
      clearTimeout(timer);
      await this.#forwarder.close();
      try {
        this.#finalLag = this.#reader.lag(this.name, this.#cursor);
      } catch {
        this.#finalLag = { name: this.name, cursor: this.#cursor, rows: NaN, seconds: NaN };
      }
      this.#reader.close();
    }
  }

  /** Stops at once: aborts a request in flight; nothing unacknowledged leaves the outbox. */
  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#forwarder.close().catch(() => {});
    this.#wake?.();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    }).finally(() => this.#wake = undefined);
  }

  async #run(): Promise<void> {
    const { batchSize, pollMs, backoff, random, log } = this.#options;
    while (!this.#aborted) {
      let rows;
      try {
        const hold = this.#options.holdFrom?.(); // asked first: rows committed later are not in this page
        rows = this.#reader.after(this.#cursor, batchSize);
        if (hold !== undefined && rows.length > 0 && rows[rows.length - 1].id >= hold) {
          rows = rows.filter((r) => r.id < hold);
        }
      } catch (e) {
        log.error("forwarder {name}: cannot read the outbox: {error}", { name: this.name, error: String(e) });
        if (this.#draining) return;
        await this.#sleep(backoff.maxMs);
        continue;
      }
      if (rows.length === 0) {
        if (this.#draining) return;
        await this.#sleep(pollMs);
        continue;
      }
      try {
        await this.#forwarder.send(rows);
      } catch (e) {
        if (this.#aborted) return;
        this.#failed(e, rows.length);
        if (this.#draining) return;
        await this.#sleep(retryDelayMs(this.#failuresInRow, e, backoff, random));
        continue;
      }
      const last = rows[rows.length - 1].id;
      try {
        if (this.#cursors.advanceCursor(this.name, this.#cursor, last)) {
          this.#cursor = last;
        } else {
          this.#cursor = this.#cursors.openCursor(this.name);
          log.info("forwarder {name}: cursor moved to {cursor} by a replay", { name: this.name, cursor: this.#cursor });
        }
      } catch (e) {
        // The rows were delivered but the cursor could not be saved: they will be sent again
        // (at-least-once), never skipped.
        this.#failed(e, rows.length);
        if (this.#draining) return;
        await this.#sleep(retryDelayMs(this.#failuresInRow, e, backoff, random));
        continue;
      }
      this.counters.sent += rows.length;
      this.counters.batches++;
      this.counters.lastError = undefined;
      if (this.#failuresInRow > 0) {
        log.info("forwarder {name}: delivering again after {failures} failed attempts", {
          name: this.name,
          failures: this.#failuresInRow,
          cursor: this.#cursor,
        });
        this.#failuresInRow = 0;
        this.#lastWarnAt = -Infinity;
      }
      if (rows.length < batchSize && !this.#draining) await this.#sleep(pollMs);
    }
  }

  #failed(e: unknown, rows: number): void {
    this.#failuresInRow++;
    this.counters.failures++;
    this.counters.lastError = String((e as Error)?.message ?? e);
    const log = this.#options.log;
    const fields = {
      name: this.name,
      upstream: this.#options.display,
      error: this.counters.lastError,
      failures: this.#failuresInRow,
      rows,
      cursor: this.#cursor,
    };
    if (e instanceof UpstreamError && e.permanent) {
      log.error(
        "forwarder {name}: {upstream} refused the batch and retrying will not help ({error}); check the URL, credentials and database; retrying in minutes, the readings stay in the outbox",
        fields,
      );
    } else if (performance.now() - this.#lastWarnAt > 30_000) {
      this.#lastWarnAt = performance.now();
      log.warn("forwarder {name}: sending failed, will retry with backoff: {error}", fields);
    }
  }
}
