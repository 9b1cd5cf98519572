/**
 * MQTT: one JSON message per reading, QoS 1 by default, to a topic made from a template
 * (`edgelog/{host}/{sensor}`). A batch is acknowledged when every PUBACK arrived. The connection
 * does not reconnect by itself: after any failure it is dropped (nothing is queued in memory)
 * and the agent's backoff decides when the next connection is tried.
 *
 * The client is the shared one in `lib/mqtt/` (docs/FORWARDING.md says why it is in-repo). The
 * default client id is derived from the host, the database and the forwarder's name, so it is
 * stable across restarts and accepted by every MQTT 3.1.1 broker (1–23 of [0-9a-zA-Z]).
 *
 * @module
 */

import { resolve } from "node:path";
import { clientIdFromSeed, MqttClient, MqttConnackError, MqttConnectionError } from "../mqtt/mod.ts";
import type { StoredReading } from "../store/mod.ts";
import { type Forwarder, UpstreamError } from "./forwarder.ts";
import type { MqttTarget } from "./target.ts";

/** The topic for one reading: `{host}`, `{sensor}`, `{unit}` replaced; `+`, `#`, `/` in values become `_`. */
export function topicFor(template: string, host: string, row: StoredReading): string {
  const safe = (s: string) => s.replace(/[+#/]/g, "_");
  return template.replaceAll("{host}", safe(host)).replaceAll("{sensor}", safe(row.sensor))
    .replaceAll("{unit}", safe(row.unit ?? ""));
}

/** The JSON payload of one reading. */
export function payloadFor(host: string, row: StoredReading): string {
  return JSON.stringify({ id: row.id, host, sensor: row.sensor, ts: row.ts, value: row.value, unit: row.unit });
}

/**
 * The default client id of a forwarder: stable per box, database and forwarder (two forwarders
 * to one broker must not share an id, or each connect would throw the other off).
 *
 * @example
 * ```ts
 * await forwarderClientId("box17", "/var/lib/edgelog/edgelog.db", "mqtt://broker:1883/edgelog/{host}/{sensor}");
 * ```
 */
export function forwarderClientId(host: string, dbPath: string, name: string): Promise<string> {
  return clientIdFromSeed(`forward\n${host}\n${resolve(dbPath)}\n${name}`);
}

/** Publishes readings to one MQTT broker. */
export class MqttForwarder implements Forwarder {
  readonly #target: MqttTarget;
  readonly #host: string;
  readonly #dbPath: string;
  #client: MqttClient | undefined;
  /** Resolves with the reason the current connection ended (a protocol error says more than "not connected"). */
  #ended: Promise<Error | undefined> | undefined;
  #closed = false;

  /** `dbPath` seeds the default client id (see {@link forwarderClientId}). */
  constructor(target: MqttTarget, host: string, dbPath = "edgelog.db") {
    this.#target = target;
    this.#host = host;
    this.#dbPath = dbPath;
  }

  async #connect(signal: AbortSignal): Promise<MqttClient> {
    if (this.#client?.connected) return this.#client;
    const t = this.#target;
    const client = new MqttClient({
      url: t.brokerUrl,
      clientId: t.clientId ?? await forwarderClientId(this.#host, this.#dbPath, t.name),
      cleanSession: true,
      username: t.username,
      password: t.password,
      caFile: t.caFile,
      connectTimeoutMs: t.timeoutMs,
    });
    this.#client = client;
    this.#ended = (await client.connect(signal)).closed;
    return client;
  }

  /** Publishes every row; resolves when all are acknowledged (PUBACK for QoS 1, written for QoS 0). */
  async send(batch: readonly StoredReading[]): Promise<void> {
    if (this.#closed) throw new UpstreamError("forwarder closed");
    const t = this.#target;
    const signal = AbortSignal.timeout(t.timeoutMs);
    try {
      const client = await this.#connect(signal);
      const acks = batch.map((row) =>
        client.publish(topicFor(t.topic, this.#host, row), payloadFor(this.#host, row), { qos: t.qos })
      );
      await Promise.race([Promise.all(acks), aborted(signal)]);
    } catch (caught) {
      // When the connection is already gone, its reason says more than the publishes' "not connected".
      const ended = this.#ended && await Promise.race([this.#ended, Promise.resolve(undefined)]);
      const e = ended instanceof Error && caught instanceof MqttConnectionError ? ended : caught;
      this.#drop();
      if (e instanceof MqttConnackError) {
        throw new UpstreamError(`MQTT ${t.display}: ${e.message}`, { permanent: e.permanent });
      }
      const reason = (e as Error).name === "TimeoutError"
        ? `no acknowledgement within ${t.timeoutMs} ms`
        : (e as Error).message;
      throw new UpstreamError(`MQTT ${t.display}: ${reason}`);
    }
  }

  /** Drops the connection without a goodbye: publishes in flight reject and their rows stay in the outbox. */
  #drop(): void {
    const client = this.#client;
    this.#client = undefined;
    this.#ended = undefined;
    client?.close(0).catch(() => {});
  }

  /** Disconnects; a send in flight rejects and its rows stay in the outbox. */
  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    await client?.close();
  }
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}
