/**
 * The `mqtt` source: subscribes to a topic filter on a broker at QoS 1 with a persistent session
 * (stable client id, clean session off), so messages published while edgelog is stopped or
 * restarting are delivered when it is back. A message is acknowledged (PUBACK) only once its
 * readings are committed; a message whose payload is refused is acknowledged at once (after the
 * ones before it: PUBACKs go out in order). Stored-at-least-once: a connection lost between the
 * commit and the PUBACK brings the message again.
 *
 * Memory is bounded: the client stops reading the socket while {@link MAX_UNACKED} messages wait
 * for their commit, and one message is at most `max-payload` bytes.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { resolve } from "node:path";
import { InvalidValue } from "../errors.ts";
import { logger } from "../log.ts";
import { clientIdFromSeed, MqttClient, MqttConnackError, type ReceivedMessage, reconnectLoop } from "../mqtt/mod.ts";
import type { Emit } from "../pipeline.ts";
import type { Reading } from "../reading.ts";
import { readingsFromPayload, type SensorNaming } from "./_mqtt_payload.ts";
import type { SensorLimit } from "./_reading_parser.ts";
import type { Rejections } from "./_rejections.ts";
import type { Source } from "./source.ts";
import type { IngestPipeline } from "./http_ingest.ts";

/** What `--source 'mqtt://[user:pass@]host[:port]/topic/filter/#?OPTIONS'` says. */
export interface MqttSourceSpec extends SensorNaming {
  /** `mqtt://host:port` or `mqtts://host:port`, without credentials. */
  brokerUrl: string;
  /** The URL without password, for logs and counters. */
  display: string;
  topicFilter: string;
  username?: string;
  password?: string;
  /** Overrides the derived client id. */
  clientId?: string;
  /** 1 (default): at least once, PUBACK after commit; 0: at most once. */
  qos: 0 | 1;
  keepAliveSeconds: number;
  /** Largest message accepted, bytes (a larger one is a protocol error of the connection). */
  maxPayloadBytes: number;
  /** PEM file of an extra CA for mqtts:// (`ca=`). */
  caFile?: string;
  /** mqtts:// without host name verification (`insecure=true`); the chain is still verified. */
  insecure: boolean;
}

/** Messages held waiting for their commit before the client stops reading the socket. */
export const MAX_UNACKED = 100;
const KEYS = ["client-id", "qos", "keepalive", "max-payload", "ca", "insecure", "strip", "prefix", "unit"];

/**
 * Parses a `--source mqtt://…` URL; throws {@link InvalidValue}.
 *
 * @example
 * ```ts
 * parseMqttSourceSpec("mqtt://127.0.0.1/home/+/temperature?unit=°C").topicFilter; // "home/+/temperature"
 * ```
 */
export function parseMqttSourceSpec(raw: string): MqttSourceSpec {
  let url: URL;
  try {
    // '#' is the multi-level wildcard here, not a URL fragment.
    url = new URL(raw.replaceAll("#", "%23"));
  } catch {
    throw new InvalidValue(`not a URL: expected mqtt://[user:pass@]host[:port]/topic/filter`);
  }
  const unknown = [...url.searchParams.keys()].find((k) => !KEYS.includes(k));
  if (unknown !== undefined) throw new InvalidValue(`unknown option ${unknown}= (known: ${KEYS.join(", ")})`);
  const get = (k: string) => url.searchParams.get(k) ?? undefined;
  const topicFilter = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (topicFilter === "") throw new InvalidValue("the path is the topic filter to subscribe to, e.g. /home/#");
  const levels = topicFilter.split("/");
  if (
    levels.some((l, i) => (l.includes("#") && (l !== "#" || i !== levels.length - 1)) || (l.includes("+") && l !== "+"))
  ) {
    throw new InvalidValue(`topic filter ${JSON.stringify(topicFilter)}: '+' and '#' must be whole levels, '#' last`);
  }
  const tls = url.protocol === "mqtts:";
  const port = url.port || (tls ? "8883" : "1883");
  const display = `${url.protocol}//${
    url.username ? `${decodeURIComponent(url.username)}@` : ""
  }${url.hostname}:${port}/${topicFilter}`;
  const clientId = get("client-id");
  if (clientId !== undefined && !/^[0-9a-zA-Z]{1,23}$/.test(clientId)) {
    throw new InvalidValue("client-id= must be 1-23 letters and digits (the ids every MQTT 3.1.1 broker accepts)");
  }
  const unit = get("unit");
  return {
    brokerUrl: `${url.protocol}//${url.hostname}:${port}`,
    display,
    topicFilter,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    clientId,
    qos: whole(get("qos"), "qos", 1, 0, 1) as 0 | 1,
    keepAliveSeconds: whole(get("keepalive"), "keepalive", 60, 0, 65535),
    maxPayloadBytes: whole(get("max-payload"), "max-payload", 256 * 1024, 64, 64 * 1024 * 1024),
    caFile: get("ca"),
    insecure: flag(get("insecure"), "insecure"),
    strip: whole(get("strip"), "strip", 0, 0, 100),
    prefix: get("prefix") ?? "",
    unit: unit === "" ? undefined : unit,
  };
}

function whole(raw: string | undefined, key: string, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= min && n <= max)) throw new InvalidValue(`${key}=${raw}: expected a whole number from ${min} to ${max}`);
  return n;
}

function flag(raw: string | undefined, key: string): boolean {
  if (raw === undefined || raw === "false" || raw === "0") return false;
  if (raw === "true" || raw === "1" || raw === "") return true;
  throw new InvalidValue(`${key}=${raw}: expected true or false`);
}

/** Options of {@link MqttSource}. */
export interface MqttSourceOptions {
  spec: MqttSourceSpec;
  /** Back-pressure (`room`) and the commit to wait for before acknowledging (`waitStored`). */
  pipeline: IngestPipeline;
  rejections: Rejections;
  sensorLimit?: SensorLimit;
  /** Seeds the default client id: host name and database path. */
  host: string;
  dbPath: string;
  /** Reconnect backoff, ms (defaults 1 s to 30 s). */
  backoff?: { minMs: number; maxMs: number };
  now?: () => number;
  log?: Logger;
}

interface Held {
  message: ReceivedMessage;
  readings: Reading[];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Readings from an MQTT broker. */
export class MqttSource implements Source {
  readonly name: string;
  readonly #o: MqttSourceOptions;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  /** Parsed messages not yet handed to the pipeline, in arrival order. */
  #queue: Held[] = [];
  /** Commits being waited for; each acknowledges its messages when it resolves. */
  readonly #commits = new Set<Promise<void>>();
  #draining = false;
  #stopping = false;
  #emit: Emit | undefined;
  #client: MqttClient | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: MqttSourceOptions) {
    this.#o = options;
    this.name = `mqtt ${options.spec.display}`;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? logger("sources");
  }

  /** Connects in the background; reconnects with backoff and jitter until stopped. */
  async start(emit: Emit): Promise<void> {
    this.#emit = emit;
    const s = this.#o.spec;
    const clientId = s.clientId ??
      await clientIdFromSeed(`source\n${this.#o.host}\n${resolve(this.#o.dbPath)}\n${s.brokerUrl}/${s.topicFilter}`);
    const client = new MqttClient({
      url: s.brokerUrl,
      clientId,
      cleanSession: false,
      username: s.username,
      password: s.password,
      keepAliveSeconds: s.keepAliveSeconds,
      // Fixed header (5), topic length (2) and a topic of up to 1 KiB, packet id (2).
      maxPacketSize: s.maxPayloadBytes + 5 + 2 + 1024 + 2,
      maxUnacked: MAX_UNACKED,
      skipOversizedMessages: true,
      caFile: s.caFile,
      unsafelyDisableHostnameVerification: s.insecure,
      onMessage: (m) => this.#receive(m),
    });
    this.#client = client;
    this.#loop = reconnectLoop(async (signal) => {
      const result = await client.connect(signal);
      // The broker keeps the subscription in a present session; subscribing again is harmless and
      // also applies a changed QoS.
      await client.subscribe([{ topicFilter: s.topicFilter, qos: s.qos }]);
      this.#log.info("{source}: connected as {clientId} (session {session})", {
        source: this.name,
        clientId,
        session: result.sessionPresent ? "resumed" : "new",
      });
      return result;
    }, {
      signal: this.#stop.signal,
      minDelayMs: this.#o.backoff?.minMs ?? 1000,
      maxDelayMs: this.#o.backoff?.maxMs ?? 30_000,
      // A refused password or client id will not fix itself within seconds.
      delayFor: (e, ms) => e instanceof MqttConnackError && e.permanent ? Math.max(ms, 60_000) : ms,
      onRetry: ({ error, attempt, delayMs }) => {
        if (this.#stopping) return;
        const properties = {
          source: this.name,
          problem: error instanceof Error ? error.message : "connection closed",
          delayMs,
        };
        // The first failure of a run of failures is a warning; the retries after it are noise.
        if (attempt <= 1) this.#log.warn("{source}: {problem}; reconnecting in {delayMs} ms", properties);
        else this.#log.debug("{source}: {problem}; reconnecting in {delayMs} ms", properties);
      },
    });
  }

  #receive(message: ReceivedMessage): void {
    if (this.#stopping) return; // not acknowledged: the session brings it again after a restart
    if (message.oversized !== undefined) {
      const limit = this.#o.spec.maxPayloadBytes;
      this.#o.rejections.reject(
        "payload_too_large",
        `${message.oversized} bytes; max-payload=${limit}`,
        `topic ${message.topic}`,
      );
      this.#queue.push({ message, readings: [] });
      if (!this.#draining) this.#drain();
      return;
    }
    const { readings, rejected } = readingsFromPayload(message.topic, message.payload, this.#o.spec, this.#now());
    for (const r of rejected) this.#o.rejections.reject(r.reason, r.message, `topic ${message.topic}`);
    const admitted: Reading[] = [];
    for (const reading of readings) {
      const r = this.#o.sensorLimit?.admit({ ok: true, reading }) ?? { ok: true as const, reading };
      if (r.ok) admitted.push(r.reading);
      else this.#o.rejections.reject(r.reason, r.message, `topic ${message.topic}`);
    }
    this.#queue.push({ message, readings: admitted });
    if (!this.#draining) this.#drain();
  }

  /** Hands queued messages to the pipeline in order, waiting for room rather than dropping. */
  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#queue.length > 0) {
        const group: ReceivedMessage[] = [];
        const readings: Reading[] = [];
        const room = this.#o.pipeline.room;
        while (this.#queue.length > 0 && readings.length + this.#queue[0].readings.length <= room) {
          const held = this.#queue.shift()!;
          group.push(held.message);
          readings.push(...held.readings);
        }
        if (group.length === 0) {
          await sleep(10);
          continue;
        }
        if (readings.length > 0) this.#emit?.(readings);
        this.#acknowledgeAfterCommit(group, readings.length > 0);
      }
    } finally {
      this.#draining = false;
    }
  }

  #acknowledgeAfterCommit(group: ReceivedMessage[], emitted: boolean): void {
    if (!emitted) {
      for (const m of group) m.ack();
      return;
    }
    const commit = this.#o.pipeline.waitStored(this.#o.pipeline.counters.taken).then((stored) => {
      // Not stored (the writer failed for good): no PUBACK, the broker keeps the messages.
      if (stored) { for (const m of group) m.ack(); }
    });
    this.#commits.add(commit);
    commit.finally(() => this.#commits.delete(commit));
  }

  /**
   * Stops taking messages, waits (bounded) for the commits of those taken so they are
   * acknowledged, then disconnects. Messages not acknowledged come again on the next start.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    const handed = this.#queue.length;
    this.#queue = [];
    if (handed > 0) {
      this.#log.debug("{source}: {n} messages left for the broker to send again", { source: this.name, n: handed });
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(this.#commits),
      new Promise((r) => timer = setTimeout(r, 2000)),
    ]);
    clearTimeout(timer);
    this.#stop.abort();
    await this.#loop;
    await this.#client?.close();
    this.#emit = undefined;
  }
}
