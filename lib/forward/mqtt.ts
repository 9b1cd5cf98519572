/**
 * MQTT: one JSON message per reading, QoS 1 by default, to a topic made from a template
 * (`edgelog/{host}/{sensor}`). A batch is acknowledged when every PUBACK arrived. The client does
 * not reconnect by itself: after any failure it is dropped (with its in-memory queue, so an
 * outage never grows memory) and the agent's backoff decides when the next connection is tried.
 *
 * @module
 */

import mqtt from "mqtt";
import { type Forwarder, type OutboxRow, UpstreamError } from "./forwarder.ts";
import type { MqttTarget } from "./target.ts";

/** CONNACK return codes (MQTT 3.1.1) that mean retrying will not help: bad credentials, not authorised. */
const PERMANENT_CONNACK = new Set([1, 2, 4, 5]);

/** The topic for one reading; `{host}`, `{sensor}`, `{unit}` replaced, `+`, `#` and `/` in values made safe. */
export function topicFor(template: string, host: string, row: OutboxRow): string {
  const safe = (s: string) => s.replace(/[+#/]/g, "_");
  return template.replaceAll("{host}", safe(host)).replaceAll("{sensor}", safe(row.sensor)).replaceAll(
    "{unit}",
    safe(row.unit ?? ""),
  );
}

/** The JSON payload of one reading. */
export function payloadFor(host: string, row: OutboxRow): string {
  return JSON.stringify({ id: row.id, host, sensor: row.sensor, ts: row.ts, value: row.value, unit: row.unit });
}

/** Publishes readings to one MQTT broker. */
export class MqttForwarder implements Forwarder {
  readonly #target: MqttTarget;
  readonly #host: string;
  #client: mqtt.MqttClient | undefined;
  #closed = false;

  constructor(target: MqttTarget, host: string) {
    this.#target = target;
    this.#host = host;
  }

  async #connect(): Promise<mqtt.MqttClient> {
    if (this.#client?.connected) return this.#client;
    this.#drop();
    const t = this.#target;
    const client = mqtt.connect(t.brokerUrl, {
      username: t.username,
      password: t.password,
      clientId: t.clientId ?? `edgelog-${this.#host}-${crypto.randomUUID().slice(0, 8)}`,
      reconnectPeriod: 0,
      connectTimeout: t.timeoutMs,
      rejectUnauthorized: t.rejectUnauthorized,
      ca: t.caFile ? Deno.readTextFileSync(t.caFile) : undefined,
      protocolVersion: 4,
    });
    this.#client = client;
    client.on("error", () => {/* reported through the pending connect or publish */});
    await new Promise<void>((resolve, reject) => {
      const fail = (e: unknown) => {
        cleanup();
        const code = (e as { code?: unknown })?.code;
        const permanent = typeof code === "number" && PERMANENT_CONNACK.has(code);
        reject(new UpstreamError(`MQTT ${t.display}: cannot connect: ${(e as Error)?.message ?? e}`, { permanent }));
      };
      const onClose = () => fail(new Error("connection closed"));
      const onConnect = () => {
        cleanup();
        resolve();
      };
      const cleanup = () => {
        client.off("connect", onConnect);
        client.off("error", fail);
        client.off("close", onClose);
      };
      client.on("connect", onConnect);
      client.on("error", fail);
      client.on("close", onClose);
    }).catch((e) => {
      this.#drop();
      throw e;
    });
    return client;
  }

  /** Publishes every row; resolves when all are acknowledged (PUBACK for QoS 1). */
  async send(batch: readonly OutboxRow[]): Promise<void> {
    if (this.#closed) throw new UpstreamError("forwarder closed");
    const t = this.#target;
    const client = await this.#connect();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new UpstreamError(`MQTT ${t.display}: no PUBACK within ${t.timeoutMs} ms`)),
        t.timeoutMs,
      );
    });
    let onClose = () => {};
    const closed = new Promise<never>((_, reject) => {
      onClose = () => reject(new UpstreamError(`MQTT ${t.display}: connection lost`));
      client.on("close", onClose);
    });
    try {
      const acks = batch.map((row) =>
        client.publishAsync(topicFor(t.topic, this.#host, row), payloadFor(this.#host, row), { qos: t.qos })
      );
      await Promise.race([Promise.all(acks), timeout, closed]);
    } catch (e) {
      this.#drop();
      if (e instanceof UpstreamError) throw e;
      throw new UpstreamError(`MQTT ${t.display}: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
      closed.catch(() => {});
      client.off("close", onClose);
    }
  }

  /** Drops the client without waiting: unacknowledged messages stay in the outbox. */
  #drop(): void {
    const client = this.#client;
    this.#client = undefined;
    if (client) {
      client.removeAllListeners();
      client.on("error", () => {});
      client.end(true);
    }
  }

  /** Closes the connection; a send in flight rejects. */
  close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    if (client) client.emit("close");
    this.#drop();
    return Promise.resolve();
  }
}
