/**
 * The one interface every upstream implements. A forwarder only delivers: the agent
 * (`agent.ts`) owns batching, the durable cursor, retries with backoff and shutdown.
 *
 * @module
 */

import type { StoredReading } from "../store/mod.ts";

/** An upstream such as an InfluxDB-compatible HTTP endpoint or an MQTT broker. */
export interface Forwarder {
  /** Sends `batch` (ascending ids); resolves once the upstream acknowledged all of it. */
  send(batch: readonly StoredReading[]): Promise<void>;
  /** Aborts what is in flight (its `send` rejects) and releases connections; idempotent. */
  close(): Promise<void>;
}

/**
 * A failed delivery. `permanent` means retrying the same request will not help (bad request,
 * authentication): the agent logs it loudly and backs off long instead of spinning.
 */
export class UpstreamError extends Error {
  readonly permanent: boolean;
  /** The upstream asked to wait this long before the next try (Retry-After), ms. */
  readonly retryAfterMs: number | undefined;
  /** HTTP status, when there was one. */
  readonly status: number | undefined;
  constructor(message: string, options: { permanent?: boolean; retryAfterMs?: number; status?: number } = {}) {
    super(message);
    this.name = "UpstreamError";
    this.permanent = options.permanent ?? false;
    this.retryAfterMs = options.retryAfterMs;
    this.status = options.status;
  }
}
