/**
 * MQTT 3.1.1 codec for the client side: encodes the packets a client sends (CONNECT, PUBLISH QoS 0/1, PUBACK,
 * SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT) and decodes the packets a server sends, per the OASIS standard
 * (section numbers below refer to it).
 *
 * Longer than 400 lines because it is the whole codec, one section of the standard per function, read in order.
 *
 * Decoding is strict and bounded: every violation the client can detect (a remaining length of more than four bytes, a
 * reserved or client-only packet type, wrong fixed-header flags, a body that is too short or too long, bad UTF-8, a
 * packet bigger than `maxPacketSize`) throws {@link MqttProtocolError} as soon as the offending byte arrives, so a
 * broken peer is noticed at once instead of at a timeout, and no more than one packet is ever buffered.
 *
 * @example
 * ```ts
 * import { encodePuback, PacketDecoder } from "./_wire.ts";
 * const decoder = new PacketDecoder({ maxPacketSize: 1024 * 1024 });
 * for (const packet of decoder.push(new Uint8Array([0x40, 2, 0, 7]))) console.log(packet); // { type: "puback", packetId: 7 }
 * encodePuback(7); // Uint8Array [0x40, 2, 0, 7]
 * ```
 *
 * @module
 */

/** A violation of the MQTT protocol by the peer (or bytes that are not MQTT). The connection cannot continue. */
export class MqttProtocolError extends Error {
  /**
   * Makes the error; `message` says what was wrong with the bytes.
   *
   * @example
   * ```ts
   * throw new MqttProtocolError("remaining length longer than four bytes");
   * ```
   */
  constructor(message: string) {
    super(message);
    this.name = "MqttProtocolError";
  }
}

/** Control packet types (§2.2.1). */
export const PacketType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
} as const;

/** The largest remaining length four bytes can encode (§2.2.3). */
export const MAX_REMAINING_LENGTH = 268_435_455;

/** Default bound on one incoming packet, fixed header included: 1 MiB. */
export const DEFAULT_MAX_PACKET_SIZE = 1024 * 1024;

/** CONNACK return codes other than 0 (§3.2.2.3). */
export const CONNACK_REASONS: Readonly<Record<number, string>> = {
  1: "unacceptable protocol version",
  2: "client identifier rejected",
  3: "server unavailable",
  4: "bad user name or password",
  5: "not authorized",
};

/** The SUBACK return code of a refused subscription (§3.9.3). */
export const SUBACK_FAILURE = 0x80;

/** A packet sent by the server, decoded. */
export type ServerPacket =
  | { type: "connack"; sessionPresent: boolean; returnCode: number }
  | {
    type: "publish";
    topic: string;
    payload: Uint8Array;
    qos: 0 | 1 | 2;
    dup: boolean;
    retain: boolean;
    /** Present for QoS 1 and 2. */
    packetId?: number;
    /**
     * With `skipOversizedPublish`: the payload was larger than `maxPacketSize` allows and was
     * dropped unread (`payload` is empty); its size in bytes.
     */
    oversized?: number;
  }
  | { type: "puback" | "pubrec" | "pubrel" | "pubcomp" | "unsuback"; packetId: number }
  | { type: "suback"; packetId: number; returnCodes: number[] }
  | { type: "pingresp" };

/** What goes into a CONNECT packet. */
export interface ConnectFields {
  /** 1–23 characters of [0-9a-zA-Z] are accepted by every server (§3.1.3.1); empty only with `cleanSession`. */
  clientId: string;
  /** true: the broker drops any earlier session of this client id and keeps none after this one. */
  cleanSession: boolean;
  /** Seconds, 0–65535; 0 turns keep-alive off. */
  keepAliveSeconds: number;
  /** User name, if the broker wants one. */
  username?: string;
  /** Only together with `username` (§3.1.2.9). */
  password?: string | Uint8Array;
}

/** What goes into a PUBLISH packet sent by the client (QoS 2 is not supported by this client). */
export interface PublishFields {
  /** Topic name: not empty, no wildcards. */
  topic: string;
  /** Application message, any bytes. */
  payload: Uint8Array;
  /** 0: at most once; 1: at least once (needs `packetId`). */
  qos: 0 | 1;
  /** Ask the broker to keep it as the topic's retained message. */
  retain?: boolean;
  /** Marks a resend of a QoS 1 message (§3.3.1.1). */
  dup?: boolean;
  /** Required for QoS 1, 1–65535. */
  packetId?: number;
}

/** One topic filter of a SUBSCRIBE packet. */
export interface Subscription {
  /** Topic filter; `+` matches one level, `#` the rest. */
  topicFilter: string;
  /** The maximum QoS the server may deliver with; this client asks for at most 1. */
  qos: 0 | 1;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function checkPacketId(id: number | undefined): number {
  if (id === undefined || !Number.isInteger(id) || id < 1 || id > 0xffff) {
    throw new RangeError(`packet identifier must be an integer 1..65535, got ${id}`);
  }
  return id;
}

function stringField(s: string | Uint8Array, what: string): Uint8Array {
  const bytes = typeof s === "string" ? encoder.encode(s) : s;
  if (bytes.length > 0xffff) throw new RangeError(`${what} longer than 65535 bytes`);
  if (typeof s === "string" && s.includes("\u0000")) throw new RangeError(`${what} contains U+0000`);
  return bytes;
}

function checkTopicName(topic: string): void {
  // §4.7.3: at least one character; §3.3.2.1: no wildcards in a topic name.
  if (topic.length === 0) throw new RangeError("topic name is empty");
  if (/[+#]/.test(topic)) throw new RangeError(`topic name ${JSON.stringify(topic)} contains a wildcard`);
}

function checkTopicFilter(filter: string): void {
  // §4.7.1: '#' only as the whole last level, '+' only as a whole level.
  if (filter.length === 0) throw new RangeError("topic filter is empty");
  const levels = filter.split("/");
  levels.forEach((level, i) => {
    if (level.includes("#") && (level !== "#" || i !== levels.length - 1)) {
      throw new RangeError(`topic filter ${JSON.stringify(filter)}: '#' must be the whole last level`);
    }
    if (level.includes("+") && level !== "+") {
      throw new RangeError(`topic filter ${JSON.stringify(filter)}: '+' must be a whole level`);
    }
  });
}

/**
 * Encodes a remaining length (§2.2.3).
 *
 * @example
 * ```ts
 * encodeRemainingLength(321); // [0xc1, 0x02]
 * ```
 */
export function encodeRemainingLength(n: number): number[] {
  if (!Number.isInteger(n) || n < 0 || n > MAX_REMAINING_LENGTH) {
    throw new RangeError(`remaining length ${n} outside 0..${MAX_REMAINING_LENGTH}`);
  }
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** Assembles a packet in one allocation; `parts` are raw bytes, or strings/byte arrays written with a length prefix. */
function assemble(first: number, parts: readonly (Uint8Array | { field: Uint8Array } | number[])[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += "field" in p ? 2 + p.field.length : p.length;
  const header = encodeRemainingLength(length);
  const out = new Uint8Array(1 + header.length + length);
  out[0] = first;
  out.set(header, 1);
  let at = 1 + header.length;
  for (const p of parts) {
    if ("field" in p) {
      out[at] = p.field.length >> 8;
      out[at + 1] = p.field.length & 0xff;
      out.set(p.field, at + 2);
      at += 2 + p.field.length;
    } else {
      out.set(p, at);
      at += p.length;
    }
  }
  return out;
}

/**
 * Encodes a CONNECT packet (§3.1) for protocol level 4 (MQTT 3.1.1).
 *
 * @example
 * ```ts
 * encodeConnect({ clientId: "edgelogAbc", cleanSession: false, keepAliveSeconds: 60 });
 * ```
 */
export function encodeConnect(f: ConnectFields): Uint8Array {
  if (!Number.isInteger(f.keepAliveSeconds) || f.keepAliveSeconds < 0 || f.keepAliveSeconds > 0xffff) {
    throw new RangeError(`keep-alive must be 0..65535 seconds, got ${f.keepAliveSeconds}`);
  }
  if (f.clientId === "" && !f.cleanSession) {
    throw new RangeError("an empty client identifier needs a clean session (§3.1.3.1)");
  }
  if (f.password !== undefined && f.username === undefined) {
    throw new RangeError("a password needs a user name in MQTT 3.1.1 (§3.1.2.9)");
  }
  let flags = f.cleanSession ? 0x02 : 0;
  if (f.username !== undefined) flags |= 0x80;
  if (f.password !== undefined) flags |= 0x40;
  const parts: ({ field: Uint8Array } | number[])[] = [
    { field: stringField("MQTT", "protocol name") },
    [4, flags, f.keepAliveSeconds >> 8, f.keepAliveSeconds & 0xff],
    { field: stringField(f.clientId, "client identifier") },
  ];
  if (f.username !== undefined) parts.push({ field: stringField(f.username, "user name") });
  if (f.password !== undefined) parts.push({ field: stringField(f.password, "password") });
  return assemble(PacketType.CONNECT << 4, parts);
}

/**
 * Encodes a PUBLISH packet (§3.3).
 *
 * @example
 * ```ts
 * encodePublish({ topic: "edgelog/box/t1", payload: new TextEncoder().encode("21.5"), qos: 1, packetId: 1 });
 * ```
 */
export function encodePublish(f: PublishFields): Uint8Array {
  checkTopicName(f.topic);
  if (f.qos !== 0 && f.qos !== 1) throw new RangeError(`QoS must be 0 or 1, got ${f.qos}`);
  if (f.qos === 0 && f.dup) throw new RangeError("DUP must be 0 for QoS 0 (§3.3.1.1)");
  const first = (PacketType.PUBLISH << 4) | (f.dup ? 0x08 : 0) | (f.qos << 1) | (f.retain ? 0x01 : 0);
  const parts: (Uint8Array | { field: Uint8Array } | number[])[] = [{ field: stringField(f.topic, "topic name") }];
  if (f.qos === 1) {
    const id = checkPacketId(f.packetId);
    parts.push([id >> 8, id & 0xff]);
  }
  parts.push(f.payload);
  return assemble(first, parts);
}

/**
 * Encodes a PUBACK packet (§3.4).
 *
 * @example
 * ```ts
 * encodePuback(7); // [0x40, 2, 0, 7]
 * ```
 */
export function encodePuback(packetId: number): Uint8Array {
  const id = checkPacketId(packetId);
  return new Uint8Array([PacketType.PUBACK << 4, 2, id >> 8, id & 0xff]);
}

/**
 * Encodes a SUBSCRIBE packet (§3.8); fixed-header flags are 0b0010 as required.
 *
 * @example
 * ```ts
 * encodeSubscribe(2, [{ topicFilter: "sensors/+/temp", qos: 1 }]);
 * ```
 */
export function encodeSubscribe(packetId: number, subscriptions: readonly Subscription[]): Uint8Array {
  const id = checkPacketId(packetId);
  if (subscriptions.length === 0) throw new RangeError("SUBSCRIBE needs at least one topic filter (§3.8.3)");
  const parts: ({ field: Uint8Array } | number[])[] = [[id >> 8, id & 0xff]];
  for (const s of subscriptions) {
    checkTopicFilter(s.topicFilter);
    if (s.qos !== 0 && s.qos !== 1) throw new RangeError(`requested QoS must be 0 or 1, got ${s.qos}`);
    parts.push({ field: stringField(s.topicFilter, "topic filter") }, [s.qos]);
  }
  return assemble((PacketType.SUBSCRIBE << 4) | 0x02, parts);
}

/**
 * Encodes an UNSUBSCRIBE packet (§3.10).
 *
 * @example
 * ```ts
 * encodeUnsubscribe(3, ["sensors/+/temp"]);
 * ```
 */
export function encodeUnsubscribe(packetId: number, topicFilters: readonly string[]): Uint8Array {
  const id = checkPacketId(packetId);
  if (topicFilters.length === 0) throw new RangeError("UNSUBSCRIBE needs at least one topic filter (§3.10.3)");
  const parts: ({ field: Uint8Array } | number[])[] = [[id >> 8, id & 0xff]];
  for (const t of topicFilters) {
    checkTopicFilter(t);
    parts.push({ field: stringField(t, "topic filter") });
  }
  return assemble((PacketType.UNSUBSCRIBE << 4) | 0x02, parts);
}

/**
 * Encodes a PINGREQ packet (§3.12).
 *
 * @example
 * ```ts
 * encodePingreq(); // [0xc0, 0]
 * ```
 */
export function encodePingreq(): Uint8Array {
  return new Uint8Array([PacketType.PINGREQ << 4, 0]);
}

/**
 * Encodes a DISCONNECT packet (§3.14).
 *
 * @example
 * ```ts
 * encodeDisconnect(); // [0xe0, 0]
 * ```
 */
export function encodeDisconnect(): Uint8Array {
  return new Uint8Array([PacketType.DISCONNECT << 4, 0]);
}

/** Options of {@link PacketDecoder}. */
export interface DecoderOptions {
  /** Largest accepted packet in bytes, fixed header included (default {@link DEFAULT_MAX_PACKET_SIZE}). */
  maxPacketSize?: number;
  /**
   * A PUBLISH over `maxPacketSize` is not a protocol error: its header (topic, packet id) is read,
   * its payload skipped without being buffered, and it is yielded with `oversized` set, so a
   * subscriber can acknowledge it instead of getting it again after every reconnect. At most
   * {@link PUBLISH_HEAD_MAX} bytes of it are held. Default false.
   */
  skipOversizedPublish?: boolean;
}

/** The most bytes a PUBLISH header can take (topic length, topic, packet id). */
export const PUBLISH_HEAD_MAX = 2 + 0xffff + 2;

const CLIENT_ONLY = new Set<number>([
  PacketType.CONNECT,
  PacketType.SUBSCRIBE,
  PacketType.UNSUBSCRIBE,
  PacketType.PINGREQ,
  PacketType.DISCONNECT,
]);

const ID_ONLY: Record<number, "puback" | "pubrec" | "pubrel" | "pubcomp" | "unsuback"> = {
  [PacketType.PUBACK]: "puback",
  [PacketType.PUBREC]: "pubrec",
  [PacketType.PUBREL]: "pubrel",
  [PacketType.PUBCOMP]: "pubcomp",
  [PacketType.UNSUBACK]: "unsuback",
};

/**
 * Splits the byte stream from a server into decoded packets. Holds at most one incomplete packet, whose size is
 * known (and checked against `maxPacketSize`) before its body is buffered. After a protocol error every further
 * `push` throws the same error: the stream cannot be resynchronised.
 *
 * @example
 * ```ts
 * const d = new PacketDecoder();
 * [...d.push(new Uint8Array([0xd0]))]; // []  (PINGRESP, length still missing)
 * [...d.push(new Uint8Array([0x00]))]; // [{ type: "pingresp" }]
 * ```
 */
export class PacketDecoder {
  readonly #maxPacketSize: number;
  /** First byte of the packet being read, or -1 while waiting for one. */
  #first = -1;
  #length = 0;
  #lengthBytes = 0;
  #lengthDone = false;
  #body: Uint8Array | undefined;
  #filled = 0;
  /** Bytes of an oversized PUBLISH still to skip after its head; -1 when not skipping. */
  #skip = -1;
  readonly #skipOversized: boolean;
  #failed: MqttProtocolError | undefined;

  /**
   * Makes a decoder for one connection.
   *
   * @example
   * ```ts
   * new PacketDecoder({ maxPacketSize: 64 * 1024 });
   * ```
   */
  constructor(options: DecoderOptions = {}) {
    const max = options.maxPacketSize ?? DEFAULT_MAX_PACKET_SIZE;
    if (!Number.isInteger(max) || max < 2) throw new RangeError(`maxPacketSize must be an integer >= 2, got ${max}`);
    this.#maxPacketSize = max;
    this.#skipOversized = options.skipOversizedPublish ?? false;
  }

  /**
   * Feeds bytes; yields the packets they complete, in order, and throws at the first invalid byte — so the packets
   * before it are still handled (a CONNACK followed by garbage in one read connects, then fails). Iterate the result
   * to the end before the next `push`: decoding happens while iterating.
   *
   * @throws {MqttProtocolError} on the first byte that makes the stream invalid.
   * @example
   * ```ts
   * [...new PacketDecoder().push(new Uint8Array([0x20, 2, 0, 0]))]; // [{ type: "connack", sessionPresent: false, returnCode: 0 }]
   * ```
   */
  *push(chunk: Uint8Array): Generator<ServerPacket, void, undefined> {
    if (this.#failed) throw this.#failed;
    try {
      yield* this.#decode(chunk);
    } catch (e) {
      if (e instanceof MqttProtocolError) this.#failed = e;
      throw e;
    }
  }

  *#decode(chunk: Uint8Array): Generator<ServerPacket, void, undefined> {
    let at = 0;
    while (at < chunk.length) {
      if (this.#first < 0) {
        this.#first = chunk[at++];
        checkFixedHeader(this.#first);
        this.#length = 0;
        this.#lengthBytes = 0;
        this.#lengthDone = false;
        continue;
      }
      if (!this.#lengthDone) {
        const byte = chunk[at++];
        this.#length += (byte & 0x7f) * 128 ** this.#lengthBytes;
        this.#lengthBytes++;
        if (byte & 0x80) {
          // A fourth byte with the continuation bit means a fifth would follow: fail now, not when it arrives.
          if (this.#lengthBytes === 4) throw new MqttProtocolError("remaining length longer than four bytes");
          continue;
        }
        this.#lengthDone = true;
        const total = 1 + this.#lengthBytes + this.#length;
        if (total > this.#maxPacketSize) {
          if (!this.#skipOversized || this.#first >> 4 !== PacketType.PUBLISH) {
            throw new MqttProtocolError(`packet of ${total} bytes exceeds the limit of ${this.#maxPacketSize} bytes`);
          }
          const head = Math.min(this.#length, PUBLISH_HEAD_MAX);
          this.#body = new Uint8Array(head);
          this.#filled = 0;
          this.#skip = this.#length - head;
        }
        if (this.#skip >= 0) continue;
        if (this.#length === 0) {
          const first = this.#first;
          this.#first = -1;
          yield decodeBody(first, new Uint8Array(0));
          continue;
        }
        if (chunk.length - at >= this.#length) {
          // The whole body is in this chunk: one copy, no intermediate buffer.
          const first = this.#first;
          const body = chunk.slice(at, at + this.#length);
          at += this.#length;
          this.#first = -1;
          yield decodeBody(first, body);
          continue;
        }
        this.#body = new Uint8Array(this.#length);
        this.#filled = 0;
      }
      const body = this.#body!;
      if (this.#filled === body.length && this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - at);
        this.#skip -= n;
        at += n;
      } else {
        const n = Math.min(body.length - this.#filled, chunk.length - at);
        body.set(chunk.subarray(at, at + n), this.#filled);
        this.#filled += n;
        at += n;
      }
      if (this.#filled === body.length && this.#skip <= 0) {
        this.#body = undefined;
        const first = this.#first;
        const oversized = this.#skip === 0 ? this.#length : undefined;
        this.#first = -1;
        this.#skip = -1;
        yield oversized === undefined ? decodeBody(first, body) : oversizedPublish(first, body, oversized);
      }
    }
  }
}

/** An oversized PUBLISH from its head: topic and packet id, no payload, `oversized` its size. */
function oversizedPublish(first: number, head: Uint8Array, length: number): ServerPacket {
  const p = decodeBody(first, head) as Extract<ServerPacket, { type: "publish" }>;
  const headerBytes = head.length - p.payload.length;
  return { ...p, payload: new Uint8Array(0), oversized: length - headerBytes };
}

function checkFixedHeader(first: number): void {
  const type = first >> 4;
  const flags = first & 0x0f;
  if (type === 0 || type === 15) throw new MqttProtocolError(`reserved packet type ${type}`);
  if (CLIENT_ONLY.has(type)) throw new MqttProtocolError(`packet type ${type} is never sent by a server`);
  if (type === PacketType.PUBLISH) {
    const qos = (flags >> 1) & 0x03;
    if (qos === 3) throw new MqttProtocolError("PUBLISH with QoS 3 (§3.3.1.2)");
    if (qos === 0 && flags & 0x08) throw new MqttProtocolError("PUBLISH with QoS 0 and DUP set (§3.3.1.1)");
    return;
  }
  const expected = type === PacketType.PUBREL ? 0x02 : 0;
  if (flags !== expected) throw new MqttProtocolError(`packet type ${type} with invalid fixed-header flags ${flags}`);
}

function packetIdAt(body: Uint8Array, at: number, what: string): number {
  if (body.length < at + 2) throw new MqttProtocolError(`${what} too short for a packet identifier`);
  const id = (body[at] << 8) | body[at + 1];
  if (id === 0) throw new MqttProtocolError(`${what} with packet identifier 0 (§2.3.1)`);
  return id;
}

function decodeBody(first: number, body: Uint8Array): ServerPacket {
  const type = first >> 4;
  switch (type) {
    case PacketType.CONNACK: {
      if (body.length !== 2) throw new MqttProtocolError(`CONNACK with remaining length ${body.length}, not 2`);
      if (body[0] & 0xfe) throw new MqttProtocolError("CONNACK with reserved acknowledge flags set");
      const sessionPresent = (body[0] & 1) === 1;
      if (body[1] > 5) throw new MqttProtocolError(`CONNACK with reserved return code ${body[1]}`);
      if (sessionPresent && body[1] !== 0) {
        throw new MqttProtocolError("CONNACK refusing the connection with session present set (§3.2.2.2)");
      }
      return { type: "connack", sessionPresent, returnCode: body[1] };
    }
    case PacketType.PUBLISH: {
      const flags = first & 0x0f;
      const qos = ((flags >> 1) & 0x03) as 0 | 1 | 2;
      if (body.length < 2) throw new MqttProtocolError("PUBLISH too short for a topic name");
      const topicLength = (body[0] << 8) | body[1];
      if (body.length < 2 + topicLength) throw new MqttProtocolError("PUBLISH topic name runs past the packet");
      let topic: string;
      try {
        topic = decoder.decode(body.subarray(2, 2 + topicLength));
      } catch {
        throw new MqttProtocolError("PUBLISH topic name is not valid UTF-8 (§1.5.3)");
      }
      if (topic.length === 0) throw new MqttProtocolError("PUBLISH with an empty topic name (§4.7.3)");
      if (/[+#]/.test(topic) || topic.includes("\u0000")) {
        throw new MqttProtocolError(`PUBLISH topic name ${JSON.stringify(topic)} contains a wildcard or U+0000`);
      }
      let at = 2 + topicLength;
      let packetId: number | undefined;
      if (qos > 0) {
        packetId = packetIdAt(body, at, "PUBLISH");
        at += 2;
      }
      const packet: ServerPacket = {
        type: "publish",
        topic,
        payload: body.subarray(at),
        qos,
        dup: (flags & 0x08) !== 0,
        retain: (flags & 0x01) !== 0,
      };
      if (packetId !== undefined) packet.packetId = packetId;
      return packet;
    }
    case PacketType.SUBACK: {
      const packetId = packetIdAt(body, 0, "SUBACK");
      if (body.length < 3) throw new MqttProtocolError("SUBACK without return codes");
      const returnCodes = [...body.subarray(2)];
      for (const c of returnCodes) {
        if (c > 2 && c !== SUBACK_FAILURE) throw new MqttProtocolError(`SUBACK with invalid return code ${c}`);
      }
      return { type: "suback", packetId, returnCodes };
    }
    case PacketType.PINGRESP:
      if (body.length !== 0) throw new MqttProtocolError(`PINGRESP with remaining length ${body.length}, not 0`);
      return { type: "pingresp" };
    default: {
      const name = ID_ONLY[type];
      // checkFixedHeader let only server packet types through; this guards the table against edits.
      if (name === undefined) throw new MqttProtocolError(`unexpected packet type ${type}`);
      if (body.length !== 2) throw new MqttProtocolError(`${name.toUpperCase()} with remaining length ${body.length}`);
      return { type: name, packetId: packetIdAt(body, 0, name.toUpperCase()) };
    }
  }
}
