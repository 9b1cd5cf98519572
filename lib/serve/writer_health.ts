/**
 * Is the writer committing? One rule set, used by `GET /healthz`, the dashboard banner and the
 * `edgelog_healthy` metric, so the three never disagree.
 *
 * @module
 */

import type { Counters } from "../pipeline.ts";
import type { Quarantined } from "../store/mod.ts";

/** Failed commits in a row after which the writer is unhealthy even before it goes stale. */
export const MAX_COMMIT_ERRORS_IN_ROW = 3;
/** Least time without a successful flush before the writer counts as stuck, ms. */
export const MIN_STALE_MS = 5_000;

/** What {@link evaluateHealth} looks at. */
export interface HealthInputs {
  counters: Readonly<Counters>;
  /** The unrecoverable writer error, if any (`Pipeline.fatalError`). */
  fatalError: unknown;
  commitIntervalMs: number;
  /** Wall clock now and when the logger started, unix ms. */
  now: number;
  startedAt: number;
  /** Damaged databases this logger moved aside (it logs into a fresh one): degraded. */
  quarantined?: readonly Quarantined[];
}

/** The verdict, as `GET /healthz` returns it. */
export interface HealthStatus {
  /** `degraded`: committing, but something needs a person (a damaged database was moved aside). */
  status: "ok" | "degraded" | "unhealthy";
  /** Why the writer is unhealthy or degraded; absent when healthy. */
  reason?: string;
  /** Seconds since the writer last left nothing pending (a commit or an idle tick); null before. */
  last_flush_age_s: number | null;
  /** Seconds since the last commit of readings; null before the first. */
  last_commit_age_s: number | null;
  commit_errors_in_row: number;
  pending: number;
  /** Age beyond which the writer counts as stuck, seconds. */
  stale_after_s: number;
}

/** Time without a successful flush after which the writer counts as stuck, ms. */
export function staleAfterMs(commitIntervalMs: number): number {
  return Math.max(MIN_STALE_MS, 4 * commitIntervalMs);
}

/**
 * Degraded (still committing, HTTP 200) when a damaged database was moved aside.
 * Healthy while the writer keeps committing: no fatal error, fewer than
 * {@link MAX_COMMIT_ERRORS_IN_ROW} failed commits in a row, and a successful flush (a commit, or
 * a tick with nothing to commit: an idle logger is healthy) within {@link staleAfterMs}.
 *
 * @example
 * ```ts
 * const h = evaluateHealth({ counters: pipeline.counters, fatalError: pipeline.fatalError,
 *   commitIntervalMs: 250, now: Date.now(), startedAt });
 * if (h.status !== "ok") console.log(h.reason);
 * ```
 */
export function evaluateHealth(input: HealthInputs): HealthStatus {
  const c = input.counters;
  const staleMs = staleAfterMs(input.commitIntervalMs);
  const age = (at: number) => at > 0 ? Math.max(0, (input.now - at) / 1000) : null;
  const status: HealthStatus = {
    status: "ok",
    last_flush_age_s: age(c.lastFlushOkAt),
    last_commit_age_s: age(c.lastCommitAt),
    commit_errors_in_row: c.commitErrorsInRow,
    pending: c.pending,
    stale_after_s: staleMs / 1000,
  };
  const since = c.lastFlushOkAt > 0 ? c.lastFlushOkAt : input.startedAt;
  let reason: string | undefined;
  if (input.fatalError !== undefined) {
    reason = `the writer stopped: ${String(input.fatalError)}`;
  } else if (c.commitErrorsInRow >= MAX_COMMIT_ERRORS_IN_ROW) {
    reason = `${c.commitErrorsInRow} commits failed in a row (disk full or I/O error?); ${c.pending} readings waiting`;
  } else if (input.now - since > staleMs) {
    reason = `the writer has not committed for ${Math.round((input.now - since) / 1000)} s`;
  }
  if (reason !== undefined) {
    status.status = "unhealthy";
    status.reason = reason;
  } else if (input.quarantined !== undefined && input.quarantined.length > 0) {
    const last = input.quarantined[input.quarantined.length - 1];
    status.status = "degraded";
    status.reason = `the database was damaged (${last.reason}); it was moved to ${last.to} and logging goes on ` +
      `in a fresh ${last.from}: recover its readings with edgelog salvage ${last.to} --db ${last.from}`;
  }
  return status;
}
