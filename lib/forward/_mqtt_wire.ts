/**
 * The few MQTT 3.1.1 packets a QoS 0/1 publisher needs (CONNECT, CONNACK, PUBLISH, PUBACK,
 * DISCONNECT), encoded and decoded per the OASIS specification, over a Deno TCP or TLS
 * connection. Private to `mqtt.ts`.
 *
 * Why not `npm:mqtt`: it and its dependencies (`debug`, `readable-stream`, `ws`) read arbitrary
 * environment variables, `debug` enumerates the whole environment at import time, so the logger
 * would have to run with unrestricted `--allow-env` instead of `EDGELOG_*` only.
 *
 * @module
 */

const encoder = new TextEncoder();

/** CONNACK return codes (MQTT 3.1.1 §3.2.2.3). */
export const CONNACK_REASONS: Record<number, string> = {
  1: "unacceptable protocol version",
  2: "client identifier rejected",
  3: "server unavailable",
  4: "bad user name or password",
  5: "not authorized",
};

/** Raised when the broker refuses the connection; `code` is the CONNACK return code. */
export class ConnackError extends Error {
  readonly code: number;
  constructor(code: number) {
    super(`broker refused the connection: ${CONNACK_REASONS[code] ?? `return code ${code}`}`);
    this.name = "ConnackError";
    this.code = code;
  }
}

function utf8Field(s: string): Uint8Array {
  const bytes = encoder.encode(s);
  if (bytes.length > 0xffff) throw new Error("MQTT string longer than 65535 bytes");
  const out = new Uint8Array(2 + bytes.length);
  out[0] = bytes.length >> 8;
  out[1] = bytes.length & 0xff;
  out.set(bytes, 2);
  return out;
}

function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

function packet(first: number, parts: readonly Uint8Array[]): Uint8Array {
  const length = parts.reduce((sum, p) => sum + p.length, 0);
  const header = [first, ...remainingLength(length)];
  const out = new Uint8Array(header.length + length);
  out.set(header, 0);
  let at = header.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A CONNECT packet (clean session, keep-alive off: idle connections are left alone). */
export function connectPacket(clientId: string, username?: string, password?: string): Uint8Array {
  let flags = 0x02;
  if (username !== undefined) flags |= 0x80;
  if (password !== undefined) flags |= 0x40;
  const parts = [utf8Field("MQTT"), new Uint8Array([4, flags, 0, 0]), utf8Field(clientId)];
  if (username !== undefined) parts.push(utf8Field(username));
  if (password !== undefined) parts.push(utf8Field(password));
  return packet(0x10, parts);
}

/** A PUBLISH packet; `packetId` is required for QoS 1. */
export function publishPacket(topic: string, payload: Uint8Array, qos: 0 | 1, packetId: number): Uint8Array {
  const parts = [utf8Field(topic)];
  if (qos > 0) parts.push(new Uint8Array([packetId >> 8, packetId & 0xff]));
  parts.push(payload);
  return packet(0x30 | (qos << 1), parts);
}

/** The DISCONNECT packet. */
export const DISCONNECT = new Uint8Array([0xe0, 0]);

/** One packet read from the broker. */
export interface Incoming {
  type: number;
  flags: number;
  body: Uint8Array;
}

/**
 * Splits bytes from the broker into packets; keeps an incomplete tail for the next chunk.
 * Returns the packets found.
 */
export class PacketReader {
  #buffer = new Uint8Array(0);

  push(chunk: Uint8Array): Incoming[] {
    const joined = new Uint8Array(this.#buffer.length + chunk.length);
    joined.set(this.#buffer);
    joined.set(chunk, this.#buffer.length);
    const packets: Incoming[] = [];
    let at = 0;
    for (;;) {
      if (joined.length - at < 2) break;
      let length = 0;
      let multiplier = 1;
      let i = at + 1;
      let complete = false;
      for (; i < joined.length && i < at + 5; i++) {
        length += (joined[i] & 0x7f) * multiplier;
        multiplier *= 128;
        if ((joined[i] & 0x80) === 0) {
          complete = true;
          i++;
          break;
        }
      }
      if (!complete || joined.length - i < length) break;
      packets.push({ type: joined[at] >> 4, flags: joined[at] & 0x0f, body: joined.slice(i, i + length) });
      at = i + length;
    }
    this.#buffer = joined.slice(at);
    return packets;
  }
}
