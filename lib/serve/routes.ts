/**
 * What the HTTP listener shows an operator: `GET /healthz`, `GET /metrics`, the read API
 * (`/api/v1/sensors`, `/api/v1/readings`, `/api/v1/status`) and the dashboard at `/`.
 *
 * `/healthz` and the dashboard's static files are public (orchestrators probe the first, the
 * second holds no data); everything that returns data needs the bearer token when one is set.
 *
 * @module
 */

import type { ClockReport } from "../clock.ts";
import type { Pipeline } from "../pipeline.ts";
import { writtenBytes } from "../proc_io.ts";
import type { ForwardLag, Quarantined, Store } from "../store/mod.ts";
import { DASHBOARD_ASSETS } from "./dashboard/mod.ts";
import type { HttpServer } from "./http.ts";
import { METRICS_CONTENT_TYPE, renderMetrics } from "./metrics.ts";
import { ReadApiError, ReadApiWorker } from "./read_api.ts";
import { evaluateHealth, type HealthStatus } from "./writer_health.ts";

/** What the routes read from the running logger. */
export interface RoutesDeps {
  pipeline: Pipeline;
  store: Store;
  version: string;
  commitIntervalMs: number;
  bufferSize: number;
  /** Wall-clock start of the logger, unix ms. */
  startedAt: number;
  /** Forwarders' lag; none until forwarders exist. */
  forwarders?: () => readonly ForwardLag[];
  /** Wall clock, unix ms; injectable for tests. */
  now?: () => number;
  /** Damaged databases moved aside by this logger, oldest first. */
  quarantined?: () => readonly Quarantined[];
  /** The clock's state (trusted, provisional and re-stamped readings); none in tests without it. */
  clock?: () => ClockReport;
}

/** The routes' resources; {@link close} after the listener stopped, before the final checkpoint. */
export interface Routes {
  /** The writer's health now. */
  health(): HealthStatus;
  /** Closes the read API's connection and worker. */
  close(): Promise<void>;
  /** Makes the read API read `deps.store` again (the store was replaced by a fresh database). */
  reopen(): Promise<void>;
}

const NO_STORE = { "cache-control": "no-store" };

/** The clock's state as `/api/v1/status` (and the dashboard) show it. */
export function clockJson(c: ClockReport): Record<string, unknown> {
  return {
    trusted: c.trusted,
    reason: c.reason,
    sync: c.sync,
    synchronized: c.synchronized,
    steps: c.steps,
    last_step_ms: c.lastStepMs,
    untrusted_s: c.untrustedForMs / 1000,
    offset_ms: c.offsetMs,
    provisional_taken: c.provisionalTaken,
    restamped: c.restamped,
    holding_forwarders: c.holding,
  };
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...NO_STORE },
  });
}

/**
 * Registers the health, metrics, read-API and dashboard routes on `http`.
 *
 * @example
 * ```ts
 * const routes = await registerRoutes(http, { pipeline, store, version, commitIntervalMs: 250,
 *   bufferSize: 200_000, startedAt: Date.now() });
 * await http.start();
 * // … on shutdown:
 * await http.stop();
 * await routes.close();
 * ```
 */
export async function registerRoutes(http: HttpServer, deps: RoutesDeps): Promise<Routes> {
  const now = deps.now ?? Date.now;
  const forwarders = deps.forwarders ?? (() => []);
  const reads = await ReadApiWorker.open(deps.store.path);
  const health = () =>
    evaluateHealth({
      counters: { ...deps.pipeline.counters, pending: deps.pipeline.pendingCount },
      fatalError: deps.pipeline.fatalError,
      commitIntervalMs: deps.commitIntervalMs,
      now: now(),
      startedAt: deps.startedAt,
      quarantined: deps.quarantined?.(),
    });

  http.route("GET", "/healthz", () => {
    const status = health();
    return json(status, status.status === "unhealthy" ? 503 : 200);
  }, { public: true });

  http.route("GET", "/metrics", () =>
    new Response(
      renderMetrics({
        pipeline: deps.pipeline,
        store: deps.store,
        health: health(),
        version: deps.version,
        bufferSize: deps.bufferSize,
        forwarders: forwarders(),
        quarantined: deps.quarantined?.().length ?? 0,
        clock: deps.clock?.(),
      }),
      { headers: { "content-type": METRICS_CONTENT_TYPE, ...NO_STORE } },
    ));

  http.route("GET", "/api/v1/status", () => {
    const c = deps.pipeline.counters;
    return json({
      version: deps.version,
      sqlite_version: deps.store.sqliteVersion,
      health: health(),
      taken: c.taken,
      stored: c.stored,
      dropped: c.dropped,
      rejected: c.rejected,
      pending: deps.pipeline.pendingCount,
      commits: c.commits,
      commit_errors: c.commitErrors,
      last_commit_ms: c.lastCommitMs,
      max_commit_ms: c.maxCommitMs,
      database_bytes: deps.store.fileSizes().db,
      wal_bytes: deps.store.fileSizes().wal,
      written_bytes: writtenBytes() ?? null,
      stored_bytes_per_reading: deps.store.bytesPerReading(),
      rss_bytes: Deno.memoryUsage().rss,
      uptime_s: (now() - deps.startedAt) / 1000,
      forwarders: forwarders().map((f) => ({
        name: f.name,
        lag_readings: f.rows,
        lag_seconds: f.seconds,
        held_readings: f.held ?? 0,
      })),
      clock: deps.clock ? clockJson(deps.clock()) : null,
    });
  });

  const guarded = async (fn: () => Promise<unknown>) => {
    try {
      return json(await fn());
    } catch (e) {
      if (e instanceof ReadApiError) return json({ error: e.message }, e.status);
      return json({ error: `cannot read the database: ${(e as Error).message}` }, 503);
    }
  };
  http.route("GET", "/api/v1/sensors", () => guarded(async () => ({ sensors: await reads.sensors() })));
  http.route("GET", "/api/v1/readings", (_request, url) => guarded(() => reads.readings(url.searchParams)));

  for (const asset of DASHBOARD_ASSETS) {
    http.route("GET", asset.path, () =>
      new Response(asset.body, {
        headers: { "content-type": asset.contentType, "cache-control": "no-cache" },
      }), { public: true });
  }

  // Browsers ask for it; answering keeps their consoles free of 404s.
  http.route("GET", "/favicon.ico", () => new Response(null, { status: 204 }), { public: true });

  return { health, close: () => reads.close(), reopen: () => reads.reopen(deps.store.path) };
}
