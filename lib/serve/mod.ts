/**
 * The optional local HTTP listener and what it serves: ingest registers its own route (it is a
 * source), everything else is here — health, Prometheus metrics, the read API and the dashboard.
 *
 * @example
 * ```ts
 * const http = new HttpServer({ listen: "127.0.0.1:8080" });
 * const routes = await registerRoutes(http, { pipeline, store, version: "0.1.0", commitIntervalMs: 250,
 *   bufferSize: 50_000, startedAt: Date.now() });
 * await http.start();
 * // … on shutdown:
 * await http.stop();
 * await routes.close();
 * ```
 *
 * @module
 */

export { type Handler, HttpServer, type HttpServerOptions, isLoopback, parseListen, urlForListen } from "./http.ts";
export { registerRoutes, type Routes, type RoutesDeps } from "./routes.ts";
export { evaluateHealth, type HealthStatus } from "./writer_health.ts";
