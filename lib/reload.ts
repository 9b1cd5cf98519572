/**
 * SIGHUP reloads the configuration (file and environment) live: sources, the listener,
 * forwarders, retention and the log level restart with the new settings while the pipeline and
 * its buffer stay, so no reading is lost or stored twice. Settings read once at start are logged
 * as needing a restart; an invalid configuration is rejected and the running one kept.
 *
 * @module
 */

import type { RunConfig } from "./config.ts";
import { ConfigError } from "./errors.ts";
import { logger, setupLogging } from "./log.ts";
import { type RunDeps, type Running, startForwarders, startRetention } from "./running.ts";
import { HttpServer, registerRoutes } from "./serve/mod.ts";
import { createSources } from "./sources/mod.ts";
import type { StopSignal } from "./stop_signal.ts";
import type { SystemdNotifier } from "./systemd_notify.ts";

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
  "compactStep",
];
const LIVE_ELSEWHERE: readonly (keyof RunConfig)[] = ["forward", "logLevel", "onDamage", "shutdownTimeoutMs"];
const CLOCK: readonly (keyof RunConfig)[] = ["clockSync", "clockStepThresholdMs", "clockHoldMaxMs"];

/** The SIGHUP handler of one logger run, from {@link listenForReload}. */
export interface ReloadListener {
  /** The logger is started: reloads may run from now on (one held back during the start runs now). */
  started(run: Running): void;
  /** Stops listening; resolves when the reload under way, if any, is done. */
  finish(): Promise<void>;
}

/**
 * Listens for SIGHUP from before the start (the default action of SIGHUP would end the process):
 * a SIGHUP during the start is held until {@link ReloadListener.started}. Reloads never overlap:
 * a SIGHUP that arrives during one runs once more after it.
 */
export function listenForReload(stop: StopSignal, deps: RunDeps, notifier?: SystemdNotifier): ReloadListener {
  let run: Running | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  const loop = async (run: Running) => {
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
    if (running || run === undefined) {
      again = true;
      return;
    }
    void notifier?.send("RELOADING=1");
    running = loop(run);
  };
  Deno.addSignalListener("SIGHUP", onHangUp);
  return {
    started(started) {
      run = started;
      if (again) onHangUp();
    },
    finish() {
      Deno.removeSignalListener("SIGHUP", onHangUp);
      return running ?? Promise.resolve();
    },
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
  const known = new Set<keyof RunConfig>([...RESTART_ONLY, ...LISTENER, ...RETENTION, ...LIVE_ELSEWHERE, ...CLOCK]);
  const sourceKeys = (Object.keys(next) as (keyof RunConfig)[]).filter((k) => !known.has(k));
  const hasHttpSource = (c: RunConfig) => c.sources.some((s) => s.kind === "http");
  const restartListener = changed(LISTENER).length > 0 ||
    (changed(sourceKeys).length > 0 && (hasHttpSource(old) || hasHttpSource(next)));
  const restartSources = restartListener || changed(sourceKeys).length > 0;
  run.config = next;
  if (changed(["logLevel"]).length > 0) setupLogging({ format: next.logFormat, level: next.logLevel });
  if (changed(CLOCK).length > 0) run.clock.configure(next);

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
        now: run.clock.guard.now,
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
    run.retention = startRetention(next, run.store, run.clock);
  }
  if (changed(["forward"]).length > 0 && !stop.stopping) {
    if (run.forwarding) {
      run.forwarding.abort();
      await run.forwarding.flush(0);
    }
    run.forwarding = next.forward.length > 0 ? startForwarders(next.forward, run, deps) : undefined;
  }
  log.info("configuration reloaded: {changed}", {
    changed: (Object.keys(next) as (keyof RunConfig)[]).filter((k) => !same(old[k], next[k])).join(", ") ||
      "nothing changed",
  });
}
