/**
 * MQTT: one JSON message per reading, QoS 1 by default, to a topic made from a template
 * (`edgelog/{host}/{sensor}`). A batch is acknowledged when every PUBACK arrived. The connection
 * does not reconnect by itself: after any failure it is dropped (nothing is queued in memory)
 * and the agent's backoff decides when the next connection is tried.
 *
 * @module
 */

import type { StoredReading } from "../store/mod.ts";
import { type Forwarder, UpstreamError } from "./forwarder.ts";
import { ConnackError, connectPacket, DISCONNECT, type Incoming, PacketReader, publishPacket } from "./_mqtt_wire.ts";
import type { MqttTarget } from "./target.ts";

const encoder = new TextEncoder();

/** CONNACK codes after which retrying with the same settings will not help. */
const PERMANENT_CONNACK = new Set([1, 2, 4, 5]);

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

/** One connection to the broker with its PUBACK bookkeeping. */
class Session {
  readonly #conn: Deno.Conn;
  readonly #waiting = new Map<number, () => void>();
  #onConnack: ((code: number) => void) | undefined;
  #failAll: (e: Error) => void = () => {};
  #closed = false;
  #nextId = 1;
  readonly done: Promise<never>;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.done = new Promise<never>((_, reject) => this.#failAll = reject);
    this.done.catch(() => {});
    this.#readLoop();
  }

  get closed(): boolean {
    return this.#closed;
  }

  async #readLoop(): Promise<void> {
    const reader = new PacketReader();
    const buf = new Uint8Array(16 * 1024);
    try {
      for (;;) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        for (const p of reader.push(buf.subarray(0, n))) this.#handle(p);
      }
      this.close(new Error("the broker closed the connection"));
    } catch (e) {
      this.close(e as Error);
    }
  }

  #handle(p: Incoming): void {
    if (p.type === 2 && p.body.length >= 2) this.#onConnack?.(p.body[1]);
    else if (p.type === 4 && p.body.length >= 2) {
      const id = (p.body[0] << 8) | p.body[1];
      const resolve = this.#waiting.get(id);
      this.#waiting.delete(id);
      resolve?.();
    }
  }

  connack(): Promise<number> {
    return new Promise((resolve) => this.#onConnack = resolve);
  }

  async write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) at += await this.#conn.write(bytes.subarray(at));
  }

  /** Encodes the batch as PUBLISH packets; returns the bytes and one promise per PUBACK. */
  publishAll(messages: { topic: string; payload: string }[], qos: 0 | 1): { bytes: Uint8Array; acks: Promise<void>[] } {
    const packets: Uint8Array[] = [];
    const acks: Promise<void>[] = [];
    for (const m of messages) {
      const id = this.#nextId;
      this.#nextId = this.#nextId === 0xffff ? 1 : this.#nextId + 1;
      packets.push(publishPacket(m.topic, encoder.encode(m.payload), qos, id));
      if (qos === 1) acks.push(new Promise<void>((resolve) => this.#waiting.set(id, resolve)));
    }
    const bytes = new Uint8Array(packets.reduce((s, p) => s + p.length, 0));
    let at = 0;
    for (const p of packets) {
      bytes.set(p, at);
      at += p.length;
    }
    return { bytes, acks };
  }

  close(reason: Error = new Error("closed")): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiting.clear();
    this.#failAll(reason);
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  async disconnect(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.write(DISCONNECT);
    } catch { /* closing anyway */ }
    this.close();
  }
}

/** Publishes readings to one MQTT broker. */
export class MqttForwarder implements Forwarder {
  readonly #target: MqttTarget;
  readonly #host: string;
  #session: Session | undefined;
  #closed = false;

  constructor(target: MqttTarget, host: string) {
    this.#target = target;
    this.#host = host;
  }

  async #connect(signal: AbortSignal): Promise<Session> {
    if (this.#session && !this.#session.closed) return this.#session;
    const t = this.#target;
    const url = new URL(t.brokerUrl);
    const port = Number(url.port);
    const connecting = url.protocol === "mqtts:"
      ? Deno.connectTls({
        hostname: url.hostname,
        port,
        caCerts: t.caFile ? [Deno.readTextFileSync(t.caFile)] : undefined,
      })
      : Deno.connect({ hostname: url.hostname, port });
    // A connect that outlives the timeout is closed as soon as it completes.
    let adopted = false;
    const closeLate = (c: Deno.Conn) => {
      if (adopted) return;
      try {
        c.close();
      } catch { /* already closed */ }
    };
    signal.addEventListener("abort", () => connecting.then(closeLate, () => {}), { once: true });
    const conn = await Promise.race([connecting, aborted(signal)]);
    adopted = true;
    const session = new Session(conn);
    this.#session = session;
    const connack = session.connack();
    await session.write(
      connectPacket(t.clientId ?? `edgelog-${this.#host}-${crypto.randomUUID().slice(0, 8)}`, t.username, t.password),
    );
    const code = await Promise.race([connack, session.done, aborted(signal)]);
    if (code !== 0) {
      session.close();
      throw new ConnackError(code);
    }
    return session;
  }

  /** Publishes every row; resolves when all are acknowledged (PUBACK for QoS 1, written for QoS 0). */
  async send(batch: readonly StoredReading[]): Promise<void> {
    if (this.#closed) throw new UpstreamError("forwarder closed");
    const t = this.#target;
    const signal = AbortSignal.timeout(t.timeoutMs);
    try {
      const session = await this.#connect(signal);
      const { bytes, acks } = session.publishAll(
        batch.map((row) => ({ topic: topicFor(t.topic, this.#host, row), payload: payloadFor(this.#host, row) })),
        t.qos,
      );
      await Promise.race([session.write(bytes), session.done, aborted(signal)]);
      await Promise.race([Promise.all(acks), session.done, aborted(signal)]);
    } catch (e) {
      this.#session?.close();
      this.#session = undefined;
      if (e instanceof ConnackError) {
        throw new UpstreamError(`MQTT ${t.display}: ${e.message}`, { permanent: PERMANENT_CONNACK.has(e.code) });
      }
      const reason = (e as Error).name === "TimeoutError"
        ? `no acknowledgement within ${t.timeoutMs} ms`
        : (e as Error).message;
      throw new UpstreamError(`MQTT ${t.display}: ${reason}`);
    }
  }

  /** Disconnects; a send in flight rejects and its rows stay in the outbox. */
  async close(): Promise<void> {
    this.#closed = true;
    const session = this.#session;
    this.#session = undefined;
    await session?.disconnect();
  }
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}
