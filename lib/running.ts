/**
 * What a started logger holds and the parts of it more than one module starts: shared by the
 * start and stop in `lifecycle.ts`, the damage recovery (`damage_recovery.ts`) and the SIGHUP
 * reload (`reload.ts`).
 *
 * @module
 */

import type { RunConfig } from "./config.ts";
import { type Forwarding, startForwarding } from "./forward/mod.ts";
import { logger } from "./log.ts";
import type { Pipeline } from "./pipeline.ts";
import type { HttpServer, Routes, RoutesDeps } from "./serve/mod.ts";
import type { Source, SourceContext, SourceSettings } from "./sources/mod.ts";
import { type Quarantined, Retention, type Store } from "./store/mod.ts";
import type { SystemdNotifier } from "./systemd_notify.ts";
import type { Timekeeping } from "./timekeeping.ts";

/** Least time between two log records of the same recurring failure, ms. */
export const COMMIT_ERROR_LOG_MS = 10_000;
const RETENTION_LOG_MS = 60_000;

/** What `runLogger` needs besides the config; injectable for tests. */
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

/** Everything a started logger holds, in the order it was opened. */
export interface Running {
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
  /** The clock: trusted or not, provisional stamps, re-stamps, the forwarders' hold. */
  clock: Timekeeping;
}

/**
 * Housekeeping in short steps between group commits on the writer's connection: compaction
 * always, retention and downsampling when configured.
 */
export function startRetention(config: RunConfig, store: Store, clock: Timekeeping): Retention {
  const log = logger();
  let lastErrorAt = -Infinity;
  let lastUnsentWarningAt = -Infinity;
  const retention = store.retention({
    ...config,
    compactEarly: true, // the hot table moves as a whole: far fewer bytes written (docs/STORAGE.md)
    compactMinRows: config.compactStep,
    now: clock.time, // edgelog's time: a wall clock in the future must not expire everything
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

/** Starts the forwarders of `urls` on the run's store; they hold provisional readings (`timekeeping.ts`). */
export function startForwarders(urls: readonly string[], run: Running, deps: RunDeps): Forwarding {
  return (deps.startForwarding ?? startForwarding)(urls, run.store, {
    dbPath: run.store.path,
    log: logger(),
    holdFrom: run.clock.holdFrom,
  });
}
