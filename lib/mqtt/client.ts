/**
 * An MQTT 3.1.1 client over Deno TCP or TLS for both directions edgelog needs: publishing QoS 0/1 (the forwarder)
 * and subscribing with manual, in-order acknowledgement (the `mqtt` input).
 *
 * Longer than 400 lines because one connection's framing, keep-alive and in-order PUBACK queue and the client's
 * packet-id bookkeeping share state that splitting would have to expose.
 *
 * What it does not do, on purpose:
 * - reconnect: {@link MqttClient.connect} makes one connection; its `closed` promise tells when it is gone, and the
 *   caller's loop (see `reconnect.ts`) decides when to try again, with backoff and jitter;
 * - QoS 2: subscriptions ask for at most QoS 1, so a conforming server never sends QoS 2 (§3.8.4), and a QoS 2
 *   PUBLISH is treated as a protocol error;
 * - queue while offline: publishing without a connection rejects at once (edgelog's outbox is the queue).
 *
 * @example
 * ```ts
 * import { clientIdFromSeed, MqttClient } from "./client.ts";
 * const client = new MqttClient({
 *   url: "mqtt://127.0.0.1:1883",
 *   clientId: await clientIdFromSeed("box17:/var/lib/edgelog/edgelog.db"),
 *   cleanSession: false,
 *   onMessage: (m) => {
 *     store(m.payload).then(() => m.ack()); // PUBACK only once the reading is on disk
 *   },
 * });
 * const { sessionPresent, closed } = await client.connect();
 * if (!sessionPresent) await client.subscribe([{ topicFilter: "sensors/#", qos: 1 }]);
 * console.log("connection ended:", await closed);
 * declare function store(payload: Uint8Array): Promise<void>;
 * ```
 *
 * @module
 */

import {
  CONNACK_REASONS,
  DEFAULT_MAX_PACKET_SIZE,
  encodeConnect,
  encodeDisconnect,
  encodePingreq,
  encodePuback,
  encodePublish,
  encodeSubscribe,
  encodeUnsubscribe,
  MqttProtocolError,
  PacketDecoder,
  type ServerPacket,
  SUBACK_FAILURE,
  type Subscription,
} from "./_wire.ts";

export { MqttProtocolError, type Subscription } from "./_wire.ts";

const encoder = new TextEncoder();

/** The broker refused the connection; `code` is the CONNACK return code (§3.2.2.3). */
export class MqttConnackError extends Error {
  /** 1 protocol version, 2 client id, 3 unavailable, 4 bad user name or password, 5 not authorized. */
  readonly code: number;
  /**
   * Makes the error from the CONNACK return code.
   *
   * @example
   * ```ts
   * new MqttConnackError(5).message; // "broker refused the connection: not authorized"
   * ```
   */
  constructor(code: number) {
    super(`broker refused the connection: ${CONNACK_REASONS[code] ?? `return code ${code}`}`);
    this.name = "MqttConnackError";
    this.code = code;
  }
  /** Whether retrying with the same settings cannot help (everything but "server unavailable"). */
  get permanent(): boolean {
    return this.code !== 3;
  }
}

/** The broker refused one or more topic filters of a SUBSCRIBE (SUBACK return code 0x80). */
export class MqttSubscribeError extends Error {
  /** The refused filters. */
  readonly refused: string[];
  /**
   * Makes the error naming the refused filters.
   *
   * @example
   * ```ts
   * new MqttSubscribeError(["secret/#"]);
   * ```
   */
  constructor(refused: string[]) {
    super(`broker refused the subscription to ${refused.map((t) => JSON.stringify(t)).join(", ")}`);
    this.name = "MqttSubscribeError";
    this.refused = refused;
  }
}

/** The connection is not usable: not connected, lost, timed out, closed. `cause` has the underlying error. */
export class MqttConnectionError extends Error {
  /**
   * Makes the error; pass the underlying error as `cause`.
   *
   * @example
   * ```ts
   * new MqttConnectionError("no PINGRESP within 10000 ms");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MqttConnectionError";
  }
}

/** A message received from the broker. */
export interface ReceivedMessage {
  /** Topic name it was published to. */
  readonly topic: string;
  /** Application message; owned by the consumer. */
  readonly payload: Uint8Array;
  /** QoS it was delivered with: the lower of the publisher's and the subscription's. */
  readonly qos: 0 | 1;
  /** Set by the broker on a redelivery (§3.3.1.1): the message may have been seen before. */
  readonly dup: boolean;
  /** A retained message sent on subscribing (§3.3.1.3), not a new one. */
  readonly retain: boolean;
  /** The broker's packet identifier (QoS 1 only; unique only among unacknowledged messages). */
  readonly packetId: number | undefined;
  /** With `skipOversizedMessages`: the payload's size when it was too large and dropped (`payload` is empty). */
  readonly oversized?: number;
  /**
   * Acknowledges the message. For QoS 1 the PUBACK is sent once every earlier QoS 1 message of the same connection
   * is acknowledged too, so PUBACKs leave in the order the PUBLISH packets came (§4.6). Idempotent; does nothing for
   * QoS 0. Returns false when the connection that delivered the message is gone: nothing is sent and, with a
   * persistent session, the broker delivers the message again (with `dup` set) after the next connect.
   */
  ack(): boolean;
}

/** Options of {@link MqttClient}. */
export interface MqttClientOptions {
  /** `mqtt://host[:1883]` or `mqtts://host[:8883]`; user and password in the URL are used unless given below. */
  url: string | URL;
  /** See {@link clientIdFromSeed} for one every server must accept. */
  clientId: string;
  /** false: a persistent session (subscriptions and unacknowledged QoS 1 messages survive). Default true. */
  cleanSession?: boolean;
  /** User name; overrides one in the URL. */
  username?: string;
  /** Password (needs a user name in MQTT 3.1.1); overrides one in the URL. */
  password?: string;
  /** Seconds; a PINGREQ goes out after this long without traffic in either direction. 0 turns it off. Default 60. */
  keepAliveSeconds?: number;
  /** How long to wait for PINGRESP before closing the connection. Default min(10 s, keep-alive). */
  pingTimeoutMs?: number;
  /** Bound on TCP/TLS connect plus CONNACK. Default 10 s. */
  connectTimeoutMs?: number;
  /** Largest accepted incoming packet in bytes (fixed header included). Default 1 MiB. */
  maxPacketSize?: number;
  /**
   * A received message over `maxPacketSize` is delivered with an empty payload and `oversized`
   * set (its payload skipped unread) instead of closing the connection, so it can be
   * acknowledged rather than coming back after every reconnect. Default false.
   */
  skipOversizedMessages?: boolean;
  /**
   * Received QoS 1 messages the consumer may hold unacknowledged; at the limit the client stops reading (TCP
   * backpressure) until acks free a slot, so memory stays bounded by about `maxUnacked × maxPacketSize` even with a
   * broker whose in-flight window is unlimited. Default 1000 (mosquitto sends at most 20 by default anyway).
   */
  maxUnacked?: number;
  /** PEM file of a CA to trust besides the system's, for mqtts:// (needs --allow-read for it). */
  caFile?: string;
  /** PEM strings of CAs to trust besides the system's, for mqtts://. */
  caCerts?: string[];
  /**
   * mqtts:// only: accept a certificate whose names do not match the host (the chain is still verified). Deno has
   * no per-connection switch to skip verification entirely; that is the `--unsafely-ignore-certificate-errors=HOST`
   * flag.
   */
  unsafelyDisableHostnameVerification?: boolean;
  /**
   * Called for every received PUBLISH, in order. Required to subscribe. A throw closes the connection (the message
   * stays unacknowledged and is delivered again after the next connect of a persistent session).
   */
  onMessage?: (message: ReceivedMessage) => void;
}

/** What {@link MqttClient.connect} resolves to. */
export interface ConnectResult {
  /** The broker kept a session for this client id (subscriptions are still in place). */
  sessionPresent: boolean;
  /** Resolves when this connection ends: with the reason, or undefined after {@link MqttClient.close}. Never rejects. */
  closed: Promise<Error | undefined>;
}

/** Counters for diagnostics and tests. */
export interface MqttClientStats {
  /** Connections accepted by the broker. */
  connects: number;
  /** Packets queued for sending. */
  packetsSent: number;
  /** Packets received and handled. */
  packetsReceived: number;
  /** PINGREQs sent. */
  pingsSent: number;
  /** PINGRESPs received. */
  pingResponses: number;
}

interface Pending {
  kind: "publish" | "subscribe" | "unsubscribe";
  /** For a publish: the encoded packet, resent with DUP set after a reconnect to a present session. */
  bytes: Uint8Array;
  resolve: (value: number[]) => void;
  reject: (e: Error) => void;
  topicFilters?: string[];
}

/** One received QoS 1 PUBLISH waiting for its PUBACK. */
interface InboundEntry {
  packetId: number;
  acked: boolean;
}

/** What a connection reports to the client that owns it. */
interface ConnectionHost {
  stats: MqttClientStats;
  onMessage: ((m: ReceivedMessage) => void) | undefined;
  /** PUBACK, SUBACK or UNSUBACK arrived. May throw a protocol error. */
  acknowledged(p: ServerPacket): void;
  ended(connection: Connection, reason: Error | undefined): void;
}

/** One TCP/TLS connection: framing, ordered writes, keep-alive, in-order PUBACKs. */
class Connection {
  readonly #conn: Deno.Conn;
  readonly #client: ConnectionHost;
  readonly #decoder: PacketDecoder;
  readonly #keepAliveMs: number;
  readonly #pingTimeoutMs: number;
  /** Received QoS 1 messages in arrival order; the head leaves (as a PUBACK) only once acked. */
  readonly #inbound: InboundEntry[] = [];
  readonly #inboundIds = new Set<number>();
  #writeQueue: { bytes: Uint8Array; done: (e?: Error) => void }[] = [];
  #writing = false;
  #lastSent = performance.now();
  #lastReceived = performance.now();
  #keepAliveTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setTimeout> | undefined;
  #resolveClosed!: (reason: Error | undefined) => void;
  #connack: ((p: { sessionPresent: boolean; returnCode: number }) => void) | undefined;
  readonly #maxUnacked: number;
  #disconnecting = false;
  /** Set while reading is paused because `maxUnacked` messages are held. */
  #resume: (() => void) | undefined;
  isClosed = false;
  readonly closed: Promise<Error | undefined>;

  /** Closed, or saying goodbye: nothing more may be sent. */
  get closing(): boolean {
    return this.isClosed || this.#disconnecting;
  }

  constructor(
    conn: Deno.Conn,
    client: ConnectionHost,
    opts: { keepAliveMs: number; pingTimeoutMs: number; max: number; maxUnacked: number; skipOversized: boolean },
  ) {
    this.#conn = conn;
    this.#client = client;
    this.#decoder = new PacketDecoder({ maxPacketSize: opts.max, skipOversizedPublish: opts.skipOversized });
    this.#keepAliveMs = opts.keepAliveMs;
    this.#pingTimeoutMs = opts.pingTimeoutMs;
    this.#maxUnacked = opts.maxUnacked;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    this.#readLoop();
  }

  connack(): Promise<{ sessionPresent: boolean; returnCode: number }> {
    return new Promise((resolve) => this.#connack = resolve);
  }

  /** Queues bytes; consecutive packets go out in one write. Resolves when written, rejects if the connection ends. */
  send(bytes: Uint8Array): Promise<void> {
    if (this.isClosed) return Promise.reject(new MqttConnectionError("connection closed"));
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#writeQueue.push({ bytes, done: (e) => e ? reject(e) : resolve() });
    this.#lastSent = performance.now();
    this.#client.stats.packetsSent++;
    if (!this.#writing) this.#drain();
    return promise;
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#writeQueue.length > 0 && !this.isClosed) {
        const batch = this.#writeQueue;
        this.#writeQueue = [];
        const size = batch.reduce((s, w) => s + w.bytes.length, 0);
        const all = batch.length === 1 ? batch[0].bytes : new Uint8Array(size);
        if (batch.length > 1) {
          let at = 0;
          for (const w of batch) {
            all.set(w.bytes, at);
            at += w.bytes.length;
          }
        }
        try {
          let at = 0;
          while (at < all.length) at += await this.#conn.write(all.subarray(at));
        } catch (e) {
          const error = new MqttConnectionError(`write failed: ${(e as Error).message}`, { cause: e });
          for (const w of batch) w.done(error);
          this.close(error);
          return;
        }
        for (const w of batch) w.done();
      }
    } finally {
      this.#writing = false;
    }
  }

  async #readLoop(): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await this.#conn.read(buf);
        if (n === null) {
          this.close(this.#disconnecting ? undefined : new MqttConnectionError("the broker closed the connection"));
          return;
        }
        this.#lastReceived = performance.now();
        for (const p of this.#decoder.push(buf.subarray(0, n))) {
          if (this.isClosed) return;
          if (p.type === "publish" && p.qos === 1 && this.#inbound.length >= this.#maxUnacked) {
            // Everything behind this PUBLISH waits too: handling later packets first would reorder the stream.
            await new Promise<void>((resolve) => this.#resume = resolve);
            if (this.isClosed) return;
          }
          this.#client.stats.packetsReceived++;
          this.#handle(p);
        }
      }
    } catch (e) {
      if (this.isClosed) return; // our own close() interrupted the read
      if (this.#disconnecting) return this.close(); // e.g. a reset after our DISCONNECT: the goodbye is done anyway
      this.close(
        e instanceof MqttProtocolError || e instanceof MqttConnectionError
          ? e
          : new MqttConnectionError(`connection lost: ${(e as Error).message}`, { cause: e }),
      );
    }
  }

  #handle(p: ServerPacket): void {
    if (this.#connack) {
      if (p.type !== "connack") throw new MqttProtocolError(`first packet from the broker is ${p.type}, not CONNACK`);
      const resolve = this.#connack;
      this.#connack = undefined;
      resolve(p);
      return;
    }
    switch (p.type) {
      case "connack":
        throw new MqttProtocolError("a second CONNACK");
      case "publish":
        return this.#receive(p);
      case "puback":
      case "suback":
      case "unsuback":
        return this.#client.acknowledged(p);
      case "pingresp":
        this.#client.stats.pingResponses++;
        clearTimeout(this.#pingTimer);
        this.#pingTimer = undefined;
        return;
      default:
        throw new MqttProtocolError(`${p.type.toUpperCase()} although this client never uses QoS 2`);
    }
  }

  #receive(p: Extract<ServerPacket, { type: "publish" }>): void {
    if (p.qos === 2) throw new MqttProtocolError("QoS 2 PUBLISH although at most QoS 1 was subscribed");
    if (this.#disconnecting) return; // not delivered, not acknowledged: a persistent session brings it again
    const onMessage = this.#client.onMessage;
    if (!onMessage) throw new MqttConnectionError("PUBLISH received but no onMessage handler is set");
    let ack: () => boolean = () => !this.closing;
    if (p.qos === 1) {
      const id = p.packetId!;
      if (this.#inboundIds.has(id)) {
        // The broker resent a message the consumer still holds (old brokers retry within a connection): the pending
        // copy will be acknowledged; delivering it twice would only make the consumer store it twice.
        if (p.dup) return;
        throw new MqttProtocolError(`PUBLISH reuses packet identifier ${id} that is not acknowledged yet`);
      }
      const entry: InboundEntry = { packetId: id, acked: false };
      this.#inbound.push(entry);
      this.#inboundIds.add(id);
      ack = () => {
        if (this.closing) return false;
        if (!entry.acked) {
          entry.acked = true;
          this.#flushAcks();
        }
        return true;
      };
    }
    const message: ReceivedMessage = {
      topic: p.topic,
      payload: p.payload,
      qos: p.qos,
      dup: p.dup,
      retain: p.retain,
      packetId: p.packetId,
      ack,
      ...(p.oversized !== undefined ? { oversized: p.oversized } : {}),
    };
    try {
      onMessage(message);
    } catch (e) {
      throw new MqttConnectionError(`onMessage threw: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Sends PUBACKs for the acknowledged head of the queue, stopping at the first message not acknowledged yet. */
  #flushAcks(): void {
    while (this.#inbound.length > 0 && this.#inbound[0].acked) {
      const entry = this.#inbound.shift()!;
      this.#inboundIds.delete(entry.packetId);
      this.send(encodePuback(entry.packetId)).catch(() => {}); // a failed write closes the connection
    }
    if (this.#resume && this.#inbound.length < this.#maxUnacked) {
      const resume = this.#resume;
      this.#resume = undefined;
      resume();
    }
  }

  startKeepAlive(): void {
    if (this.#keepAliveMs > 0) this.#scheduleKeepAlive(this.#keepAliveMs);
  }

  #scheduleKeepAlive(delay: number): void {
    this.#keepAliveTimer = setTimeout(() => this.#keepAliveTick(), Math.max(1, delay));
  }

  #keepAliveTick(): void {
    if (this.closing) return;
    if (this.#pingTimer !== undefined) {
      // A PINGREQ is outstanding: its own timer closes the connection if PINGRESP does not come.
      this.#scheduleKeepAlive(this.#keepAliveMs);
      return;
    }
    const now = performance.now();
    // Idle in either direction counts: the spec only requires sending something within keep-alive, but with traffic
    // only outwards (e.g. PUBACKs) a dead broker would go unnoticed until TCP gives up, which takes many minutes.
    const lastActivity = Math.min(this.#lastSent, this.#lastReceived);
    if (now - lastActivity < this.#keepAliveMs) {
      this.#scheduleKeepAlive(lastActivity + this.#keepAliveMs - now);
      return;
    }
    this.#client.stats.pingsSent++;
    this.send(encodePingreq()).catch(() => {});
    // While reading is paused for backpressure the PINGRESP cannot be read: ping to keep the broker's keep-alive
    // satisfied, but do not time the answer.
    if (this.#resume === undefined) {
      this.#pingTimer = setTimeout(() => {
        this.close(new MqttConnectionError(`no PINGRESP within ${this.#pingTimeoutMs} ms`));
      }, this.#pingTimeoutMs);
    }
    this.#scheduleKeepAlive(this.#keepAliveMs);
  }

  /**
   * Sends DISCONNECT, half-closes, and waits (at most `timeoutMs`) for the broker to close its side: only then has
   * it read everything sent before, such as the last PUBACKs. Closing at once can leave them unread in the broker's
   * socket buffer, and a quick reconnect with the same client id then makes the broker drop the old socket with
   * them (seen with mosquitto 2.0.11: an acknowledged message came back).
   */
  async disconnect(timeoutMs: number): Promise<void> {
    if (this.isClosed) return;
    this.#disconnecting = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs));
    try {
      await Promise.race([this.send(encodeDisconnect()), deadline]);
      await this.#conn.closeWrite();
      await Promise.race([this.closed, deadline]);
    } catch { /* closing anyway */ }
    clearTimeout(timer);
    this.close();
  }

  /** Ends the connection at once; `reason` undefined means a deliberate close. */
  close(reason?: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    clearTimeout(this.#keepAliveTimer);
    clearTimeout(this.#pingTimer);
    this.#resume?.(); // lets the paused read loop see isClosed and end
    const error = reason ?? new MqttConnectionError("connection closed");
    for (const w of this.#writeQueue) w.done(error);
    this.#writeQueue = [];
    this.#inbound.length = 0;
    this.#inboundIds.clear();
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    this.#client.ended(this, reason);
    this.#resolveClosed(reason);
  }
}

/**
 * An MQTT 3.1.1 client: one connection at a time, reusable after the connection ends.
 *
 * @example
 * ```ts
 * const client = new MqttClient({ url: "mqtt://127.0.0.1:1883", clientId: "edgelogPub1" });
 * await client.connect();
 * await client.publish("edgelog/box17/t1", '{"value":21.5}', { qos: 1 }); // resolves on PUBACK
 * await client.close();
 * ```
 */
export class MqttClient {
  readonly #options: MqttClientOptions;
  readonly #cleanSession: boolean;
  /** Outgoing packets waiting for PUBACK/SUBACK/UNSUBACK, in the order they were sent (Map keeps insertion order). */
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #connection: Connection | undefined;
  #connecting = false;
  /** Counters since construction. */
  readonly stats: MqttClientStats = { connects: 0, packetsSent: 0, packetsReceived: 0, pingsSent: 0, pingResponses: 0 };

  /**
   * Checks the options; connects nothing (see {@link MqttClient.connect}).
   *
   * @example
   * ```ts
   * new MqttClient({ url: "mqtts://broker.example:8883", clientId: "edgelogBox17", caFile: "/etc/edgelog/ca.pem" });
   * ```
   */
  constructor(options: MqttClientOptions) {
    const url = new URL(options.url);
    if (url.protocol !== "mqtt:" && url.protocol !== "mqtts:") {
      throw new RangeError(`unsupported scheme ${url.protocol} (expected mqtt: or mqtts:)`);
    }
    this.#options = options;
    this.#cleanSession = options.cleanSession ?? true;
  }

  /** Whether a connection is established (CONNACK accepted) and not closed. */
  get connected(): boolean {
    return this.#connection !== undefined && !this.#connection.closing && !this.#connecting;
  }

  /**
   * Opens the TCP/TLS connection, sends CONNECT and waits for CONNACK. With a persistent session that the broker
   * kept, QoS 1 publishes not yet acknowledged are sent again (DUP set, original ids, original order: §4.4); if the
   * broker lost the session they reject. Subscriptions are the broker's session state: resubscribe when
   * `sessionPresent` is false.
   *
   * @throws {MqttConnackError} when the broker refuses; {@link MqttConnectionError} on network errors or timeout.
   * @example
   * ```ts
   * const { sessionPresent, closed } = await client.connect(AbortSignal.timeout(5000));
   * ```
   */
  async connect(signal?: AbortSignal): Promise<ConnectResult> {
    if (this.#connecting || this.connected) throw new MqttConnectionError("already connected or connecting");
    this.#connecting = true;
    const o = this.#options;
    const timeoutMs = o.connectTimeoutMs ?? 10_000;
    const timeout = new AbortController();
    const timer = setTimeout(
      () => timeout.abort(new MqttConnectionError(`no CONNACK within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const abort = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
    let connection: Connection | undefined;
    try {
      const conn = await this.#open(abort);
      const keepAliveSeconds = o.keepAliveSeconds ?? 60;
      const host: ConnectionHost = {
        stats: this.stats,
        onMessage: o.onMessage,
        acknowledged: (p) => this.#acknowledged(p),
        ended: (c, reason) => this.#connectionEnded(c, reason),
      };
      connection = new Connection(conn, host, {
        keepAliveMs: keepAliveSeconds * 1000,
        pingTimeoutMs: o.pingTimeoutMs ?? Math.min(10_000, keepAliveSeconds * 1000),
        max: o.maxPacketSize ?? DEFAULT_MAX_PACKET_SIZE,
        maxUnacked: o.maxUnacked ?? 1000,
        skipOversized: o.skipOversizedMessages ?? false,
      });
      this.#connection = connection;
      const url = new URL(o.url);
      const connack = connection.connack();
      connection.send(encodeConnect({
        clientId: o.clientId,
        cleanSession: this.#cleanSession,
        keepAliveSeconds,
        username: o.username ?? (url.username ? decodeURIComponent(url.username) : undefined),
        password: o.password ?? (url.password ? decodeURIComponent(url.password) : undefined),
      })).catch(() => {});
      const result = await Promise.race([
        connack,
        connection.closed.then((e) => Promise.reject(e ?? new MqttConnectionError("closed while connecting"))),
        rejectOnAbort(abort),
      ]);
      if (result.returnCode !== 0) throw new MqttConnackError(result.returnCode);
      this.stats.connects++;
      this.#connecting = false;
      this.#afterConnack(connection, result.sessionPresent);
      connection.startKeepAlive();
      return { sessionPresent: result.sessionPresent, closed: connection.closed };
    } catch (e) {
      connection?.close(e as Error);
      throw e instanceof MqttConnackError || e instanceof MqttConnectionError || e instanceof MqttProtocolError
        ? e
        : new MqttConnectionError(`cannot connect to ${display(o.url)}: ${(e as Error).message}`, { cause: e });
    } finally {
      this.#connecting = false;
      clearTimeout(timer);
    }
  }

  async #open(signal: AbortSignal): Promise<Deno.Conn> {
    const o = this.#options;
    const url = new URL(o.url);
    const tls = url.protocol === "mqtts:";
    const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = Number(url.port || (tls ? 8883 : 1883));
    const caCerts = [...(o.caCerts ?? []), ...(o.caFile ? [await Deno.readTextFile(o.caFile)] : [])];
    const opening: Promise<Deno.Conn> = tls
      ? Deno.connectTls({
        hostname,
        port,
        caCerts: caCerts.length > 0 ? caCerts : undefined,
        unsafelyDisableHostnameVerification: o.unsafelyDisableHostnameVerification,
      })
      : Deno.connect({ hostname, port });
    // Deno.connect takes no signal: a connection that completes after the abort is closed right away.
    let adopted = false;
    const onAbort = () =>
      opening.then((c) => {
        if (!adopted) c.close();
      }, () => {});
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const conn = await Promise.race([opening, rejectOnAbort(signal)]);
      adopted = true;
      if (tls) {
        // Certificate errors surface here rather than as a failed first read.
        try {
          await Promise.race([(conn as Deno.TlsConn).handshake(), rejectOnAbort(signal)]);
        } catch (e) {
          conn.close();
          throw e;
        }
      }
      return conn;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  #afterConnack(connection: Connection, sessionPresent: boolean): void {
    if (this.#cleanSession) return; // nothing survived the last connection
    for (const [id, p] of this.#pending) {
      if (p.kind !== "publish") continue;
      if (sessionPresent) {
        p.bytes[0] |= 0x08; // DUP: the broker may have seen it (§3.3.1.1)
        connection.send(p.bytes).catch(() => {});
      } else {
        this.#pending.delete(id);
        p.reject(new MqttConnectionError("the broker lost the session; the publish was not confirmed"));
      }
    }
  }

  #connectionEnded(connection: Connection, reason: Error | undefined): void {
    if (this.#connection !== connection) return;
    this.#connection = undefined;
    const error = reason ?? new MqttConnectionError("connection closed");
    for (const [id, p] of this.#pending) {
      // With a persistent session an unconfirmed QoS 1 publish is resent after reconnecting (§4.4), unless the
      // caller closed the client on purpose.
      if (p.kind === "publish" && !this.#cleanSession && reason !== undefined) continue;
      this.#pending.delete(id);
      p.reject(error);
    }
  }

  #acknowledged(p: ServerPacket): void {
    if (p.type !== "puback" && p.type !== "suback" && p.type !== "unsuback") return;
    const pending = this.#pending.get(p.packetId);
    const expected = p.type === "puback" ? "publish" : p.type === "suback" ? "subscribe" : "unsubscribe";
    // An acknowledgement for an id not in flight is ignored: it can follow a resend after reconnect.
    if (!pending || pending.kind !== expected) return;
    this.#pending.delete(p.packetId);
    if (p.type === "suback") {
      const filters = pending.topicFilters!;
      if (p.returnCodes.length !== filters.length) {
        const e = new MqttProtocolError(
          `SUBACK has ${p.returnCodes.length} return codes for ${filters.length} filters`,
        );
        pending.reject(e);
        throw e;
      }
      pending.resolve(p.returnCodes);
      return;
    }
    pending.resolve([]);
  }

  #allocateId(): number {
    for (let i = 0; i < 0xffff; i++) {
      const id = this.#nextId;
      this.#nextId = id === 0xffff ? 1 : id + 1;
      if (!this.#pending.has(id)) return id;
    }
    throw new MqttConnectionError("all 65535 packet identifiers are in flight");
  }

  #live(): Connection {
    const c = this.#connection;
    if (!c || c.closing || this.#connecting) throw new MqttConnectionError("not connected");
    return c;
  }

  /**
   * Publishes one message. QoS 1 resolves on PUBACK, QoS 0 once written to the socket. Rejects if the connection
   * ends first (with a persistent session, a QoS 1 publish instead waits for the next connect and is resent).
   * No timeout of its own: race it against the caller's deadline.
   *
   * @example
   * ```ts
   * await client.publish("edgelog/box17/t1", JSON.stringify({ value: 21.5 }), { qos: 1 });
   * ```
   */
  publish(
    topic: string,
    payload: Uint8Array | string,
    options: { qos?: 0 | 1; retain?: boolean } = {},
  ): Promise<void> {
    try {
      const connection = this.#live();
      const qos = options.qos ?? 1;
      const body = typeof payload === "string" ? encoder.encode(payload) : payload;
      if (qos === 0) return connection.send(encodePublish({ topic, payload: body, qos, retain: options.retain }));
      const packetId = this.#allocateId();
      const bytes = encodePublish({ topic, payload: body, qos, retain: options.retain, packetId });
      const { promise, resolve, reject } = Promise.withResolvers<number[]>();
      this.#pending.set(packetId, { kind: "publish", bytes, resolve, reject });
      connection.send(bytes).catch(() => {}); // a write failure closes the connection, which settles `promise`
      return promise.then(() => {});
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Subscribes; resolves with the granted QoS per filter. Requested QoS is at most 1, so QoS 2 is never delivered.
   *
   * @throws {MqttSubscribeError} when the broker refuses any filter (0x80) or grants more than was asked.
   * @example
   * ```ts
   * await client.subscribe([{ topicFilter: "sensors/+/temp", qos: 1 }]); // [1]
   * ```
   */
  async subscribe(subscriptions: readonly Subscription[]): Promise<number[]> {
    if (!this.#options.onMessage) throw new RangeError("subscribe needs the onMessage option");
    const connection = this.#live();
    const packetId = this.#allocateId();
    const bytes = encodeSubscribe(packetId, subscriptions);
    const { promise, resolve, reject } = Promise.withResolvers<number[]>();
    const topicFilters = subscriptions.map((s) => s.topicFilter);
    this.#pending.set(packetId, { kind: "subscribe", bytes, resolve, reject, topicFilters });
    connection.send(bytes).catch(() => {});
    const granted = await promise;
    const refused = topicFilters.filter((_, i) => granted[i] === SUBACK_FAILURE || granted[i] > subscriptions[i].qos);
    if (refused.length > 0) throw new MqttSubscribeError(refused);
    return granted;
  }

  /**
   * Unsubscribes; resolves on UNSUBACK.
   *
   * @example
   * ```ts
   * await client.unsubscribe(["sensors/+/temp"]);
   * ```
   */
  async unsubscribe(topicFilters: readonly string[]): Promise<void> {
    const connection = this.#live();
    const packetId = this.#allocateId();
    const bytes = encodeUnsubscribe(packetId, topicFilters);
    const { promise, resolve, reject } = Promise.withResolvers<number[]>();
    this.#pending.set(packetId, { kind: "unsubscribe", bytes, resolve, reject });
    connection.send(bytes).catch(() => {});
    await promise;
  }

  /**
   * Sends DISCONNECT, waits at most `timeoutMs` for the broker to close its side (so it has read the last PUBACKs),
   * and closes the connection. Everything still pending rejects; messages received but not acknowledged are not acknowledged (a persistent session redelivers
   * them). The client can connect again afterwards.
   *
   * @example
   * ```ts
   * await client.close();
   * ```
   */
  async close(timeoutMs = 1000): Promise<void> {
    const connection = this.#connection;
    if (!connection || connection.closing) return;
    await connection.disconnect(timeoutMs);
  }

  /** Same as {@link MqttClient.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The URL without credentials, for messages. */
function display(url: string | URL): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise<never>((_, reject) => {
    const fail = () => reject(signal.reason instanceof Error ? signal.reason : new MqttConnectionError("aborted"));
    if (signal.aborted) fail();
    else signal.addEventListener("abort", fail, { once: true });
  });
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/**
 * A client identifier every MQTT 3.1.1 server must accept — 1 to 23 characters of [0-9a-zA-Z] (§3.1.3.1) — derived
 * from `seed` (e.g. host name plus database path) by SHA-256, so it is stable across restarts, which a persistent
 * session needs. `prefix` (at most 12 of those characters) keeps it recognisable; the rest is the hash in base 62.
 *
 * @example
 * ```ts
 * await clientIdFromSeed("box17:/var/lib/edgelog/edgelog.db"); // "edgelog" + 16 base-62 characters
 * ```
 */
export async function clientIdFromSeed(seed: string, prefix = "edgelog"): Promise<string> {
  if (!/^[0-9a-zA-Z]{0,12}$/.test(prefix)) throw new RangeError("prefix must be at most 12 characters of [0-9a-zA-Z]");
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(seed)));
  let n = digest.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
  let hash = "";
  while (prefix.length + hash.length < 23) {
    hash += BASE62[Number(n % 62n)];
    n /= 62n;
  }
  return prefix + hash;
}

/**
 * Whether every MQTT 3.1.1 server must accept `id` as a client identifier (§3.1.3.1: 1–23 of [0-9a-zA-Z]; servers
 * may accept more, mosquitto accepts up to 65535 bytes).
 *
 * @example
 * ```ts
 * isPortableClientId("edgelog-box17-1a2b3c4d"); // false: '-' is outside the guaranteed set
 * ```
 */
export function isPortableClientId(id: string): boolean {
  return /^[0-9a-zA-Z]{1,23}$/.test(id);
}
