/**
 * Start-up, signals and the ordered shutdown: the durability contract, written once, top to
 * bottom, in {@link runLogger}.
 *
 * @module
 */

import type { RunConfig } from "./config.ts";
import { DatabaseError, ExitCode } from "./errors.ts";
import { logger } from "./log.ts";
import { type Counters, Pipeline } from "./pipeline.ts";
import { HttpServer } from "./http.ts";
import { registerObservability } from "./observability.ts";
import { Retention } from "./retention.ts";
import { createSources, type Source, type SourceContext } from "./sources/mod.ts";
import { SensorLimit } from "./sources/_reading_parser.ts";
import { type CheckpointResult, isCorruptionError, Store } from "./store.ts";
import { type Forwarding, startForwarding } from "./forward/mod.ts";

/** Signals that ask edgelog to stop gracefully. */
export const STOP_SIGNALS: readonly Deno.Signal[] = ["SIGTERM", "SIGINT"];

/**
 * Collects stop requests: SIGTERM/SIGINT (installed as the very first thing the program does, so
 * a signal during start-up is never lost, also as PID 1) or an internal reason.
 */
export class StopSignal {
  /** Resolves with the reason of the first stop request. */
  readonly requested: Promise<string>;
  /** How many stop requests arrived; 2 or more means "take the fast path". */
  count = 0;
  /** `performance.now()` of the first request. */
  firstAt = 0;
  #resolve!: (reason: string) => void;
  readonly #listeners = new Map<Deno.Signal, () => void>();
  #onRepeat: ((reason: string) => void) | undefined;

  constructor() {
    this.requested = new Promise((resolve) => this.#resolve = resolve);
  }

  /**
   * Creates a StopSignal listening for SIGTERM and SIGINT.
   *
   * @example
   * ```ts
   * const stop = StopSignal.install();
   * console.log(await stop.requested); // "SIGTERM"
   * ```
   */
  static install(): StopSignal {
    const stop = new StopSignal();
    for (const sig of STOP_SIGNALS) {
      const listener = () => stop.request(sig);
      stop.#listeners.set(sig, listener);
      Deno.addSignalListener(sig, listener);
    }
    return stop;
  }

  /** Records one stop request. */
  request(reason: string): void {
    this.count++;
    if (this.count === 1) {
      this.firstAt = performance.now();
      this.#resolve(reason);
    } else {
      this.#onRepeat?.(reason);
    }
  }

  /** True once a stop was requested. */
  get stopping(): boolean {
    return this.count > 0;
  }

  /** True when a second request asked to skip the optional parts of the shutdown. */
  get hurried(): boolean {
    return this.count > 1;
  }

  /** Called for every request after the first. */
  onRepeat(fn: (reason: string) => void): void {
    this.#onRepeat = fn;
  }

  /** Removes the signal listeners. */
  uninstall(): void {
    for (const [sig, listener] of this.#listeners) Deno.removeSignalListener(sig, listener);
    this.#listeners.clear();
  }
}

/** What {@link runLogger} needs besides the config; injectable for tests. */
export interface RunDeps {
  version: string;
  /** Builds the sources; by default {@link createSources} from `lib/sources/mod.ts`. */
  createSources?: (config: RunConfig, context: SourceContext) => Source[];
  /** Ends the process when the shutdown overruns its deadline; `Deno.exit` by default. */
  exit?: (code: number) => void;
}

/** The HTTP listener could not bind (address in use, no permission); exit code 1. */
export class ListenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ListenError";
  }
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
/** Busy timeout of one final TRUNCATE attempt, ms (the attempts repeat until the deadline). */
const CHECKPOINT_ATTEMPT_MS = 20;

/** Share of the remaining shutdown deadline the forwarders may use to flush. */
const FORWARD_FLUSH_SHARE = 0.5;
/** Time kept back from the forwarders' flush for the checkpoint and close, ms. */
const CLOSE_RESERVE_MS = 1500;
/** How long past the shutdown deadline the watchdog waits before ending the process, ms. */
const WATCHDOG_GRACE_MS = 500;

/**
 * Runs the logger until a stop is requested, then shuts down in the contract's order.
 * Returns the exit code; throws LockedError/DatabaseError when the database cannot be opened.
 */
export async function runLogger(config: RunConfig, stop: StopSignal, deps: RunDeps): Promise<number> {
  const log = logger();
  const started = performance.now();
  const finalRecord = (counters: Counters | undefined, checkpoint: CheckpointResult | null, reason: string) => {
    const c = counters ?? { taken: 0, stored: 0, dropped: 0, rejected: 0, pending: 0, commitErrors: 0 };
    log.info("stopped ({reason}): {taken} taken, {stored} stored, {dropped} dropped in {duration_ms} ms", {
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
  };

  if (stop.stopping) {
    finalRecord(undefined, null, await stop.requested);
    return ExitCode.ok;
  }
  // Validate the listener settings before touching the database.
  const http = config.listen !== undefined
    ? new HttpServer({ listen: config.listen, token: config.httpToken })
    : undefined;
  const store = Store.open(config.db, { durability: config.durability });
  log.info("edgelog {version} logging to {db} (durability {durability}, SQLite {sqlite_version})", {
    version: deps.version,
    db: store.path,
    durability: config.durability,
    sqlite_version: store.sqliteVersion,
    commit_interval_ms: config.commitIntervalMs,
    batch_size: config.batchSize,
    pid: Deno.pid,
  });

  let lastErrorLogAt = -Infinity;
  const pipeline = new Pipeline(store, {
    commitIntervalMs: config.commitIntervalMs,
    batchSize: config.batchSize,
    bufferSize: config.bufferSize,
    onCommitError: (error, transient) => {
      const now = performance.now();
      if (!transient) {
        log.fatal("the database cannot be written any more: {error}; stopping", { error: String(error) });
        stop.request("writer failed");
      } else if (now - lastErrorLogAt > 10_000) {
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

  const sensorLimit = new SensorLimit(config.maxSensors, store.sensorNames());
  const sources = (deps.createSources ?? createSources)(config, { pipeline, http, sensorLimit });
  // Started once the listener is up (below); the observability routes read its lag, so it is
  // declared before them and assigned once.
  // deno-lint-ignore prefer-const
  let forwarding: Forwarding | undefined;
  const observability = http
    ? await registerObservability(http, {
      pipeline,
      store,
      version: deps.version,
      commitIntervalMs: config.commitIntervalMs,
      bufferSize: config.bufferSize,
      startedAt: Date.now(),
      forwarders: () => forwarding?.lag() ?? [],
    })
    : undefined;
  pipeline.start();
  if (http) {
    try {
      await http.start();
    } catch (e) {
      await observability?.close();
      pipeline.close();
      store.close();
      throw new ListenError(`cannot listen on ${config.listen}: ${(e as Error).message}`);
    }
    log.info("HTTP listener on {hostname}:{port}", { hostname: http.hostname, port: http.port });
  }
  // Forwarders read committed rows on their own connections and keep their cursors through the
  // store; they start after the store is open and stop after the final commit.
  forwarding = config.forward.length > 0
    ? startForwarding(config.forward, store, { dbPath: store.path, log })
    : undefined;
  for (const source of sources) await source.start(pipeline.emitFor(source.name));
  const endedSources = sources.filter((s) => s.ended !== undefined);
  if (endedSources.length > 0 && endedSources.length === sources.length) {
    Promise.all(endedSources.map((s) => s.ended)).then(() => stop.request("all sources ended"));
  }

  // Retention works between group commits on the writer's connection, in short steps.
  let lastRetentionErrorAt = -Infinity;
  let lastUnsentWarningAt = -Infinity;
  const retention = Retention.isEnabled(config)
    ? new Retention(store, {
      ...config,
      onError: (error) => {
        if (performance.now() - lastRetentionErrorAt < 60_000) return; // counted in the stats record
        lastRetentionErrorAt = performance.now();
        log.warn("retention step failed, will retry: {error}", { error: String(error) });
      },
      onUnsentDeleted: (forwarders) => {
        if (performance.now() - lastUnsentWarningAt < 60_000) return;
        lastUnsentWarningAt = performance.now();
        log.warn("retention deleted readings that {forwarders} had not sent yet; they are lost for them", {
          forwarders,
        });
      },
    })
    : undefined;
  retention?.start();
  if (retention) {
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

  const checkpointTimer = setInterval(() => {
    try {
      const result = store.checkpoint("PASSIVE");
      log.debug("checkpoint {mode}: busy {busy}, log {log}, checkpointed {checkpointed}", { ...result });
    } catch (e) {
      log.warn("periodic checkpoint failed: {error}", { error: String(e) });
    }
  }, config.checkpointIntervalMs);
  const statsTimer = setInterval(() => {
    const c = pipeline.counters;
    log.info("stats: {taken} taken, {stored} stored, {dropped} dropped, {rejected} rejected, {pending} pending", {
      ...c,
      ...(retention ? { retention: { ...retention.counters } } : {}),
    });
  }, config.statsIntervalMs);

  const reason = await stop.requested;

  // ---- Graceful shutdown: the durability contract, in order. ----
  const deadline = stop.firstAt + config.shutdownTimeoutMs;
  const remaining = () => deadline - performance.now();
  stop.onRepeat((again) => {
    log.warn("{signal} again: hurrying the shutdown (still committing and closing)", { signal: again });
    forwarding?.abort();
  });
  log.info("stopping ({reason}): committing {pending} pending readings", { reason, pending: pipeline.pendingCount });
  // Nothing below may hold the stop past its deadline (Docker's SIGKILL follows at 10 s): if an
  // await hangs (a source that does not stop, a request that never ends), end the process. What
  // was committed is safe in the WAL; the next start recovers it.
  const watchdog = setTimeout(() => {
    log.fatal("the shutdown overran its {timeout_ms} ms deadline; exiting now ({pending} readings not committed)", {
      timeout_ms: config.shutdownTimeoutMs,
      pending: pipeline.pendingCount,
    });
    (deps.exit ?? Deno.exit)(ExitCode.failure);
  }, Math.max(0, remaining()) + WATCHDOG_GRACE_MS);
  clearInterval(checkpointTimer);
  clearInterval(statsTimer);
  retention?.stop();

  // 1. Sources stop: nothing new is taken from here on. The HTTP listener stops accepting and
  //    finishes the requests in flight (their readings are taken, so they get committed).
  //    Requests still running after half the time left are abandoned: their readings were taken
  //    before they wait, so the final commit below still stores them.
  try {
    if (http) await withinMs(http.stop(), remaining() / 2);
  } catch (e) {
    log.warn("HTTP listener did not stop cleanly: {error}", { error: String(e) });
  }
  await observability?.close();
  for (const source of sources) {
    try {
      await source.stop();
    } catch (e) {
      log.warn("source {source} did not stop cleanly: {error}", { source: source.name, error: String(e) });
    }
  }

  // 2. Every reading already taken is committed (retrying a failing disk until the deadline).
  pipeline.stopTimers();
  const oneGroup = Number.MAX_SAFE_INTEGER; // one transaction, one fsync, for the whole drain
  while (!pipeline.flush(oneGroup) && pipeline.fatalError === undefined && remaining() > RETRY_MS) {
    await sleep(RETRY_MS);
  }

  // 3. Forwarders get a bounded share of what is left of the deadline to send what they have
  //    (skipped when hurried); what they did not get acknowledged stays in the outbox.
  if (forwarding) {
    if (stop.hurried) forwarding.abort();
    const budgetMs = stop.hurried ? 0 : Math.min(remaining() * FORWARD_FLUSH_SHARE, remaining() - CLOSE_RESERVE_MS);
    const t0 = performance.now();
    await forwarding.flush(budgetMs);
    for (const lag of forwarding.lag()) {
      log.info("forwarder {name} stopped at id {cursor}: {rows} readings left in the outbox", {
        ...lag,
        flush_ms: Math.round(performance.now() - t0),
      });
    }
  }

  // 4. Checkpoint the WAL into the database file, so the .db alone holds everything.
  let checkpoint: CheckpointResult | null = null;
  if (pipeline.fatalError === undefined) {
    try {
      // Readers can make TRUNCATE wait; never past the shutdown deadline (Docker kills at 10 s).
      // Short attempts, retried at once: one long busy wait lost to readers that query back to
      // back on a loaded machine (busy until the deadline in 1 of 8 runs of the readers scenario
      // under a CPU hog; 0 of 18 with 20 ms attempts).
      const attemptMs = () => Math.min(CHECKPOINT_ATTEMPT_MS, remaining() - RETRY_MS);
      checkpoint = store.checkpointTruncate(attemptMs());
      while (checkpoint.busy && !stop.hurried && remaining() > 2 * RETRY_MS) {
        await sleep(1);
        checkpoint = store.checkpointTruncate(attemptMs());
      }
      const level = checkpoint.busy ? "warn" : "info";
      log[level]("checkpoint TRUNCATE: busy {busy}, log {log}, checkpointed {checkpointed}", { ...checkpoint });
    } catch (e) {
      log.error("final checkpoint failed: {error}; the WAL keeps the data and is recovered on the next start", {
        error: String(e),
      });
    }
  }

  // 5. Close the database and release the writer lock.
  pipeline.close();
  try {
    store.close();
  } catch (e) {
    log.error("closing the database failed: {error}", { error: String(e) });
  }

  // 6. Report; the caller flushes the logs and exits with the code.
  clearTimeout(watchdog);
  const counters = pipeline.counters;
  finalRecord(counters, checkpoint, reason);
  if (pipeline.fatalError !== undefined) {
    if (isCorruptionError(pipeline.fatalError)) {
      throw new DatabaseError(`${store.path} became unreadable while logging: ${String(pipeline.fatalError)}`);
    }
    return ExitCode.failure;
  }
  if (counters.pending > 0) {
    log.error("{unstored} readings could not be committed before the shutdown deadline", {
      unstored: counters.pending,
    });
    return ExitCode.failure;
  }
  return ExitCode.ok;
}
