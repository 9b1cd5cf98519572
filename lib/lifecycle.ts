/**
 * Start-up and the ordered shutdown: the durability contract, written once, top to bottom, in
 * {@link runLogger}.
 *
 * Longer than 400 lines because the contract is read in one place: every step of the start and
 * of the stop is here, in the order it runs.
 *
 * ```
 * start:  listener settings → store (vetted, locked) → pipeline → sources → routes, listener
 *         → forwarders → sources start → retention, checkpoint and stats timers
 * while:  SIGHUP → reload (sources, listener, forwarders, retention, log level; the buffer stays)
 *         a commit finds the file corrupt → damaged? move it aside, fresh store : retry
 * stop:   1 stop intake (timers, listener, sources) → 2 commit every reading taken
 *         → 3 forwarders flush (bounded; skipped when hurried) → 4 checkpoint(TRUNCATE) and close
 *         → 5 final record, exit code
 * ```
 *
 * @module
 */

import type { RunConfig } from "./config.ts";
import { ConfigError, DatabaseError, ExitCode, ListenError } from "./errors.ts";
import { type Forwarding, startForwarding } from "./forward/mod.ts";
import { logger, setupLogging } from "./log.ts";
import { type Counters, Pipeline } from "./pipeline.ts";
import { HttpServer, registerRoutes, type Routes, type RoutesDeps } from "./serve/mod.ts";
import { createSources, type Source, type SourceContext, type SourceSettings } from "./sources/mod.ts";
import type { StopSignal } from "./stop_signal.ts";
import { SystemdNotifier } from "./systemd_notify.ts";
import {
  type CheckpointResult,
  isCorruptionError,
  type Quarantined,
  Retention,
  SCHEMA_VERSION,
  Store,
} from "./store/mod.ts";

/** What {@link runLogger} needs besides the config; injectable for tests. */
export interface RunDeps {
  version: string;
  /** Builds the sources; by default {@link createSources} from `lib/sources/mod.ts`. */
  createSources?: (settings: SourceSettings, context: SourceContext) => Source[];
  /** Starts the forwarders; by default {@link startForwarding} from `lib/forward/mod.ts`. */
  startForwarding?: typeof startForwarding;
  /** Ends the process when the shutdown overruns its deadline; `Deno.exit` by default. */
  exit?: (code: number) => void;
  /** Tells systemd how it is doing; by default from `NOTIFY_SOCKET`, none outside systemd. */
  notifier?: SystemdNotifier;
  /**
   * Reads the configuration again (file and environment) for SIGHUP; throws ConfigError when it
   * is invalid. Without it SIGHUP is not handled.
   */
  reloadConfig?: () => RunConfig;
}

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
/** Least time between two log records of the same recurring failure, ms. */
const COMMIT_ERROR_LOG_MS = 10_000;
const RETENTION_LOG_MS = 60_000;

/** Everything a started logger holds, in the order it was opened. */
interface Running {
  store: Store;
  pipeline: Pipeline;
  http: HttpServer | undefined;
  routes: Routes | undefined;
  sources: Source[];
  forwarding: Forwarding | undefined;
  retention: Retention | undefined;
  timers: ReturnType<typeof setInterval>[];
  /** Damaged databases moved aside since the start (at open, or found while logging). */
  quarantined: Quarantined[];
  /** Set while a damage found by a commit is being looked at. */
  recovering: boolean;
  /** When a corrupt-looking commit that was not damage was last logged (performance.now()). */
  notDamageLoggedAt: number;
  /** The configuration in force (SIGHUP replaces the parts that change live). */
  config: RunConfig;
  /** What the routes read; the same object across listener restarts. */
  routeDeps: RoutesDeps;
}

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
  const run = await start(config, stop, deps);
  if (notifier) {
    void notifier.send("READY=1", `STATUS=logging to ${run.store.path}`);
    if (notifier.env.heartbeatMs !== undefined) run.timers.push(startHeartbeat(run, notifier, config));
  }
  const hangUp = deps.reloadConfig ? listenForReload(run, stop, deps, notifier) : undefined;
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
  await withinMs(hangUp?.() ?? Promise.resolve(), remaining() / 4);
  await stopIntake(run, remaining);
  await commitEverything(run.pipeline, remaining);
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

  // A start that fails after a source took readings still commits them before closing.
  let onDamage = () => stop.request("writer failed"); // until the parts recovery needs exist
  const pipeline = opened.adopt(createPipeline(config, store, stop, () => onDamage()), (p) => {
    p.stopTimers();
    p.flush(Number.MAX_SAFE_INTEGER);
    p.close();
  });
  const sources = (deps.createSources ?? createSources)(config, {
    pipeline,
    http,
    knownSensors: store.sensorNames(),
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
  };
  const routeDeps: RoutesDeps = run.routeDeps = {
    pipeline,
    store,
    version: deps.version,
    commitIntervalMs: config.commitIntervalMs,
    bufferSize: config.bufferSize,
    startedAt: Date.now(),
    forwarders: () => run.forwarding?.lag() ?? [],
    quarantined: () => run.quarantined,
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
    run.forwarding = (deps.startForwarding ?? startForwarding)(config.forward, store, { dbPath: store.path, log });
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
  run.retention = startRetention(config, store);
  run.timers.push(startCheckpointTimer(() => run.store, config.checkpointIntervalMs));
  run.timers.push(startStatsTimer(run, config.statsIntervalMs));
  opened.move(); // started: from here on the shutdown steps release everything
  return run;
}

/**
 * The pipeline in front of the store, logging commit failures (at most every 10 s). A commit
 * that finds the file corrupt calls `onCorrupt`; any other failure that will not go away stops.
 */
function createPipeline(config: RunConfig, store: Store, stop: StopSignal, onCorrupt: () => void): Pipeline {
  const log = logger();
  let lastErrorLogAt = -Infinity;
  const pipeline: Pipeline = new Pipeline(store, {
    commitIntervalMs: config.commitIntervalMs,
    batchSize: config.batchSize,
    bufferSize: config.bufferSize,
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

/**
 * Housekeeping in short steps between group commits on the writer's connection: compaction
 * always, retention and downsampling when configured.
 */
function startRetention(config: RunConfig, store: Store): Retention {
  const log = logger();
  let lastErrorAt = -Infinity;
  let lastUnsentWarningAt = -Infinity;
  const retention = store.retention({
    ...config,
    onError: (error) => {
      if (performance.now() - lastErrorAt < RETENTION_LOG_MS) return; // counted in the stats record
      lastErrorAt = performance.now();
      log.warn("retention step failed, will retry: {error}", { error: String(error) });
    },
    onUnsentDeleted: (forwarders) => {
      if (performance.now() - lastUnsentWarningAt < RETENTION_LOG_MS) return;
      lastUnsentWarningAt = performance.now();
      log.warn("retention deleted readings that {forwarders} had not sent yet; they are lost for them", {
        forwarders,
      });
    },
  });
  retention.start();
  if (Retention.isEnabled(config)) {
    log.info(
      "retention on: {retention_ms} ms, max {max_db_size_bytes} bytes, downsample after {downsample_after_ms} ms",
      {
        retention_ms: config.retentionMs ?? null,
        max_db_size_bytes: config.maxDbSizeBytes ?? null,
        downsample_after_ms: config.downsampleAfterMs ?? null,
        downsample_bucket_ms: config.downsampleBucketMs,
      },
    );
  }
  return retention;
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

/** Settings read once at start: a change is logged as needing a restart, the old value stays. */
const RESTART_ONLY: readonly (keyof RunConfig)[] = [
  "db",
  "durability",
  "commitIntervalMs",
  "batchSize",
  "bufferSize",
  "checkpointIntervalMs",
  "statsIntervalMs",
  "logFormat",
];
/** Settings of the listener; the rest not named here belong to the sources. */
const LISTENER: readonly (keyof RunConfig)[] = ["listen", "httpToken"];
const RETENTION: readonly (keyof RunConfig)[] = [
  "retentionMs",
  "maxDbSizeBytes",
  "downsampleAfterMs",
  "downsampleBucketMs",
  "compactAfterMs",
];
const LIVE_ELSEWHERE: readonly (keyof RunConfig)[] = ["forward", "logLevel", "onDamage", "shutdownTimeoutMs"];

/**
 * SIGHUP reloads the configuration (file and environment). Reloads never overlap: a SIGHUP that
 * arrives during one runs once more after it. Returns the function that stops listening and
 * resolves when the reload under way, if any, is done.
 */
function listenForReload(
  run: Running,
  stop: StopSignal,
  deps: RunDeps,
  notifier?: SystemdNotifier,
): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  const loop = async () => {
    do {
      again = false;
      try {
        await reload(run, stop, deps);
      } catch (e) {
        logger().error("reload failed: {error}; running with what is in force", { error: String(e) });
      }
    } while (again && !stop.stopping);
    running = undefined;
    void notifier?.send("READY=1", `STATUS=logging to ${run.store.path}`);
  };
  const onHangUp = () => {
    if (stop.stopping) return;
    if (running) {
      again = true;
      return;
    }
    void notifier?.send("RELOADING=1");
    running = loop();
  };
  Deno.addSignalListener("SIGHUP", onHangUp);
  return () => {
    Deno.removeSignalListener("SIGHUP", onHangUp);
    return running ?? Promise.resolve();
  };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Applies a new configuration live: sources, listener, forwarders, retention and the log level
 * restart with theirs; the pipeline and its buffer stay, so every reading taken is committed once.
 * An invalid configuration is rejected with the start-up messages and the running one is kept.
 */
async function reload(run: Running, stop: StopSignal, deps: RunDeps): Promise<void> {
  const log = logger();
  let next: RunConfig;
  try {
    next = deps.reloadConfig!();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const problem of e.problems) log.error("reload rejected: {problem}", { problem });
    log.error("the new configuration is invalid; still running with the previous one");
    return;
  }
  const old = run.config;
  const changed = (keys: readonly (keyof RunConfig)[]) => keys.filter((k) => !same(old[k], next[k]));
  for (const key of changed(RESTART_ONLY)) {
    log.warn("{setting} changed but needs a restart to take effect; still {value}", {
      setting: key,
      value: old[key] as string,
    });
    (next as unknown as Record<string, unknown>)[key] = old[key];
  }
  const known = new Set<keyof RunConfig>([...RESTART_ONLY, ...LISTENER, ...RETENTION, ...LIVE_ELSEWHERE]);
  const sourceKeys = (Object.keys(next) as (keyof RunConfig)[]).filter((k) => !known.has(k));
  const hasHttpSource = (c: RunConfig) => c.sources.some((s) => s.kind === "http");
  const restartListener = changed(LISTENER).length > 0 ||
    (changed(sourceKeys).length > 0 && (hasHttpSource(old) || hasHttpSource(next)));
  const restartSources = restartListener || changed(sourceKeys).length > 0;
  run.config = next;
  if (changed(["logLevel"]).length > 0) setupLogging({ format: next.logFormat, level: next.logLevel });

  if (restartSources) {
    for (const source of run.sources) {
      try {
        await source.stop();
      } catch (e) {
        log.warn("source {source} did not stop cleanly: {error}", { source: source.name, error: String(e) });
      }
    }
    run.sources = [];
  }
  if (restartListener) {
    if (run.http) await run.http.stop();
    await run.routes?.close();
    run.http = undefined;
    run.routes = undefined;
    if (next.listen !== undefined && !stop.stopping) {
      const http = new HttpServer({ listen: next.listen, token: next.httpToken });
      run.routes = await registerRoutes(http, run.routeDeps);
      try {
        await http.start();
        run.http = http;
        if (stop.stopping) return; // stopIntake stops it
        log.info("HTTP listener on {hostname}:{port}", { hostname: http.hostname, port: http.port });
      } catch (e) {
        await run.routes.close();
        run.routes = undefined;
        log.error("cannot listen on {listen}: {error}; running without the listener", {
          listen: next.listen,
          error: String(e),
        });
      }
    }
  }
  if (restartSources && !stop.stopping) {
    try {
      run.sources = (deps.createSources ?? createSources)(next, {
        pipeline: run.pipeline,
        http: run.http,
        knownSensors: run.store.sensorNames(),
      });
    } catch (e) {
      log.error("reload: the sources cannot start: {error}; running without them until the next reload", {
        error: String(e),
      });
      run.sources = [];
    }
    for (const source of run.sources) await source.start(run.pipeline.emitFor(source.name));
  }
  if (changed(RETENTION).length > 0) {
    run.retention?.stop();
    run.retention = startRetention(next, run.store);
  }
  if (changed(["forward"]).length > 0 && !stop.stopping) {
    if (run.forwarding) {
      run.forwarding.abort();
      await run.forwarding.flush(0);
    }
    run.forwarding = next.forward.length > 0
      ? (deps.startForwarding ?? startForwarding)(next.forward, run.store, { dbPath: run.store.path, log })
      : undefined;
  }
  log.info("configuration reloaded: {changed}", {
    changed: (Object.keys(next) as (keyof RunConfig)[]).filter((k) => !same(old[k], next[k])).join(", ") ||
      "nothing changed",
  });
}

/** The loud record of a damaged database moved aside. */
function logQuarantine(q: Quarantined, when: string): void {
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
async function recoverFromDamage(
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
    run.retention = startRetention(config, run.store);
    if (config.forward.length > 0) {
      run.forwarding = (deps.startForwarding ?? startForwarding)(config.forward, run.store, {
        dbPath: run.store.path,
        log,
      });
    }
  } finally {
    run.recovering = false;
  }
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
  logFinalRecord(counters, checkpoint, reason, started, stop);
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
): void {
  const c = counters ?? { taken: 0, stored: 0, dropped: 0, rejected: 0, pending: 0, commitErrors: 0 };
  logger().info("stopped ({reason}): {taken} taken, {stored} stored, {dropped} dropped in {duration_ms} ms", {
    reason,
    taken: c.taken,
    stored: c.stored,
    dropped: c.dropped,
    rejected: c.rejected,
    rejected_by_reason: "rejectedByReason" in c ? c.rejectedByReason : {},
    unstored: c.pending,
    commit_errors: c.commitErrors,
    checkpoint,
    duration_ms: Math.round(performance.now() - started),
    shutdown_ms: stop.stopping ? Math.round(performance.now() - stop.firstAt) : 0,
  });
}
