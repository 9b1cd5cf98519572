/**
 * Start-up and the ordered shutdown: the durability contract, written once, top to bottom, in
 * {@link runLogger}.
 *
 * Longer than 400 lines because the contract is read in one place: every step of the start and
 * of the stop is here, in the order it runs.
 *
 * ```
 * start:  listener settings → store (vetted, locked) → clock → pipeline → sources → routes, listener
 *         → forwarders → sources start → retention, clock, checkpoint and stats timers
 * while:  SIGHUP → reload (sources, listener, forwarders, retention, log level; the buffer stays)
 *         a commit finds the file corrupt → damaged? move it aside, fresh store : retry
 * stop:   1 stop intake (timers, listener, sources) → 2 commit every reading taken
 *         → 3 forwarders flush (bounded; skipped when hurried) → 4 checkpoint(TRUNCATE) and close
 *         → 5 final record, exit code
 * ```
 *
 * @module
 */

import { checkpointIntervalOf, type RunConfig } from "./config.ts";
import { logQuarantine, recoverFromDamage } from "./damage_recovery.ts";
import { DatabaseError, ExitCode, ListenError } from "./errors.ts";
import type { Forwarding } from "./forward/mod.ts";
import { logger } from "./log.ts";
import { type Counters, Pipeline } from "./pipeline.ts";
import { listenForReload } from "./reload.ts";
import { COMMIT_ERROR_LOG_MS, type RunDeps, type Running, startForwarders, startRetention } from "./running.ts";
import { HttpServer, registerRoutes, type RoutesDeps } from "./serve/mod.ts";
import { createSources } from "./sources/mod.ts";
import type { StopSignal } from "./stop_signal.ts";
import { type CheckpointResult, isCorruptionError, SCHEMA_VERSION, Store } from "./store/mod.ts";
import { SystemdNotifier } from "./systemd_notify.ts";
import { Timekeeping } from "./timekeeping.ts";

export type { RunDeps } from "./running.ts";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits for `promise`, but at most `ms`; resolves either way. */
async function withinMs(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise, new Promise((resolve) => timer = setTimeout(resolve, Math.max(0, ms)))]);
  clearTimeout(timer);
}

/** Time between retries of a failing commit while stopping, ms. */
const RETRY_MS = 50;
/**
 * Busy timeout of one final TRUNCATE attempt, ms. Short attempts repeated until the deadline,
 * because one long busy wait can lose every time to readers that query back to back.
 */
const CHECKPOINT_ATTEMPT_MS = 20;
/** Share of the remaining shutdown deadline the forwarders may use to flush. */
const FORWARD_FLUSH_SHARE = 0.5;
/** Time kept back from the forwarders' flush for the checkpoint and close, ms. */
const CLOSE_RESERVE_MS = 1500;
/** How long past the shutdown deadline the watchdog waits before ending the process, ms. */
const WATCHDOG_GRACE_MS = 500;
/** How long systemd is asked to wait for READY=1 while the database opens and is checked, ms. */
const START_TIMEOUT_EXTENSION_MS = 10 * 60_000;

/**
 * Runs the logger until a stop is requested, then shuts down in the contract's order.
 * Returns the exit code; throws LockedError/DatabaseError when the database cannot be opened,
 * ListenError when the listener cannot bind (having released whatever it had opened).
 */
export async function runLogger(config: RunConfig, stop: StopSignal, deps: RunDeps): Promise<number> {
  const started = performance.now();
  if (stop.stopping) {
    logFinalRecord(undefined, null, await stop.requested, started, stop);
    return ExitCode.ok;
  }
  const notifier = deps.notifier ?? SystemdNotifier.fromEnv({
    onError: (error) => logger().warn("cannot notify systemd: {error}", { error }),
  });
  // Vetting a big file after a power cut (quick_check) can outlast systemd's start timeout on a
  // slow card: ask for more time while the database opens.
  void notifier?.send(`EXTEND_TIMEOUT_USEC=${START_TIMEOUT_EXTENSION_MS * 1000}`, "STATUS=opening the database");
  const hangUp = deps.reloadConfig ? listenForReload(stop, deps, notifier) : undefined;
  let run: Running;
  try {
    run = await start(config, stop, deps);
  } catch (e) {
    await hangUp?.finish();
    throw e;
  }
  hangUp?.started(run);
  if (notifier) {
    void notifier.send("READY=1", `STATUS=logging to ${run.store.path}`);
    if (notifier.env.heartbeatMs !== undefined) run.timers.push(startHeartbeat(run, notifier, config));
  }
  const reason = await stop.requested;
  const stopping = notifier?.send("STOPPING=1", `STATUS=stopping (${reason})`);
  config = run.config;
  const deadline = stop.firstAt + config.shutdownTimeoutMs;
  const remaining = () => deadline - performance.now();
  stop.onRepeat((again) => {
    logger().warn("{signal} again: hurrying the shutdown (still committing and closing)", { signal: again });
    run.forwarding?.abort();
  });
  logger().info("stopping ({reason}): committing {pending} pending readings", {
    reason,
    pending: run.pipeline.pendingCount,
  });
  // Nothing below may hold the stop past its deadline (Docker's SIGKILL follows at 10 s): if an
  // await hangs (a source that does not stop, a request that never ends), end the process. What
  // was committed is safe in the WAL; the next start recovers it.
  const watchdog = setTimeout(() => {
    logger().fatal(
      "the shutdown overran its {timeout_ms} ms deadline; exiting now ({pending} readings not committed)",
      {
        timeout_ms: config.shutdownTimeoutMs,
        pending: run.pipeline.pendingCount,
      },
    );
    (deps.exit ?? Deno.exit)(ExitCode.failure);
  }, Math.max(0, remaining()) + WATCHDOG_GRACE_MS);

  // A reload under way finishes first (it does not start anything once the stop is requested).
  await withinMs(hangUp?.finish() ?? Promise.resolve(), remaining() / 4);
  await stopIntake(run, remaining);
  await commitEverything(run.pipeline, remaining);
  run.clock.restampPending(); // a segment that closed just before the stop
  await flushForwarders(run.forwarding, stop, remaining);
  const checkpoint = await checkpointAndClose(run, stop, remaining);

  clearTimeout(watchdog);
  await withinMs(stopping ?? Promise.resolve(), Math.min(remaining(), CLOSE_RESERVE_MS)); // sent before exiting
  return exitCode(run, checkpoint, reason, started, stop);
}

/**
 * Opens and starts everything, in order. If a step fails, what the earlier steps opened is
 * released in reverse order (timers cleared, sources and listener stopped, the database closed
 * and its lock released) before the error propagates.
 */
async function start(config: RunConfig, stop: StopSignal, deps: RunDeps): Promise<Running> {
  const log = logger();
  await using opened = new AsyncDisposableStack();
  // Validate the listener settings before touching the database.
  const http = config.listen !== undefined
    ? new HttpServer({ listen: config.listen, token: config.httpToken })
    : undefined;
  const store = opened.adopt(
    Store.open(config.db, { durability: config.durability, onDamage: config.onDamage }),
    (s) => s.close(),
  );
  if (store.quarantined) logQuarantine(store.quarantined, "at start");
  log.info("edgelog {version} logging to {db} (durability {durability}, SQLite {sqlite_version})", {
    version: deps.version,
    db: store.path,
    durability: config.durability,
    sqlite_version: store.sqliteVersion,
    commit_interval_ms: config.commitIntervalMs,
    batch_size: config.batchSize,
    pid: Deno.pid,
  });
  if (store.migratedFrom > 0 && store.migratedFrom < SCHEMA_VERSION) {
    log.info(
      "upgraded {db} from schema {from} to {to}: readings older than {compact_after_ms} ms move into compressed chunks in the background",
      { db: store.path, from: store.migratedFrom, to: SCHEMA_VERSION, compact_after_ms: config.compactAfterMs },
    );
  }

  // The clock before the pipeline and the sources: they stamp with it.
  let currentStore = () => store;
  const clock = await Timekeeping.start(config, () => currentStore());
  // A start that fails after a source took readings still commits them before closing.
  let onDamage = () => stop.request("writer failed"); // until the parts recovery needs exist
  const pipeline = opened.adopt(createPipeline(config, store, stop, () => onDamage(), clock), (p) => {
    p.stopTimers();
    p.flush(Number.MAX_SAFE_INTEGER);
    p.close();
  });
  const sources = (deps.createSources ?? createSources)(config, {
    pipeline,
    http,
    knownSensors: store.sensorNames(),
    now: clock.guard.now,
  });
  const run: Running = {
    store,
    pipeline,
    http,
    routes: undefined,
    sources,
    forwarding: undefined,
    retention: undefined,
    timers: [],
    quarantined: store.quarantined ? [store.quarantined] : [],
    recovering: false,
    notDamageLoggedAt: -Infinity,
    config,
    routeDeps: undefined as unknown as RoutesDeps,
    clock,
  };
  currentStore = () => run.store;
  clock.bind(pipeline);
  const routeDeps: RoutesDeps = run.routeDeps = {
    pipeline,
    store,
    version: deps.version,
    commitIntervalMs: config.commitIntervalMs,
    bufferSize: config.bufferSize,
    startedAt: Date.now(),
    forwarders: () => run.forwarding?.lag() ?? [],
    quarantined: () => run.quarantined,
    clock: () => clock.report(),
  };
  onDamage = () => void recoverFromDamage(run, run.config, deps, stop, (s) => routeDeps.store = s);
  if (http) {
    run.routes = await registerRoutes(http, routeDeps);
    opened.defer(() => run.routes!.close());
  }
  pipeline.start();
  if (http) {
    try {
      await http.start();
    } catch (e) {
      throw new ListenError(`cannot listen on ${config.listen}: ${(e as Error).message}`);
    }
    opened.defer(() => http.stop());
    log.info("HTTP listener on {hostname}:{port}", { hostname: http.hostname, port: http.port });
  }
  // Forwarders read committed rows on their own connections and keep their cursors through the
  // store; they start after the store is open and stop after the final commit.
  if (config.forward.length > 0) {
    run.forwarding = startForwarders(config.forward, run, deps);
    opened.defer(() => run.forwarding!.flush(0));
  }
  for (const source of sources) {
    await source.start(pipeline.emitFor(source.name));
    opened.defer(() => source.stop());
  }
  const endedSources = sources.filter((s) => s.ended !== undefined);
  if (endedSources.length > 0 && endedSources.length === sources.length) {
    Promise.all(endedSources.map((s) => s.ended)).then(() => stop.request("all sources ended"));
  }
  run.retention = startRetention(config, store, clock);
  run.timers.push(clock.startTimer());
  run.timers.push(startCheckpointTimer(() => run.store, checkpointIntervalOf(config)));
  run.timers.push(startStatsTimer(run, config.statsIntervalMs));
  opened.move(); // started: from here on the shutdown steps release everything
  return run;
}

/**
 * The pipeline in front of the store, logging commit failures (at most every 10 s). A commit
 * that finds the file corrupt calls `onCorrupt`; any other failure that will not go away stops.
 */
function createPipeline(
  config: RunConfig,
  store: Store,
  stop: StopSignal,
  onCorrupt: () => void,
  clock: Timekeeping,
): Pipeline {
  const log = logger();
  let lastErrorLogAt = -Infinity;
  const pipeline: Pipeline = new Pipeline(store, {
    commitIntervalMs: config.commitIntervalMs,
    batchSize: config.batchSize,
    bufferSize: config.bufferSize,
    clock: clock.guard,
    onCommitError: (error, transient) => {
      const now = performance.now();
      if (!transient && isCorruptionError(error)) {
        if (now - lastErrorLogAt > COMMIT_ERROR_LOG_MS) {
          lastErrorLogAt = now;
          log.error("a commit found the database corrupt: {error}", { error: String(error) });
        }
        onCorrupt();
      } else if (!transient) {
        log.fatal("the database cannot be written any more: {error}; stopping", { error: String(error) });
        stop.request("writer failed");
      } else if (now - lastErrorLogAt > COMMIT_ERROR_LOG_MS) {
        lastErrorLogAt = now;
        log.error("commit failed, will retry: {error} ({pending} readings waiting, {dropped} dropped so far)", {
          error: String(error),
          pending: pipeline.pendingCount,
          dropped: pipeline.counters.dropped,
          commit_errors: pipeline.counters.commitErrors,
        });
      }
    },
    onRecovered: (failures) => {
      lastErrorLogAt = -Infinity;
      log.info("writing resumed after {failures} failed commits", { failures, dropped: pipeline.counters.dropped });
    },
  });
  return pipeline;
}

/** A PASSIVE checkpoint every `intervalMs`, besides SQLite's auto-checkpoint (contract item 5). */
function startCheckpointTimer(store: () => Store, intervalMs: number): ReturnType<typeof setInterval> {
  const log = logger();
  return setInterval(() => {
    try {
      const result = store().checkpoint("PASSIVE");
      log.debug("checkpoint {mode}: busy {busy}, log {log}, checkpointed {checkpointed}", { ...result });
    } catch (e) {
      log.warn("periodic checkpoint failed: {error}", { error: String(e) });
    }
  }, intervalMs);
}

/**
 * `WATCHDOG=1` every half `WatchdogSec`, only while the writer loop ticks (its timer attempted a
 * flush recently, whether the disk let it commit or not: a failing disk is not cured by a
 * restart). A hung writer blocks the event loop or stops ticking, the heartbeats stop, and
 * systemd restarts the service.
 */
function startHeartbeat(run: Running, notifier: SystemdNotifier, config: RunConfig): ReturnType<typeof setInterval> {
  const everyMs = notifier.env.heartbeatMs!;
  const tickWithinMs = 2 * Math.max(config.commitIntervalMs, everyMs);
  return setInterval(() => {
    if (Date.now() - run.pipeline.counters.lastFlushAt <= tickWithinMs) void notifier.send("WATCHDOG=1");
  }, everyMs);
}

/** The periodic stats record. */
function startStatsTimer(run: Running, intervalMs: number): ReturnType<typeof setInterval> {
  const log = logger();
  return setInterval(() => {
    const c = run.pipeline.counters;
    log.info("stats: {taken} taken, {stored} stored, {dropped} dropped, {rejected} rejected, {pending} pending", {
      ...c,
      ...(run.retention ? { retention: { ...run.retention.counters } } : {}),
    });
  }, intervalMs);
}

/**
 * Step 1. Sources stop: nothing new is taken from here on. The HTTP listener stops accepting and
 * finishes the requests in flight (their readings are taken, so they get committed). Requests
 * still running after half the time left are abandoned: their readings were taken before they
 * wait, so the final commit still stores them.
 */
async function stopIntake(run: Running, remaining: () => number): Promise<void> {
  const log = logger();
  for (const timer of run.timers) clearInterval(timer);
  run.retention?.stop();
  try {
    if (run.http) await withinMs(run.http.stop(), remaining() / 2);
  } catch (e) {
    log.warn("HTTP listener did not stop cleanly: {error}", { error: String(e) });
  }
  await run.routes?.close();
  for (const source of run.sources) {
    try {
      await source.stop();
    } catch (e) {
      log.warn("source {source} did not stop cleanly: {error}", { source: source.name, error: String(e) });
    }
  }
}

/** Step 2. Every reading already taken is committed, in one group (retrying a failing disk until the deadline). */
async function commitEverything(pipeline: Pipeline, remaining: () => number): Promise<void> {
  pipeline.stopTimers();
  const oneGroup = Number.MAX_SAFE_INTEGER; // one transaction, one fsync, for the whole drain
  while (!pipeline.flush(oneGroup) && pipeline.fatalError === undefined && remaining() > RETRY_MS) {
    await sleep(RETRY_MS);
  }
}

/**
 * Step 3. Forwarders get a bounded share of what is left of the deadline to send what they have
 * (nothing when hurried); what they did not get acknowledged stays in the outbox.
 */
async function flushForwarders(
  forwarding: Forwarding | undefined,
  stop: StopSignal,
  remaining: () => number,
): Promise<void> {
  if (!forwarding) return;
  if (stop.hurried) forwarding.abort();
  const budgetMs = stop.hurried ? 0 : Math.min(remaining() * FORWARD_FLUSH_SHARE, remaining() - CLOSE_RESERVE_MS);
  const t0 = performance.now();
  await forwarding.flush(budgetMs);
  for (const lag of forwarding.lag()) {
    logger().info("forwarder {name} stopped at id {cursor}: {rows} readings left in the outbox", {
      ...lag,
      flush_ms: Math.round(performance.now() - t0),
    });
  }
}

/**
 * Step 4. Checkpoint the WAL into the database file (so the `.db` alone holds everything), then
 * close the database and release the writer lock. Readers can make TRUNCATE wait; it never
 * waits past the shutdown deadline.
 */
async function checkpointAndClose(
  run: Running,
  stop: StopSignal,
  remaining: () => number,
): Promise<CheckpointResult | null> {
  const log = logger();
  let checkpoint: CheckpointResult | null = null;
  if (run.pipeline.fatalError === undefined) {
    try {
      const attemptMs = () => Math.min(CHECKPOINT_ATTEMPT_MS, remaining() - RETRY_MS);
      checkpoint = run.store.checkpointTruncate(attemptMs());
      while (checkpoint.busy && !stop.hurried && remaining() > 2 * RETRY_MS) {
        await sleep(1);
        checkpoint = run.store.checkpointTruncate(attemptMs());
      }
      const level = checkpoint.busy ? "warn" : "info";
      log[level]("checkpoint TRUNCATE: busy {busy}, log {log}, checkpointed {checkpointed}", { ...checkpoint });
    } catch (e) {
      log.error("final checkpoint failed: {error}; the WAL keeps the data and is recovered on the next start", {
        error: String(e),
      });
    }
  }
  run.pipeline.close();
  try {
    run.store.close();
  } catch (e) {
    log.error("closing the database failed: {error}", { error: String(e) });
  }
  return checkpoint;
}

/** Step 5. The final record, and the exit code it implies. */
function exitCode(
  run: Running,
  checkpoint: CheckpointResult | null,
  reason: string,
  started: number,
  stop: StopSignal,
): number {
  const counters = run.pipeline.counters;
  logFinalRecord(counters, checkpoint, reason, started, stop, run.pipeline.loopStalls.maxMs);
  const fatal = run.pipeline.fatalError;
  if (fatal !== undefined) {
    if (isCorruptionError(fatal)) {
      throw new DatabaseError(`${run.store.path} became unreadable while logging: ${String(fatal)}`);
    }
    return ExitCode.failure;
  }
  if (counters.pending > 0) {
    logger().error("{unstored} readings could not be committed before the shutdown deadline", {
      unstored: counters.pending,
    });
    return ExitCode.failure;
  }
  return ExitCode.ok;
}

/** The one record a stop always ends with: what was taken, stored, dropped, and how it stopped. */
function logFinalRecord(
  counters: Counters | undefined,
  checkpoint: CheckpointResult | null,
  reason: string,
  started: number,
  stop: StopSignal,
  loopStallMaxMs = 0,
): void {
  const c = counters ?? { taken: 0, stored: 0, dropped: 0, rejected: 0, pending: 0, commitErrors: 0 };
  // Without a database (stopped before it was opened) there is no WAL to leave behind.
  const walTruncated = counters === undefined || (checkpoint !== null && checkpoint.busy === 0);
  const message = walTruncated
    ? "stopped ({reason}): {taken} taken, {stored} stored, {dropped} dropped in {duration_ms} ms"
    : "stopped ({reason}): {taken} taken, {stored} stored, {dropped} dropped in {duration_ms} ms; " +
      "the WAL was NOT truncated (a reader held a snapshot, or the checkpoint failed): the stored readings are " +
      "committed in the -wal file, so copy it with the .db file, or start edgelog once more to fold it in";
  logger()[walTruncated ? "info" : "warn"](message, {
    reason,
    taken: c.taken,
    stored: c.stored,
    dropped: c.dropped,
    rejected: c.rejected,
    rejected_by_reason: "rejectedByReason" in c ? c.rejectedByReason : {},
    unstored: c.pending,
    commit_errors: c.commitErrors,
    checkpoint,
    wal_truncated: walTruncated,
    duration_ms: Math.round(performance.now() - started),
    loop_stall_max_ms: Math.round(loopStallMaxMs),
    shutdown_ms: stop.stopping ? Math.round(performance.now() - stop.firstAt) : 0,
  });
}
