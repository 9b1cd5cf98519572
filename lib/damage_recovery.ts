/**
 * A damaged database found while logging: a commit reported corruption. Told apart from a failing
 * card (reads failing with EIO look like corruption to SQLite), then either retried, moved aside
 * for a fresh database (`--on-damage quarantine`), or the logger stops (`refuse`).
 *
 * @module
 */

import type { RunConfig } from "./config.ts";
import { logger } from "./log.ts";
import { COMMIT_ERROR_LOG_MS, type RunDeps, type Running, startForwarders, startRetention } from "./running.ts";
import type { StopSignal } from "./stop_signal.ts";
import { type Quarantined, Store } from "./store/mod.ts";

/** The loud record of a damaged database moved aside. */
export function logQuarantine(q: Quarantined, when: string): void {
  logger().error(
    "DAMAGED DATABASE {when}: {from} ({reason}) was moved to {to}, unchanged; logging goes on in a fresh database. " +
      "Recover its readings with: edgelog salvage {to} --db {from}",
    { when, from: q.from, to: q.to, reason: q.reason },
  );
}

/**
 * A commit found the database corrupt. Sources keep running and the
 * pipeline keeps the readings meanwhile (bounded, as on a full disk). If a second look confirms
 * damage, the store-bound parts stop (housekeeping, forwarders), the file is moved aside, a fresh
 * database opens at the same path and everything resumes, the pending readings first. A failing
 * read (SQLite reports EIO as "malformed") or a file that looks sound now is retried instead.
 * With `--on-damage refuse` confirmed damage stops the logger (exit code 4), as before.
 */
export async function recoverFromDamage(
  run: Running,
  config: RunConfig,
  deps: RunDeps,
  stop: StopSignal,
  setRouteStore: (store: Store) => void,
): Promise<void> {
  if (run.recovering || stop.stopping) return;
  run.recovering = true;
  const log = logger();
  try {
    const diagnosis = run.store.diagnose();
    if (diagnosis.kind !== "damaged") {
      // A failing card (reads fail with EIO, which SQLite reports as "malformed"): handled like a
      // full disk, the readings wait in the buffer and the commit is retried.
      if (performance.now() - run.notDamageLoggedAt > COMMIT_ERROR_LOG_MS) {
        run.notDamageLoggedAt = performance.now();
        log.error("the database looked corrupt but is {kind}{detail}: not moved aside; the commit will be retried", {
          kind: diagnosis.kind === "unreadable" ? "unreadable (is its disk failing?)" : "sound on a second look",
          detail: diagnosis.kind === "unreadable" ? `: ${diagnosis.detail}` : "",
        });
      }
      run.pipeline.resume();
      return;
    }
    if (config.onDamage === "refuse") {
      log.fatal("the database is damaged ({detail}); stopping (--on-damage refuse)", { detail: diagnosis.detail });
      stop.request("writer failed");
      return;
    }
    run.retention?.stop();
    if (run.forwarding) {
      run.forwarding.abort();
      await run.forwarding.flush(0);
      run.forwarding = undefined;
    }
    const moved = run.store.abandonDamaged(diagnosis.detail);
    run.quarantined.push(moved);
    logQuarantine(moved, "while logging");
    try {
      run.store = Store.open(config.db, { durability: config.durability, onDamage: config.onDamage });
    } catch (e) {
      log.fatal("cannot start a fresh database after moving the damaged one aside: {error}; stopping", {
        error: String(e),
      });
      stop.request("writer failed");
      return;
    }
    setRouteStore(run.store);
    await run.routes?.reopen().catch((e) =>
      log.warn("the read API could not open the fresh database: {error}", { error: String(e) })
    );
    run.pipeline.resume(run.store);
    run.retention = startRetention(config, run.store, run.clock);
    if (config.forward.length > 0) run.forwarding = startForwarders(config.forward, run, deps);
  } finally {
    run.recovering = false;
  }
}
