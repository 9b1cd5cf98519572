/**
 * Line protocol over HTTP: one POST per batch to any endpoint that speaks it (VictoriaMetrics
 * `/write` and `/influx/api/v2/write`, InfluxDB 1.x `/write`, 2.x/3.x `/api/v2/write`, QuestDB,
 * Telegraf's `http_listener_v2`). 2xx acknowledges the batch.
 *
 * @module
 */

import { logger } from "../log.ts";
import type { StoredReading } from "../store/mod.ts";
import { type Forwarder, UpstreamError } from "./forwarder.ts";
import { LineEncoder } from "./line_protocol.ts";
import type { InfluxTarget } from "./target.ts";

/** HTTP statuses that will fail the same way however often they are retried. */
const PERMANENT_STATUSES = new Set([400, 401, 403, 404, 405, 413, 422]);

/** Parses a Retry-After header (delta seconds or an HTTP date) into ms from `nowMs`. */
export function parseRetryAfter(header: string | null, nowMs: number = Date.now()): number | undefined {
  if (header === null) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** Sends batches of readings as line protocol to one HTTP endpoint. */
export class InfluxForwarder implements Forwarder {
  readonly #target: InfluxTarget;
  readonly #encoder: LineEncoder;
  /** Sensors already reported as refused (one warning each per run). */
  readonly #reported = new Set<string>();
  #inflight = new AbortController();
  #closed = false;
  /** Rows skipped because their value was not finite (the protocol cannot carry them). */
  skipped = 0;
  /** Rows not sent because the dialect cannot carry their sensor name or unit exactly. */
  refused = 0;

  constructor(target: InfluxTarget) {
    this.#target = target;
    this.#encoder = new LineEncoder(target);
  }

  /** Posts `batch`; resolves on 2xx, throws {@link UpstreamError} otherwise. */
  async send(batch: readonly StoredReading[]): Promise<void> {
    if (this.#closed) throw new UpstreamError("forwarder closed");
    const { text, skipped, refused } = this.#encoder.encode(batch);
    this.skipped += skipped;
    for (const r of refused) {
      this.refused += r.readings;
      if (this.#reported.has(r.sensor)) continue;
      this.#reported.add(r.sensor);
      logger("forward").warn(
        "forwarder {name}: readings of sensor {sensor} are not sent, {reason} (dialect={dialect})",
        { name: this.#target.name, sensor: r.sensor, reason: r.reason, dialect: this.#target.dialect },
      );
    }
    if (text === "") return;
    const headers: Record<string, string> = { "content-type": "text/plain; charset=utf-8" };
    if (this.#target.authorization) headers.authorization = this.#target.authorization;
    let body: BodyInit = text;
    if (this.#target.gzip) {
      headers["content-encoding"] = "gzip";
      body = await new Response(new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer();
    }
    const signal = AbortSignal.any([this.#inflight.signal, AbortSignal.timeout(this.#target.timeoutMs)]);
    let response: Response;
    try {
      response = await fetch(this.#target.url, { method: "POST", headers, body, signal });
    } catch (e) {
      const reason = (e as Error).name === "TimeoutError"
        ? `no answer within ${this.#target.timeoutMs} ms`
        : (e as Error).message;
      throw new UpstreamError(`POST ${this.#target.display}: ${reason}`);
    }
    if (response.ok) {
      await response.body?.cancel();
      return;
    }
    const detail = (await response.text().catch(() => "")).slice(0, 300).trim();
    const status = response.status;
    throw new UpstreamError(`POST ${this.#target.display}: HTTP ${status}${detail ? `: ${detail}` : ""}`, {
      status,
      permanent: PERMANENT_STATUSES.has(status),
      retryAfterMs: parseRetryAfter(response.headers.get("retry-after")),
    });
  }

  /** Aborts a request in flight. */
  close(): Promise<void> {
    this.#closed = true;
    this.#inflight.abort();
    return Promise.resolve();
  }
}
