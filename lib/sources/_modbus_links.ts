/**
 * The ways the `modbus` source talks to slaves: Modbus TCP (MBAP, responses matched by transaction
 * id) and RTU framing with CRC and the spec's inter-frame silence, over a serial line or a TCP
 * gateway. One request at a time; a link that ends answers every later request `disconnected`.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import {
  encodeMbap,
  encodeReadRequest,
  encodeRtu,
  MbapDecoder,
  type PlannedRequest,
  RtuResponseDecoder,
  rtuTiming,
} from "./_modbus_codec.ts";
import type { RejectReason } from "./_reading_parser.ts";
import { type SerialSpec, sttyArgs } from "./serial.ts";

/** One request's outcome: response values, or why there are none. */
export type Outcome = { ok: true; values: number[] } | { ok: false; reason: RejectReason; message: string };

/** A way to send one request and get its response PDU (TCP, RTU, RTU over TCP). */
export interface Link {
  exchange(request: PlannedRequest, timeoutMs: number): Promise<{ pdu: Uint8Array } | Outcome & { ok: false }>;
  close(): void;
}

/** Connects, or rejects after `ms`; a connection that completes later is closed at once. */
export function connectWithin(hostname: string, port: number, ms: number): Promise<Deno.Conn> {
  const connecting = Deno.connect({ hostname, port });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let late = false;
  connecting.then((c) => late && c.close(), () => {});
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      late = true;
      reject(new Error(`cannot connect to ${hostname}:${port} within ${ms} ms`));
    }, ms);
  });
  return Promise.race([connecting, timeout]).finally(() => clearTimeout(timer));
}

/** A byte stream both links read: TCP connection or serial device. */
interface Duplex {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
}

/** Reads a duplex in the background and hands every chunk to `onChunk`; `ended` resolves when it ends. */
function pump(io: Duplex, onChunk: (b: Uint8Array) => void): Promise<void> {
  return (async () => {
    const buf = new Uint8Array(1024);
    try {
      for (;;) {
        const n = await io.read(buf);
        if (n === null) return;
        onChunk(buf.subarray(0, n));
      }
    } catch { /* closed or failed: ended */ }
  })();
}

async function writeAll(io: Duplex, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await io.write(bytes.subarray(at));
}

/** Modbus TCP: MBAP frames, responses matched by transaction id (late answers are dropped). */
export class TcpLink implements Link {
  readonly #io: Duplex;
  readonly #decoder = new MbapDecoder();
  #nextId = 1;
  #waiting: { id: number; resolve: (r: { pdu: Uint8Array } | Outcome & { ok: false }) => void } | undefined;
  #ended = false;

  constructor(io: Duplex) {
    this.#io = io;
    pump(io, (chunk) => {
      for (const r of this.#decoder.push(chunk)) {
        const w = this.#waiting;
        if (!w) continue;
        if (!r.ok) {
          this.#waiting = undefined;
          w.resolve({ ok: false, reason: "disconnected", message: `${r.reason}: ${r.message}` });
        } else if (r.frame.transactionId === w.id) {
          this.#waiting = undefined;
          w.resolve({ pdu: r.frame.pdu });
        }
      }
    }).then(() => {
      this.#ended = true;
      this.#waiting?.resolve({ ok: false, reason: "disconnected", message: "the connection closed" });
      this.#waiting = undefined;
    });
  }

  exchange(request: PlannedRequest, timeoutMs: number): Promise<{ pdu: Uint8Array } | Outcome & { ok: false }> {
    if (this.#ended) return Promise.resolve({ ok: false, reason: "disconnected", message: "the connection closed" });
    const id = this.#nextId;
    this.#nextId = id === 0xffff ? 1 : id + 1;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.#waiting?.id !== id) return;
        this.#waiting = undefined;
        resolve({ ok: false, reason: "timeout", message: `no answer within ${timeoutMs} ms` });
      }, timeoutMs);
      this.#waiting = {
        id,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      writeAll(this.#io, encodeMbap({ transactionId: id, unitId: request.slave, pdu: encodeReadRequest(request) }))
        .catch((e) => this.#waiting?.resolve({ ok: false, reason: "disconnected", message: String(e) }));
    });
  }

  close(): void {
    try {
      this.#io.close();
    } catch { /* closed */ }
  }
}

/** Modbus RTU framing over a serial line or a TCP gateway: one request at a time, t3.5 between frames. */
export class RtuLink implements Link {
  readonly #io: Duplex;
  readonly #decoder = new RtuResponseDecoder();
  readonly #t35Ms: number;
  #waiting: ((r: { pdu: Uint8Array } | Outcome & { ok: false }) => void) | undefined;
  #lastFrameAt = 0;
  #ended = false;

  constructor(io: Duplex, baud: number, parity: "none" | "even" | "odd" = "even", stopBits: 1 | 2 = 1) {
    this.#io = io;
    this.#t35Ms = Math.ceil(rtuTiming(baud, { parity, stopBits }).t35Us / 1000);
    pump(io, (chunk) => {
      this.#lastFrameAt = performance.now();
      for (const r of this.#decoder.push(chunk)) {
        const w = this.#waiting;
        if (!w) continue;
        this.#waiting = undefined;
        w(r.ok ? { pdu: r.frame.pdu } : { ok: false, reason: r.reason, message: r.message });
      }
    }).then(() => {
      this.#ended = true;
      this.#waiting?.({ ok: false, reason: "disconnected", message: "the line closed" });
      this.#waiting = undefined;
    });
  }

  async exchange(request: PlannedRequest, timeoutMs: number): Promise<{ pdu: Uint8Array } | Outcome & { ok: false }> {
    if (this.#ended) return { ok: false, reason: "disconnected", message: "the line closed" };
    // The spec's silence of 3.5 characters before a new frame; bytes left over from a late answer are dropped.
    const quiet = this.#lastFrameAt + this.#t35Ms - performance.now();
    if (quiet > 0) await new Promise((r) => setTimeout(r, quiet));
    this.#decoder.idle();
    this.#decoder.expect(request);
    return await new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.#waiting === undefined) return;
        this.#waiting = undefined;
        const truncated = this.#decoder.idle();
        resolve(
          truncated.length > 0 && !truncated[0].ok
            ? { ok: false, reason: truncated[0].reason, message: truncated[0].message }
            : { ok: false, reason: "timeout", message: `no answer within ${timeoutMs} ms` },
        );
      }, timeoutMs);
      this.#waiting = (r) => {
        clearTimeout(timer);
        this.#lastFrameAt = performance.now();
        resolve(r);
      };
      writeAll(this.#io, encodeRtu(request.slave, encodeReadRequest(request)))
        .catch((e) => this.#waiting?.({ ok: false, reason: "disconnected", message: String(e) }));
    });
  }

  close(): void {
    try {
      this.#io.close();
    } catch { /* closed */ }
  }
}

export async function openSerialLink(spec: SerialSpec, log: Logger, source: string): Promise<Link> {
  if (spec.stty === "auto") {
    try {
      await new Deno.Command("stty", { args: sttyArgs(spec), stdout: "null", stderr: "null" }).output();
    } catch (e) {
      log.debug("{source}: stty not run ({error}); the line keeps the host's settings", { source, error: String(e) });
    }
  }
  // Two handles: Deno serializes the operations on one file, so a write would wait behind the
  // read that waits for the answer to that write.
  const reading = await Deno.open(spec.device, { read: true });
  let writing: Deno.FsFile;
  try {
    writing = await Deno.open(spec.device, { write: true });
  } catch (e) {
    reading.close();
    throw e;
  }
  const io: Duplex = {
    read: (p) => reading.read(p),
    write: (p) => writing.write(p),
    close: () => {
      for (const f of [reading, writing]) {
        try {
          f.close();
        } catch { /* closed */ }
      }
    },
  };
  const parity = spec.parity === "N" ? "none" : spec.parity === "E" ? "even" : "odd";
  return new RtuLink(io, spec.baud, parity, spec.stopBits);
}
