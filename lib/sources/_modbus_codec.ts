/**
 * Modbus codecs for edgelog, pure: bytes in, values or typed rejections out; no sockets, no
 * timers, no work at import time.
 *
 * Longer than 400 lines because it is the whole protocol in the order of the two specifications
 * (PDUs, MBAP, RTU framing and timing, register maps, values), each section using the ones before. Follows the MODBUS Application Protocol Specification V1.1b3
 * and "MODBUS over Serial Line" V1.02; edgelog is always the client (master) and only reads.
 *
 * - PDUs: read requests for function codes 1–4 ({@link encodeReadRequest}) and their responses,
 *   exceptions included ({@link parseReadResponse}).
 * - Modbus TCP: MBAP framing ({@link encodeMbap}, {@link MbapDecoder}).
 * - Modbus RTU: CRC-16/MODBUS, ADU framing and timing ({@link crc16Modbus}, {@link encodeRtu},
 *   {@link RtuResponseDecoder}, {@link rtuTiming}).
 * - Register maps: a JSON file naming what to read ({@link parseRegisterMap}), request planning
 *   ({@link planRequests}) and decoding into readings ({@link decodeReadings}).
 *
 * Decoders of device input never throw on bad bytes: they return a {@link ModbusRejection} whose
 * `reason` is meant to be counted. Encoders and the planner throw {@link ModbusArgumentError} on
 * arguments that are the caller's bug; the map reader throws {@link RegisterMapError}, a
 * configuration error listing every problem.
 *
 * @module
 */

// ---------------------------------------------------------------------------------------------
// Errors, limits, reasons

/**
 * Base class of the errors this module throws.
 *
 * @example
 * ```ts
 * try {
 *   encodeReadRequest({ fc: 3, address: 0, quantity: 500 });
 * } catch (e) {
 *   if (e instanceof ModbusError) console.error(e.message);
 * }
 * ```
 */
export class ModbusError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModbusError";
  }
}

/**
 * An argument that no device sent: a request out of the spec's ranges, an unknown word order, an
 * option out of range. It means a bug (or an unvalidated setting) in the caller.
 *
 * @example
 * ```ts
 * encodeReadRequest({ fc: 3, address: 65535, quantity: 2 }); // throws ModbusArgumentError
 * ```
 */
export class ModbusArgumentError extends ModbusError {
  constructor(message: string) {
    super(message);
    this.name = "ModbusArgumentError";
  }
}

/**
 * One problem in a register map: where it is and what is wrong.
 *
 * @example
 * ```ts
 * const p: RegisterMapProblem = { index: 3, field: "address", message: "entries[3].address: must be …" };
 * ```
 */
export interface RegisterMapProblem {
  /** Index of the entry in the entries array; undefined for the map as a whole. */
  index?: number;
  /** Field of the entry; undefined for the entry or the map as a whole. */
  field?: string;
  /** One line, starting with the location, e.g. `entries[3].address: must be …`. */
  message: string;
}

/**
 * A register map that cannot be used. `problems` has one line per problem (all of them, up to
 * {@link MODBUS_LIMITS}.maxMapProblems), ready to become a startup config error (exit code 2).
 *
 * @example
 * ```ts
 * try {
 *   parseRegisterMap('[{"name":"t","slave":1,"type":"holding","address":-1,"datatype":"int16"}]');
 * } catch (e) {
 *   if (e instanceof RegisterMapError) console.error(e.problems.map((p) => p.message));
 * }
 * ```
 */
export class RegisterMapError extends ModbusError {
  readonly problems: readonly RegisterMapProblem[];
  constructor(problems: readonly RegisterMapProblem[]) {
    super(problems.map((p) => p.message).join("\n"));
    this.name = "RegisterMapError";
    this.problems = problems;
  }
}

/**
 * Limits from the specs, and the bounds this module keeps to.
 *
 * @example
 * ```ts
 * MODBUS_LIMITS.maxReadRegisters; // 125
 * ```
 */
export const MODBUS_LIMITS = Object.freeze({
  /** Largest PDU (function code + data): 256-byte RTU ADU less address and CRC. */
  maxPduBytes: 253,
  /** Most registers one FC 3/4 request may ask for. */
  maxReadRegisters: 125,
  /** Most bits one FC 1/2 request may ask for. */
  maxReadBits: 2000,
  /** MBAP header: transaction id, protocol id, length, unit id. */
  mbapHeaderBytes: 7,
  /** Largest MBAP length field: unit id + largest PDU. */
  maxMbapLength: 254,
  /** Smallest MBAP length field: unit id + function code. */
  minMbapLength: 2,
  /** Largest RTU ADU. */
  maxRtuAduBytes: 256,
  /** Highest individual slave address (248–255 are reserved; 0 is broadcast on serial lines). */
  maxSlave: 247,
  /** Most entries a register map may have: more is surely not a hand-written map. */
  maxMapEntries: 10_000,
  /** Most problems a RegisterMapError lists; the rest are counted in one last line. */
  maxMapProblems: 50,
});

/**
 * Function codes of the reads edgelog issues.
 *
 * @example
 * ```ts
 * const fc: ReadFunctionCode = FunctionCode.readInputRegisters; // 4
 * ```
 */
export type ReadFunctionCode = 1 | 2 | 3 | 4;

/**
 * Names of the read function codes.
 *
 * @example
 * ```ts
 * encodeReadRequest({ fc: FunctionCode.readHoldingRegisters, address: 0, quantity: 1 });
 * ```
 */
export const FunctionCode = Object.freeze(
  {
    readCoils: 1,
    readDiscreteInputs: 2,
    readHoldingRegisters: 3,
    readInputRegisters: 4,
  } as const,
);

/**
 * Names of Modbus exception codes (spec §7), as counted and logged.
 *
 * @example
 * ```ts
 * const name: ExceptionName = exceptionName(6); // "server_device_busy"
 * ```
 */
export type ExceptionName =
  | "illegal_function"
  | "illegal_data_address"
  | "illegal_data_value"
  | "server_device_failure"
  | "acknowledge"
  | "server_device_busy"
  | "memory_parity_error"
  | "gateway_path_unavailable"
  | "gateway_target_failed_to_respond"
  | "unknown_exception";

const EXCEPTION_NAMES: Readonly<Record<number, ExceptionName>> = {
  1: "illegal_function",
  2: "illegal_data_address",
  3: "illegal_data_value",
  4: "server_device_failure",
  5: "acknowledge",
  6: "server_device_busy",
  8: "memory_parity_error",
  0x0a: "gateway_path_unavailable",
  0x0b: "gateway_target_failed_to_respond",
};

/**
 * The name of an exception code; codes the spec does not define are `unknown_exception`.
 *
 * @example
 * ```ts
 * exceptionName(2); // "illegal_data_address"
 * exceptionName(7); // "unknown_exception"
 * ```
 */
export function exceptionName(code: number): ExceptionName {
  return Object.hasOwn(EXCEPTION_NAMES, code) ? EXCEPTION_NAMES[code] : "unknown_exception";
}

/**
 * Why a response or frame was refused; meant as keys of a rejection counter.
 *
 * @example
 * ```ts
 * const counts = new Map<ModbusRejectReason, number>([["bad_crc", 1]]);
 * ```
 */
export type ModbusRejectReason =
  /** The device answered with an exception response (see `exceptionCode`). */
  | "exception"
  /** Fewer bytes than the frame or PDU needs (the stream ended, or silence fell mid-frame). */
  | "truncated"
  /** The response's function code is not the request's (nor its exception). */
  | "function_mismatch"
  /** The byte count is not what the request implies, or not what the PDU holds. */
  | "byte_count_mismatch"
  /** A PDU or frame longer than its contents say, or an MBAP length outside 2–254. */
  | "bad_length"
  /** An MBAP protocol id other than 0 (not Modbus). */
  | "bad_protocol_id"
  /** An RTU frame whose CRC does not match. */
  | "bad_crc"
  /** RTU bytes that cannot start a response (noise, a partial frame, an echo of a request). */
  | "garbage";

/**
 * A refused response or frame.
 *
 * @example
 * ```ts
 * const r: ModbusRejection = { ok: false, reason: "exception", message: "…", exceptionCode: 2, exception: "illegal_data_address" };
 * ```
 */
export interface ModbusRejection {
  ok: false;
  reason: ModbusRejectReason;
  /** One line for the log. */
  message: string;
  /** For `exception`: the exception code and its name. */
  exceptionCode?: number;
  exception?: ExceptionName;
}

function reject(reason: ModbusRejectReason, message: string): ModbusRejection {
  return { ok: false, reason, message };
}

function isInt(x: unknown, min: number, max: number): x is number {
  return typeof x === "number" && Number.isInteger(x) && x >= min && x <= max;
}

function hex(bytes: Uint8Array, max = 16): string {
  const shown = Array.from(bytes.subarray(0, max), (b) => b.toString(16).padStart(2, "0")).join(" ");
  return bytes.length > max ? `${shown} …` : shown;
}

// ---------------------------------------------------------------------------------------------
// PDUs

/**
 * A read request: function code, first address (0-based, as on the wire) and count.
 *
 * @example
 * ```ts
 * const request: ReadRequest = { fc: 3, address: 0x6b, quantity: 3 };
 * ```
 */
export interface ReadRequest {
  fc: ReadFunctionCode;
  address: number;
  quantity: number;
}

function isBitFc(fc: number): boolean {
  return fc === 1 || fc === 2;
}

function checkRequest(request: ReadRequest): void {
  const { fc, address, quantity } = request;
  if (!(fc === 1 || fc === 2 || fc === 3 || fc === 4)) {
    throw new ModbusArgumentError(`function code ${String(fc)} is not a read (1–4)`);
  }
  if (!isInt(address, 0, 0xffff)) throw new ModbusArgumentError(`address ${String(address)} is not within 0–65535`);
  const max = isBitFc(fc) ? MODBUS_LIMITS.maxReadBits : MODBUS_LIMITS.maxReadRegisters;
  if (!isInt(quantity, 1, max)) {
    throw new ModbusArgumentError(`quantity ${String(quantity)} is not within 1–${max} for function code ${fc}`);
  }
  if (address + quantity > 0x10000) {
    throw new ModbusArgumentError(`address ${address} + quantity ${quantity} runs past 65535`);
  }
}

/**
 * The byte count a correct response to `request` carries: ⌈quantity / 8⌉ for bits, 2 × quantity
 * for registers.
 *
 * @example
 * ```ts
 * expectedByteCount({ fc: 1, address: 19, quantity: 19 }); // 3
 * expectedByteCount({ fc: 3, address: 107, quantity: 3 }); // 6
 * ```
 */
export function expectedByteCount(request: ReadRequest): number {
  checkRequest(request);
  return isBitFc(request.fc) ? Math.ceil(request.quantity / 8) : request.quantity * 2;
}

/**
 * The PDU of a read request: function code, address and quantity, big-endian.
 *
 * @example
 * ```ts
 * // Spec §6.3: read holding registers 108–110.
 * encodeReadRequest({ fc: 3, address: 0x6b, quantity: 3 }); // 03 00 6b 00 03
 * ```
 */
export function encodeReadRequest(request: ReadRequest): Uint8Array {
  checkRequest(request);
  const { fc, address, quantity } = request;
  return Uint8Array.of(fc, address >> 8, address & 0xff, quantity >> 8, quantity & 0xff);
}

/**
 * A successful read response: one value per requested item (0/1 for bits, 0–65535 for registers).
 *
 * @example
 * ```ts
 * const r: ReadResponse = { ok: true, fc: 1, values: [1, 0, 1] };
 * ```
 */
export interface ReadResponse {
  ok: true;
  fc: ReadFunctionCode;
  values: number[];
}

/**
 * Parses the response PDU to `request`, checking the function code, the byte count against the
 * quantity asked for, and the PDU length against the byte count. An exception response becomes a
 * rejection with reason `exception` and the code's name.
 *
 * @example
 * ```ts
 * // Spec §6.3: registers 108–110 hold 555, 0, 100.
 * const pdu = Uint8Array.of(0x03, 0x06, 0x02, 0x2b, 0x00, 0x00, 0x00, 0x64);
 * parseReadResponse(pdu, { fc: 3, address: 0x6b, quantity: 3 }); // { ok: true, fc: 3, values: [555, 0, 100] }
 * parseReadResponse(Uint8Array.of(0x83, 0x02), { fc: 3, address: 0, quantity: 1 }); // reason "exception"
 * ```
 */
export function parseReadResponse(pdu: Uint8Array, request: ReadRequest): ReadResponse | ModbusRejection {
  const byteCount = expectedByteCount(request);
  const { fc, quantity } = request;
  if (pdu.length === 0) return reject("truncated", "empty response PDU");
  if (pdu[0] === (fc | 0x80)) {
    if (pdu.length < 2) return reject("truncated", `exception response to function code ${fc} without its code`);
    if (pdu.length > 2) return reject("bad_length", `exception response of ${pdu.length} bytes instead of 2`);
    const code = pdu[1];
    const name = exceptionName(code);
    return {
      ok: false,
      reason: "exception",
      message: `exception ${code} (${name}) to function code ${fc}`,
      exceptionCode: code,
      exception: name,
    };
  }
  if (pdu[0] !== fc) return reject("function_mismatch", `function code ${pdu[0]} in response to ${fc}`);
  if (pdu.length < 2) return reject("truncated", "response PDU without its byte count");
  if (pdu[1] !== byteCount) {
    return reject("byte_count_mismatch", `byte count ${pdu[1]}; ${quantity} items need ${byteCount}`);
  }
  if (pdu.length < 2 + byteCount) {
    return reject("truncated", `response PDU of ${pdu.length} bytes; byte count ${byteCount} needs ${2 + byteCount}`);
  }
  if (pdu.length > 2 + byteCount) {
    return reject("bad_length", `response PDU of ${pdu.length} bytes; byte count ${byteCount} needs ${2 + byteCount}`);
  }
  const values = new Array<number>(quantity);
  if (isBitFc(fc)) {
    // The first item is the least significant bit of the first data byte (spec §6.1).
    for (let i = 0; i < quantity; i++) values[i] = (pdu[2 + (i >> 3)] >> (i & 7)) & 1;
  } else {
    for (let i = 0; i < quantity; i++) values[i] = (pdu[2 + 2 * i] << 8) | pdu[3 + 2 * i];
  }
  return { ok: true, fc, values };
}

// ---------------------------------------------------------------------------------------------
// Modbus TCP: MBAP

/**
 * A Modbus TCP frame: MBAP header fields and the PDU. The protocol id is always 0.
 *
 * @example
 * ```ts
 * const frame: MbapFrame = { transactionId: 1, unitId: 1, pdu: Uint8Array.of(3, 0, 0, 0, 1) };
 * ```
 */
export interface MbapFrame {
  transactionId: number;
  unitId: number;
  pdu: Uint8Array;
}

/**
 * A Modbus TCP ADU: MBAP header (transaction id, protocol id 0, length = 1 + PDU bytes, unit id),
 * then the PDU.
 *
 * @example
 * ```ts
 * encodeMbap({ transactionId: 1, unitId: 0xff, pdu: encodeReadRequest({ fc: 3, address: 0, quantity: 2 }) });
 * // 00 01 00 00 00 06 ff 03 00 00 00 02
 * ```
 */
export function encodeMbap(frame: MbapFrame): Uint8Array {
  const { transactionId, unitId, pdu } = frame;
  if (!isInt(transactionId, 0, 0xffff)) throw new ModbusArgumentError(`transaction id ${transactionId} is not 0–65535`);
  if (!isInt(unitId, 0, 0xff)) throw new ModbusArgumentError(`unit id ${unitId} is not 0–255`);
  if (pdu.length < 1 || pdu.length > MODBUS_LIMITS.maxPduBytes) {
    throw new ModbusArgumentError(`PDU of ${pdu.length} bytes; 1–${MODBUS_LIMITS.maxPduBytes} allowed`);
  }
  const length = pdu.length + 1;
  const out = new Uint8Array(6 + length);
  out.set([transactionId >> 8, transactionId & 0xff, 0, 0, length >> 8, length & 0xff, unitId]);
  out.set(pdu, 7);
  return out;
}

/**
 * One outcome of {@link MbapDecoder}.
 *
 * @example
 * ```ts
 * for (const r of decoder.push(chunk)) if (r.ok) handle(r.frame); else count(r.reason);
 * ```
 */
export type MbapDecodeResult = { ok: true; frame: MbapFrame } | ModbusRejection;

/**
 * Cuts a Modbus TCP byte stream into frames, whatever the TCP reads' sizes: a frame split across
 * reads waits for its rest, several frames in one read come out in order. At most one unfinished
 * frame (≤ 260 bytes) is kept.
 *
 * TCP has no resynchronisation marker: after a header with a protocol id other than 0 or a length
 * outside 2–254 the frame boundaries are lost, so the decoder reports it once, then drops all input
 * (`failed` is true) until {@link MbapDecoder.reset}; the caller should close the connection.
 *
 * @example
 * ```ts
 * const decoder = new MbapDecoder();
 * const wire = Uint8Array.of(0, 1, 0, 0, 0, 5, 1, 3, 2, 0, 42);
 * decoder.push(wire.subarray(0, 4)); // []
 * decoder.push(wire.subarray(4)); // [{ ok: true, frame: { transactionId: 1, unitId: 1, pdu: 03 02 00 2a } }]
 * ```
 */
export class MbapDecoder {
  readonly #buf = new Uint8Array(MODBUS_LIMITS.mbapHeaderBytes - 1 + MODBUS_LIMITS.maxMbapLength);
  #len = 0;
  /** Total bytes of the frame being read, known once its header is in; 0 before. */
  #total = 0;
  #failed = false;

  /** Bytes held of an unfinished frame (never more than 260). */
  get pendingBytes(): number {
    return this.#len;
  }

  /** True after a header error: input is dropped until {@link MbapDecoder.reset}. */
  get failed(): boolean {
    return this.#failed;
  }

  /** Forgets everything, for a new connection. */
  reset(): void {
    this.#len = 0;
    this.#total = 0;
    this.#failed = false;
  }

  /** Feeds the bytes of one read; returns the frames completed and the errors found, in order. */
  push(chunk: Uint8Array): MbapDecodeResult[] {
    const out: MbapDecodeResult[] = [];
    let i = 0;
    while (i < chunk.length && !this.#failed) {
      const need = (this.#total || MODBUS_LIMITS.mbapHeaderBytes) - this.#len;
      const take = Math.min(need, chunk.length - i);
      // Copied: the caller may reuse its read buffer.
      this.#buf.set(chunk.subarray(i, i + take), this.#len);
      this.#len += take;
      i += take;
      if (this.#total === 0 && this.#len === MODBUS_LIMITS.mbapHeaderBytes) {
        const problem = this.#header();
        if (problem) {
          out.push(problem);
          this.#failed = true;
          this.#len = 0;
          this.#total = 0;
          break;
        }
      }
      if (this.#total !== 0 && this.#len === this.#total) {
        const b = this.#buf;
        out.push({
          ok: true,
          frame: { transactionId: (b[0] << 8) | b[1], unitId: b[6], pdu: b.slice(7, this.#total) },
        });
        this.#len = 0;
        this.#total = 0;
      }
    }
    return out;
  }

  /** The stream ended: an unfinished frame is reported as truncated. */
  end(): MbapDecodeResult[] {
    const out: MbapDecodeResult[] = [];
    if (this.#len > 0) {
      out.push(reject("truncated", `connection closed ${this.#len} bytes into a frame`));
    }
    this.#len = 0;
    this.#total = 0;
    return out;
  }

  /** Checks the header in the buffer; sets the frame's total length or returns the problem. */
  #header(): ModbusRejection | undefined {
    const b = this.#buf;
    const protocolId = (b[2] << 8) | b[3];
    const length = (b[4] << 8) | b[5];
    if (protocolId !== 0) {
      return reject("bad_protocol_id", `MBAP protocol id ${protocolId}, not 0 (Modbus): ${hex(b.subarray(0, 7))}`);
    }
    if (length < MODBUS_LIMITS.minMbapLength || length > MODBUS_LIMITS.maxMbapLength) {
      return reject(
        "bad_length",
        `MBAP length ${length}; ${MODBUS_LIMITS.minMbapLength}–${MODBUS_LIMITS.maxMbapLength} allowed: ${
          hex(b.subarray(0, 7))
        }`,
      );
    }
    this.#total = 6 + length;
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Modbus RTU

/**
 * CRC-16/MODBUS (polynomial 0xA001 reflected, initial value 0xFFFF). On the wire the low byte
 * comes first.
 *
 * @example
 * ```ts
 * crc16Modbus(Uint8Array.of(0x02, 0x07)); // 0x1241, sent as 41 12 (serial line spec §6.2.2)
 * ```
 */
export function crc16Modbus(bytes: Uint8Array): number {
  // Bitwise rather than a table: frames are at most 256 bytes, and a table would be work at import.
  let crc = 0xffff;
  for (let i = 0; i < bytes.length; i++) {
    crc ^= bytes[i];
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/**
 * An RTU ADU: slave address, PDU, CRC low byte, CRC high byte.
 *
 * @example
 * ```ts
 * encodeRtu(1, encodeReadRequest({ fc: 3, address: 0, quantity: 10 })); // 01 03 00 00 00 0a c5 cd
 * ```
 */
export function encodeRtu(slave: number, pdu: Uint8Array): Uint8Array {
  if (!isInt(slave, 0, MODBUS_LIMITS.maxSlave)) {
    throw new ModbusArgumentError(`slave ${slave} is not 0–${MODBUS_LIMITS.maxSlave}`);
  }
  if (pdu.length < 1 || pdu.length > MODBUS_LIMITS.maxPduBytes) {
    throw new ModbusArgumentError(`PDU of ${pdu.length} bytes; 1–${MODBUS_LIMITS.maxPduBytes} allowed`);
  }
  const out = new Uint8Array(pdu.length + 3);
  out[0] = slave;
  out.set(pdu, 1);
  const crc = crc16Modbus(out.subarray(0, pdu.length + 1));
  out[pdu.length + 1] = crc & 0xff;
  out[pdu.length + 2] = crc >> 8;
  return out;
}

/**
 * A response expected on a serial line: who was asked what.
 *
 * @example
 * ```ts
 * decoder.expect({ slave: 1, fc: 3, address: 0, quantity: 2 });
 * ```
 */
export interface RtuExpectation extends ReadRequest {
  slave: number;
}

/**
 * What the first bytes of an RTU response say about its length: the whole ADU's byte count,
 * `"need_more"` when more bytes are needed to tell, or `"invalid"` when they cannot start a
 * response (to `expected`, when given: same slave, same function code or its exception, the
 * byte count its quantity implies).
 *
 * @example
 * ```ts
 * rtuResponseLength(Uint8Array.of(0x01, 0x03, 0x06)); // 11: slave, fc, count, 6 data bytes, CRC
 * rtuResponseLength(Uint8Array.of(0x01, 0x83)); // 5: exception response
 * rtuResponseLength(Uint8Array.of(0x01)); // "need_more"
 * ```
 */
export function rtuResponseLength(head: Uint8Array, expected?: RtuExpectation): number | "need_more" | "invalid" {
  if (head.length < 1) return "need_more";
  // Responses come from individual addresses only: broadcasts (0) are never answered.
  if (expected ? head[0] !== expected.slave : head[0] < 1 || head[0] > MODBUS_LIMITS.maxSlave) return "invalid";
  if (head.length < 2) return "need_more";
  const fc = head[1];
  if (expected ? fc === (expected.fc | 0x80) : fc > 0x80) return 5;
  if (expected ? fc !== expected.fc : fc < 1 || fc > 4) return "invalid";
  if (head.length < 3) return "need_more";
  const n = head[2];
  if (expected) return n === expectedByteCount(expected) ? 5 + n : "invalid";
  const max = Math.ceil(MODBUS_LIMITS.maxReadBits / 8); // 250, also 2 × 125 registers
  if (n < 1 || n > max || (!isBitFc(fc) && n % 2 !== 0)) return "invalid";
  return 5 + n;
}

/**
 * A Modbus RTU frame with a good CRC.
 *
 * @example
 * ```ts
 * const frame: RtuFrame = { slave: 1, pdu: Uint8Array.of(0x83, 0x02) };
 * ```
 */
export interface RtuFrame {
  slave: number;
  pdu: Uint8Array;
}

/**
 * One outcome of {@link RtuResponseDecoder}.
 *
 * @example
 * ```ts
 * for (const r of decoder.push(chunk)) if (r.ok) handle(r.frame); else count(r.reason);
 * ```
 */
export type RtuDecodeResult = { ok: true; frame: RtuFrame } | ModbusRejection;

/**
 * Finds response frames in the byte stream of a serial line. Lengths come from the frames' first
 * bytes ({@link rtuResponseLength}); a frame whose CRC fails, or bytes that cannot start a
 * response, are skipped one byte at a time until a good frame is found (the CRC makes a false
 * match a 1 in 65 536 event). One rejection is reported per loss of sync, not per skipped byte,
 * so a burst of noise counts once. At most one unfinished frame (< 256 bytes) is kept.
 *
 * Line silence is the spec's frame delimiter but is not visible in a byte stream: the caller calls
 * {@link RtuResponseDecoder.idle} when no byte came for t3.5 (see {@link rtuTiming}) or when its
 * response timeout expires.
 *
 * @example
 * ```ts
 * const decoder = new RtuResponseDecoder();
 * decoder.expect({ slave: 1, fc: 3, address: 0, quantity: 1 });
 * decoder.push(Uint8Array.of(0xff, 0x01, 0x03, 0x02, 0x00, 0x2a)); // [{ ok: false, reason: "garbage" }]
 * decoder.push(Uint8Array.of(0x39, 0x9b)); // [{ ok: true, frame: { slave: 1, pdu: 03 02 00 2a } }]
 * ```
 */
export class RtuResponseDecoder {
  readonly #buf = new Uint8Array(2 * MODBUS_LIMITS.maxRtuAduBytes);
  #start = 0;
  #end = 0;
  #expected: RtuExpectation | undefined;
  /** A rejection was reported and bytes are being skipped: say nothing until the next good frame. */
  #resyncing = false;
  #discarded = 0;

  /** Bytes held of an unfinished frame (always < 256). */
  get pendingBytes(): number {
    return this.#end - this.#start;
  }

  /** Bytes skipped while resynchronising, since the decoder was made. */
  get discardedBytes(): number {
    return this.#discarded;
  }

  /**
   * Narrows what counts as a response to the request just sent (same slave, function code or its
   * exception, byte count): stricter resynchronisation, and echoes of requests never pass.
   * `undefined` accepts any plausible response to FC 1–4.
   */
  expect(expected: RtuExpectation | undefined): void {
    if (expected) {
      if (!isInt(expected.slave, 1, MODBUS_LIMITS.maxSlave)) {
        throw new ModbusArgumentError(`slave ${expected.slave} never answers: 1–${MODBUS_LIMITS.maxSlave} do`);
      }
      checkRequest(expected);
    }
    this.#expected = expected;
  }

  /** Feeds bytes from the line; returns the frames completed and the errors found, in order. */
  push(chunk: Uint8Array): RtuDecodeResult[] {
    const out: RtuDecodeResult[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.#buf.length - this.#end < chunk.length - i && this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      const take = Math.min(this.#buf.length - this.#end, chunk.length - i);
      this.#buf.set(chunk.subarray(i, i + take), this.#end);
      this.#end += take;
      i += take;
      this.#scan(out);
    }
    return out;
  }

  /**
   * The line fell silent (t3.5 elapsed, or the response timeout): an unfinished frame is over and
   * is reported as truncated (unless bytes were already being skipped).
   */
  idle(): RtuDecodeResult[] {
    const out: RtuDecodeResult[] = [];
    const pending = this.#end - this.#start;
    if (pending > 0) {
      if (!this.#resyncing) {
        out.push(reject("truncated", `silence after ${pending} bytes of a frame: ${hex(this.#pending())}`));
      } else {
        this.#discarded += pending;
      }
    }
    this.#start = this.#end = 0;
    this.#resyncing = false;
    return out;
  }

  #pending(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  #scan(out: RtuDecodeResult[]): void {
    while (this.#end > this.#start) {
      const bytes = this.#pending();
      const length = rtuResponseLength(bytes, this.#expected);
      if (length === "need_more") return;
      if (length === "invalid") {
        this.#skip(out, "garbage", () => `bytes that start no expected response: ${hex(bytes)}`);
        continue;
      }
      if (bytes.length < length) return;
      const crc = crc16Modbus(bytes.subarray(0, length - 2));
      if (bytes[length - 2] !== (crc & 0xff) || bytes[length - 1] !== crc >> 8) {
        this.#skip(out, "bad_crc", () => `CRC mismatch in ${hex(bytes.subarray(0, length))}`);
        continue;
      }
      out.push({ ok: true, frame: { slave: bytes[0], pdu: bytes.slice(1, length - 2) } });
      this.#start += length;
      this.#resyncing = false;
    }
    this.#start = this.#end = 0;
  }

  #skip(out: RtuDecodeResult[], reason: ModbusRejectReason, message: () => string): void {
    // The message only when it is reported: noise is skipped byte by byte.
    if (!this.#resyncing) out.push(reject(reason, message()));
    this.#resyncing = true;
    this.#start++;
    this.#discarded++;
  }
}

/**
 * Serial character framing; RTU always has 8 data bits.
 *
 * @example
 * ```ts
 * rtuTiming(9600, { parity: "none", stopBits: 2 });
 * ```
 */
export interface SerialFraming {
  /** Default "even", the spec's default. */
  parity?: "none" | "even" | "odd";
  /** Default 1; the spec asks for 2 when there is no parity. */
  stopBits?: 1 | 2;
}

/**
 * RTU timings, in microseconds.
 *
 * @example
 * ```ts
 * const { t35Us } = rtuTiming(19200); // 2005.2…
 * ```
 */
export interface RtuTiming {
  /** One character on the line: start bit, 8 data bits, parity bit if any, stop bits. */
  charUs: number;
  /** Longest gap allowed inside a frame. */
  t15Us: number;
  /** Least silence between frames. */
  t35Us: number;
}

/**
 * The RTU inter-character (t1.5) and inter-frame (t3.5) times for a baud rate. Above 19200 baud
 * the spec fixes them at 750 µs and 1750 µs (serial line spec §2.5.1.1), since UARTs and
 * operating systems cannot time shorter gaps reliably.
 *
 * @example
 * ```ts
 * rtuTiming(9600); // { charUs: 1145.83…, t15Us: 1718.75, t35Us: 4010.41… }
 * rtuTiming(115200).t35Us; // 1750
 * ```
 */
export function rtuTiming(baud: number, framing: SerialFraming = {}): RtuTiming {
  if (typeof baud !== "number" || !Number.isFinite(baud) || baud <= 0) {
    throw new ModbusArgumentError(`baud rate ${baud} is not a positive number`);
  }
  const parity = framing.parity ?? "even";
  const stopBits = framing.stopBits ?? 1;
  if (parity !== "none" && parity !== "even" && parity !== "odd") {
    throw new ModbusArgumentError(`parity ${String(parity)} is not none, even or odd`);
  }
  if (stopBits !== 1 && stopBits !== 2) throw new ModbusArgumentError(`stop bits ${stopBits} is not 1 or 2`);
  const bits = 1 + 8 + (parity === "none" ? 0 : 1) + stopBits;
  const charUs = (bits * 1e6) / baud;
  if (baud > 19200) return { charUs, t15Us: 750, t35Us: 1750 };
  return { charUs, t15Us: 1.5 * charUs, t35Us: 3.5 * charUs };
}

// ---------------------------------------------------------------------------------------------
// Register maps

/**
 * Which table an entry is read from: holding (FC 3), input (FC 4), coil (FC 1), discrete (FC 2).
 *
 * @example
 * ```ts
 * const type: RegisterType = "discrete"; // read with FC 2
 * ```
 */
export type RegisterType = "holding" | "input" | "coil" | "discrete";

/**
 * How the register(s) of an entry are interpreted.
 *
 * @example
 * ```ts
 * const datatype: DataType = "float32"; // two registers
 * ```
 */
export type DataType =
  | "int16"
  | "uint16"
  | "int32"
  | "uint32"
  | "float32"
  | "int64"
  | "uint64"
  | "float64"
  | "bool";

const FC_OF_TYPE: Readonly<Record<RegisterType, ReadFunctionCode>> = { coil: 1, discrete: 2, holding: 3, input: 4 };

const REGISTERS_OF: Readonly<Record<DataType, number>> = {
  int16: 1,
  uint16: 1,
  int32: 2,
  uint32: 2,
  float32: 2,
  int64: 4,
  uint64: 4,
  float64: 4,
  bool: 0,
};

/**
 * Word orders as two switches that apply to any width: are the 16-bit words least significant
 * first, are the two bytes inside each word swapped. The 4-letter names are the usual 32-bit
 * spellings (A = most significant byte, letters in wire order).
 */
const GENERIC_ORDERS: Readonly<Record<string, { swapWords: boolean; swapBytes: boolean }>> = {
  ABCD: { swapWords: false, swapBytes: false },
  CDAB: { swapWords: true, swapBytes: false },
  BADC: { swapWords: false, swapBytes: true },
  DCBA: { swapWords: true, swapBytes: true },
};

/** The wire order of a value's bytes for `datatype` (e.g. "GHEFCDAB"), or undefined if `order` is not known. */
function wireOrder(datatype: DataType, order: string): string | undefined {
  const bytes = 2 * REGISTERS_OF[datatype];
  const generic = Object.hasOwn(GENERIC_ORDERS, order) ? GENERIC_ORDERS[order] : undefined;
  const letters = "ABCDEFGH".slice(0, bytes);
  const words: string[] = [];
  for (let w = 0; w < bytes; w += 2) words.push(letters.slice(w, w + 2));
  const build = (swapWords: boolean, swapBytes: boolean): string =>
    (swapWords ? words.toReversed() : words).map((p) => (swapBytes ? p[1] + p[0] : p)).join("");
  if (generic) return build(generic.swapWords, generic.swapBytes);
  // A full-width spelling of one of the four orders is taken as it is.
  for (const g of Object.values(GENERIC_ORDERS)) {
    if (build(g.swapWords, g.swapBytes) === order) return order;
  }
  return undefined;
}

function allowedOrders(datatype: DataType): string {
  const full = new Set(Object.keys(GENERIC_ORDERS).map((o) => wireOrder(datatype, o)));
  const extra = [...full].filter((o) => o !== undefined && !Object.hasOwn(GENERIC_ORDERS, o));
  return [...Object.keys(GENERIC_ORDERS), ...extra].join(", ");
}

/**
 * A validated register map entry, with defaults filled in.
 *
 * @example
 * ```ts
 * validateRegisterMap([{ name: "t", slave: 1, type: "holding", address: 0, datatype: "int16" }])[0];
 * // { name: "t", slave: 1, type: "holding", address: 0, datatype: "int16", order: "AB", scale: 1, offset: 0 }
 * ```
 */
export interface RegisterMapEntry {
  /** Sensor name of the readings (edgelog's `sensor`). */
  name: string;
  /** Modbus slave address (the MBAP unit id on TCP). */
  slave: number;
  type: RegisterType;
  /** 0-based address as on the wire (register 40001 in "Modicon" notation is holding address 0). */
  address: number;
  datatype: DataType;
  /** Byte order on the wire, full width, e.g. "AB", "CDAB", "GHEFCDAB"; "" for bool. */
  order: string;
  scale: number;
  offset: number;
  /** Engineering unit of the readings (edgelog's `unit`), if any. */
  unit?: string;
}

const ENTRY_FIELDS = ["name", "slave", "type", "address", "datatype", "order", "scale", "offset", "unit"];
// C0 controls, DEL and C1 controls, as edgelog refuses them in sensor names and units.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** A value for an error message, short whatever its size: objects and arrays are only named. */
function show(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object" && value !== null) return "an object";
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return String(value);
}

function nameProblem(s: string, max: number): string | undefined {
  if (s.length === 0) return "is empty";
  if (s.length > max) return `is longer than ${max} characters`;
  if (CONTROL.test(s)) return "contains control characters";
  if (!s.isWellFormed()) return "contains unpaired surrogates";
  if (s.trim() !== s) return "has leading or trailing spaces";
  return undefined;
}

/**
 * Validates a register map given as a JSON value: an array of entries, or `{"entries": [...]}`.
 * Each entry is an object with
 *
 * | field      | required | meaning |
 * | ---------- | -------- | ------- |
 * | `name`     | yes      | sensor name of the readings (edgelog's `sensor`; ≤ 200 characters, unique in the map) |
 * | `slave`    | yes      | Modbus slave address 0–247 (the unit id on TCP; 0 is broadcast on serial lines and never answers) |
 * | `type`     | yes      | `holding` (FC 3), `input` (FC 4), `coil` (FC 1), `discrete` (FC 2) |
 * | `address`  | yes      | 0-based address as on the wire, 0–65535 (the entry's last register too) |
 * | `datatype` | registers| `int16`, `uint16`, `int32`, `uint32`, `float32`, `int64`, `uint64`, `float64`; coils and discrete inputs are `bool` (the default there, and only there) |
 * | `order`    | no       | `ABCD` (default, big-endian), `CDAB` (word swap), `BADC` (byte swap), `DCBA` (both); the same four apply to 16- and 64-bit types, which also take their own spellings (`AB`, `BA`; `ABCDEFGH`, `GHEFCDAB`, `BADCFEHG`, `HGFEDCBA`) |
 * | `scale`    | no       | finite, non-zero number the raw value is multiplied by (default 1) |
 * | `offset`   | no       | finite number added after scaling (default 0) |
 * | `unit`     | no       | engineering unit of the readings (edgelog's `unit`; ≤ 32 characters) |
 *
 * Unknown fields are refused (a misspelt `scale` would silently read wrong values). `scale`,
 * `offset` and `order` do not apply to `bool`.
 *
 * @throws {RegisterMapError} listing every problem, each naming the entry index and the field.
 * @example
 * ```ts
 * validateRegisterMap([
 *   { name: "boiler/temp", slave: 1, type: "holding", address: 0, datatype: "int16", scale: 0.1, unit: "°C" },
 *   { name: "boiler/pump", slave: 1, type: "coil", address: 3 },
 * ]);
 * ```
 */
export function validateRegisterMap(value: unknown): RegisterMapEntry[] {
  let entries: unknown;
  if (Array.isArray(value)) {
    entries = value;
  } else if (typeof value === "object" && value !== null) {
    const extra = Object.keys(value).filter((k) => k !== "entries");
    if (extra.length > 0) {
      throw new RegisterMapError([{
        message: `map: unknown field ${show(extra[0])}; the map is an array of entries or {"entries": [...]}`,
      }]);
    }
    entries = (value as { entries?: unknown }).entries;
  }
  if (!Array.isArray(entries)) {
    throw new RegisterMapError([{ message: 'map: expected an array of entries or {"entries": [...]}' }]);
  }
  if (entries.length === 0) throw new RegisterMapError([{ message: "map: has no entries" }]);
  if (entries.length > MODBUS_LIMITS.maxMapEntries) {
    throw new RegisterMapError([{
      message: `map: has ${entries.length} entries; at most ${MODBUS_LIMITS.maxMapEntries} are allowed`,
    }]);
  }
  const problems: RegisterMapProblem[] = [];
  const result: RegisterMapEntry[] = [];
  const names = new Map<string, number>();
  for (let index = 0; index < entries.length; index++) {
    const entry = validateEntry(entries[index], index, problems);
    if (!entry) continue;
    const first = names.get(entry.name);
    if (first !== undefined) {
      problems.push({
        index,
        field: "name",
        message: `entries[${index}].name: ${show(entry.name)} is already the name of entries[${first}]`,
      });
      continue;
    }
    names.set(entry.name, index);
    result.push(entry);
  }
  if (problems.length > 0) {
    const max = MODBUS_LIMITS.maxMapProblems;
    const shown = problems.slice(0, max);
    if (problems.length > max) shown.push({ message: `map: ${problems.length - max} more problems` });
    throw new RegisterMapError(shown);
  }
  return result;
}

function validateEntry(raw: unknown, index: number, problems: RegisterMapProblem[]): RegisterMapEntry | undefined {
  const at = `entries[${index}]`;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    problems.push({ index, message: `${at}: expected an object, got ${show(raw)}` });
    return undefined;
  }
  const before = problems.length;
  const o = raw as Record<string, unknown>;
  const problem = (field: string, text: string): void => {
    // An unknown key may be anything, of any length: shown quoted and cut short.
    const where = /^\w{1,40}$/.test(field) ? `.${field}` : `[${show(field)}]`;
    problems.push({ index, field, message: `${at}${where}: ${text}` });
  };
  for (const key of Object.keys(o)) {
    if (!ENTRY_FIELDS.includes(key)) problem(key, `unknown field; allowed: ${ENTRY_FIELDS.join(", ")}`);
  }
  const { name, slave, type, address, unit } = o;
  if (name === undefined) problem("name", "missing (the sensor name)");
  else if (typeof name !== "string") problem("name", `must be a string, got ${show(name)}`);
  else {
    const p = nameProblem(name, 200);
    if (p) problem("name", `sensor name ${p}`);
  }
  if (slave === undefined) problem("slave", "missing (the Modbus slave address / unit id)");
  else if (!isInt(slave, 0, MODBUS_LIMITS.maxSlave)) {
    problem("slave", `must be an integer 0–${MODBUS_LIMITS.maxSlave}, got ${show(slave)}`);
  }
  const typeOk = type === "holding" || type === "input" || type === "coil" || type === "discrete";
  if (type === undefined) problem("type", "missing; one of holding, input, coil, discrete");
  else if (!typeOk) problem("type", `must be holding, input, coil or discrete, got ${show(type)}`);
  const isBits = type === "coil" || type === "discrete";

  let datatype: DataType | undefined;
  if (o.datatype === undefined) {
    if (isBits) datatype = "bool";
    else if (typeOk) {
      problem("datatype", "missing; one of int16, uint16, int32, uint32, float32, int64, uint64, float64");
    }
  } else if (typeof o.datatype !== "string" || !Object.hasOwn(REGISTERS_OF, o.datatype)) {
    problem("datatype", `must be one of ${Object.keys(REGISTERS_OF).join(", ")}, got ${show(o.datatype)}`);
  } else {
    datatype = o.datatype as DataType;
    if (isBits && datatype !== "bool") {
      problem("datatype", `${type} entries are bool (one bit), got ${show(datatype)}`);
      datatype = undefined;
    } else if (typeOk && !isBits && datatype === "bool") {
      problem("datatype", `bool is for coil and discrete entries; read a ${type} register as uint16`);
      datatype = undefined;
    }
  }

  const width = datatype === undefined ? 1 : Math.max(1, REGISTERS_OF[datatype]);
  if (address === undefined) problem("address", "missing (0-based, as on the wire)");
  else if (!isInt(address, 0, 0xffff)) problem("address", `must be an integer 0–65535, got ${show(address)}`);
  else if (address + width - 1 > 0xffff) {
    problem("address", `${datatype} at ${address} needs ${width} registers and runs past 65535`);
  }

  let order = "";
  if (datatype === "bool") {
    for (const field of ["order", "scale", "offset"]) {
      if (o[field] !== undefined) problem(field, "does not apply to bool");
    }
  } else if (datatype !== undefined) {
    const given = o.order ?? "ABCD";
    const wire = typeof given === "string" ? wireOrder(datatype, given) : undefined;
    if (wire === undefined) {
      problem("order", `must be one of ${allowedOrders(datatype)} for ${datatype}, got ${show(given)}`);
    } else order = wire;
  }
  const scale = o.scale ?? 1;
  if (typeof scale !== "number" || !Number.isFinite(scale) || scale === 0) {
    problem("scale", `must be a finite, non-zero number, got ${show(scale)}`);
  }
  const offset = o.offset ?? 0;
  if (typeof offset !== "number" || !Number.isFinite(offset)) {
    problem("offset", `must be a finite number, got ${show(offset)}`);
  }
  if (unit !== undefined) {
    if (typeof unit !== "string") problem("unit", `must be a string (the engineering unit), got ${show(unit)}`);
    else {
      const p = nameProblem(unit, 32);
      if (p) problem("unit", `unit ${p}`);
    }
  }
  if (problems.length > before || datatype === undefined) return undefined;
  const entry: RegisterMapEntry = {
    name: name as string,
    slave: slave as number,
    type: type as RegisterType,
    address: address as number,
    datatype,
    order,
    scale: scale as number,
    offset: offset as number,
  };
  if (unit !== undefined) entry.unit = unit as string;
  return entry;
}

/**
 * Reads a register map from the text of its JSON file; see {@link validateRegisterMap} for the
 * format.
 *
 * @throws {RegisterMapError} when the text is not JSON or the map is not valid.
 * @example
 * ```ts
 * const entries = parseRegisterMap(await Deno.readTextFile("modbus-map.json"));
 * ```
 */
export function parseRegisterMap(text: string): RegisterMapEntry[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new RegisterMapError([{ message: `map: not valid JSON (${(e as Error).message.slice(0, 120)})` }]);
  }
  return validateRegisterMap(value);
}

// ---------------------------------------------------------------------------------------------
// Values

function checkWords(words: readonly number[], datatype: DataType, order: string): string {
  if (datatype === "bool") throw new ModbusArgumentError("bool is a bit, not registers");
  if (!Object.hasOwn(REGISTERS_OF, datatype)) throw new ModbusArgumentError(`unknown datatype ${String(datatype)}`);
  const wire = wireOrder(datatype, order);
  if (wire === undefined) {
    throw new ModbusArgumentError(`order ${show(order)} is not one of ${allowedOrders(datatype)} for ${datatype}`);
  }
  if (words.length !== REGISTERS_OF[datatype]) {
    throw new ModbusArgumentError(`${datatype} takes ${REGISTERS_OF[datatype]} registers, got ${words.length}`);
  }
  for (const w of words) {
    if (!isInt(w, 0, 0xffff)) throw new ModbusArgumentError(`register value ${show(w)} is not 0–65535`);
  }
  return wire;
}

/**
 * The raw value of registers as they came off the wire (first register first), in `datatype`
 * with byte order `order` (see {@link validateRegisterMap}). 64-bit integers come back as bigint
 * since a number cannot hold all of them.
 *
 * @example
 * ```ts
 * decodeRegisters([0x4148, 0x0000], "float32", "ABCD"); // 12.5
 * decodeRegisters([0x0000, 0x4148], "float32", "CDAB"); // 12.5
 * decodeRegisters([0xffff], "int16"); // -1
 * ```
 */
export function decodeRegisters(words: readonly number[], datatype: DataType, order = "ABCD"): number | bigint {
  const wire = checkWords(words, datatype, order);
  const value = new Uint8Array(wire.length);
  for (let i = 0; i < wire.length; i++) {
    const word = words[i >> 1];
    value[wire.charCodeAt(i) - 65] = i & 1 ? word & 0xff : word >> 8;
  }
  const view = new DataView(value.buffer);
  switch (datatype) {
    case "int16":
      return view.getInt16(0);
    case "uint16":
      return view.getUint16(0);
    case "int32":
      return view.getInt32(0);
    case "uint32":
      return view.getUint32(0);
    case "float32":
      return view.getFloat32(0);
    case "int64":
      return view.getBigInt64(0);
    case "uint64":
      return view.getBigUint64(0);
    default:
      return view.getFloat64(0);
  }
}

const INT_RANGES: Readonly<Record<string, readonly [bigint, bigint]>> = {
  int16: [-(2n ** 15n), 2n ** 15n - 1n],
  uint16: [0n, 2n ** 16n - 1n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

/**
 * The registers that carry `value` in `datatype` with byte order `order`, first register first:
 * the inverse of {@link decodeRegisters} (for tests and simulators; edgelog does not write).
 *
 * @example
 * ```ts
 * encodeRegisters(12.5, "float32", "CDAB"); // [0x0000, 0x4148]
 * encodeRegisters(-2n, "int64", "ABCD"); // [0xffff, 0xffff, 0xffff, 0xfffe]
 * ```
 */
export function encodeRegisters(value: number | bigint, datatype: DataType, order = "ABCD"): number[] {
  const width = REGISTERS_OF[datatype] ?? 0;
  const wire = checkWords(new Array<number>(width).fill(0), datatype, order);
  const bytes = new Uint8Array(wire.length);
  const view = new DataView(bytes.buffer);
  if (datatype === "float32" || datatype === "float64") {
    if (typeof value !== "number") throw new ModbusArgumentError(`${datatype} takes a number, got a bigint`);
    if (datatype === "float32") view.setFloat32(0, value);
    else view.setFloat64(0, value);
  } else {
    if (typeof value === "number" && !Number.isSafeInteger(value)) {
      throw new ModbusArgumentError(`${value} is not a safe integer; pass a bigint`);
    }
    const big = BigInt(value);
    const [min, max] = INT_RANGES[datatype];
    if (big < min || big > max) throw new ModbusArgumentError(`${big} does not fit ${datatype}`);
    if (width === 1) view.setUint16(0, Number(BigInt.asUintN(16, big)));
    else if (width === 2) view.setUint32(0, Number(BigInt.asUintN(32, big)));
    else view.setBigUint64(0, BigInt.asUintN(64, big));
  }
  const words: number[] = new Array<number>(width).fill(0);
  for (let i = 0; i < wire.length; i++) {
    const b = bytes[wire.charCodeAt(i) - 65];
    words[i >> 1] |= i & 1 ? b : b << 8;
  }
  return words;
}

// ---------------------------------------------------------------------------------------------
// Planning and decoding

/**
 * Options of {@link planRequests}.
 *
 * @example
 * ```ts
 * planRequests(entries, { maxGap: 4, maxRegisters: 60 });
 * ```
 */
export interface PlanOptions {
  /**
   * Most unmapped registers (or bits) one request may read to join two entries (default 0: only
   * adjacent or overlapping entries share a request, since many devices answer "illegal data
   * address" for a read that touches an unmapped register).
   */
  maxGap?: number;
  /** Most registers per FC 3/4 request, 1–125 (default 125; some devices take fewer). */
  maxRegisters?: number;
  /** Most bits per FC 1/2 request, 1–2000 (default 2000). */
  maxBits?: number;
}

/**
 * One request of a plan, and the entries its response carries.
 *
 * @example
 * ```ts
 * for (const request of planRequests(entries)) encodeRtu(request.slave, encodeReadRequest(request));
 * ```
 */
export interface PlannedRequest extends ReadRequest {
  slave: number;
  /** In address order. */
  entries: readonly RegisterMapEntry[];
}

/**
 * Groups entries by slave and table, then merges entries whose registers are adjacent (or at most
 * `maxGap` apart) into as few requests as the spec's per-request maxima allow. Greedy in address
 * order, which is optimal for intervals this short. Requests come out by slave, function code and
 * address, so a plan is stable.
 *
 * @example
 * ```ts
 * const plan = planRequests(parseRegisterMap(text), { maxGap: 4 });
 * for (const request of plan) encodeMbap({ transactionId: 1, unitId: request.slave, pdu: encodeReadRequest(request) });
 * ```
 */
export function planRequests(entries: readonly RegisterMapEntry[], options: PlanOptions = {}): PlannedRequest[] {
  const maxRegisters = options.maxRegisters ?? MODBUS_LIMITS.maxReadRegisters;
  const maxBits = options.maxBits ?? MODBUS_LIMITS.maxReadBits;
  const maxGap = options.maxGap ?? 0;
  if (!isInt(maxRegisters, 4, MODBUS_LIMITS.maxReadRegisters)) {
    // 4: a 64-bit value must fit one request.
    throw new ModbusArgumentError(`maxRegisters ${maxRegisters} is not within 4–${MODBUS_LIMITS.maxReadRegisters}`);
  }
  if (!isInt(maxBits, 1, MODBUS_LIMITS.maxReadBits)) {
    throw new ModbusArgumentError(`maxBits ${maxBits} is not within 1–${MODBUS_LIMITS.maxReadBits}`);
  }
  if (!isInt(maxGap, 0, MODBUS_LIMITS.maxReadBits)) {
    throw new ModbusArgumentError(`maxGap ${maxGap} is not an integer within 0–${MODBUS_LIMITS.maxReadBits}`);
  }
  const groups = new Map<string, RegisterMapEntry[]>();
  for (const e of entries) {
    const key = `${e.slave}:${FC_OF_TYPE[e.type]}`;
    let group = groups.get(key);
    if (!group) groups.set(key, group = []);
    group.push(e);
  }
  const keys = [...groups.keys()].sort((a, b) => {
    const [sa, fa] = a.split(":").map(Number);
    const [sb, fb] = b.split(":").map(Number);
    return sa - sb || fa - fb;
  });
  const plan: PlannedRequest[] = [];
  for (const key of keys) {
    const group = groups.get(key)!.toSorted((a, b) => a.address - b.address || width(a) - width(b));
    const fc = FC_OF_TYPE[group[0].type];
    const limit = isBitFc(fc) ? maxBits : maxRegisters;
    let current:
      | { slave: number; fc: ReadFunctionCode; address: number; end: number; entries: RegisterMapEntry[] }
      | undefined;
    for (const e of group) {
      const end = e.address + width(e) - 1;
      if (
        current && e.address - current.end - 1 <= maxGap && Math.max(current.end, end) - current.address + 1 <= limit
      ) {
        current.end = Math.max(current.end, end);
        current.entries.push(e);
        continue;
      }
      if (current) plan.push(finish(current));
      current = { slave: e.slave, fc, address: e.address, end, entries: [e] };
    }
    if (current) plan.push(finish(current));
  }
  return plan;
}

function width(e: RegisterMapEntry): number {
  return Math.max(1, REGISTERS_OF[e.datatype]);
}

function finish(
  r: { slave: number; fc: ReadFunctionCode; address: number; end: number; entries: RegisterMapEntry[] },
): PlannedRequest {
  return { slave: r.slave, fc: r.fc, address: r.address, quantity: r.end - r.address + 1, entries: r.entries };
}

/**
 * A value read for one map entry; the caller adds the timestamp and edgelog's own checks.
 *
 * @example
 * ```ts
 * const reading: FieldReading = { sensor: "boiler/temp", value: 21.5, unit: "°C" };
 * ```
 */
export interface FieldReading {
  sensor: string;
  value: number;
  unit?: string;
}

/**
 * An entry whose value cannot be a reading; reasons are edgelog's rejection reasons.
 *
 * @example
 * ```ts
 * const r: FieldRejection = { sensor: "meter/energy", reason: "value_out_of_range", message: "…" };
 * ```
 */
export interface FieldRejection {
  sensor: string;
  reason: "not_finite" | "value_out_of_range";
  message: string;
}

/**
 * The outcome of {@link decodeReadings}.
 *
 * @example
 * ```ts
 * const { readings, rejected }: DecodedReadings = decodeReadings(request, response.values);
 * ```
 */
export interface DecodedReadings {
  readings: FieldReading[];
  rejected: FieldRejection[];
}

/**
 * Turns the values of a response to `request` into readings: each entry's registers in its
 * datatype and byte order, then × scale + offset. Refused per entry: NaN and infinite floats
 * (`not_finite`), 64-bit integers beyond ±2^53 that a number would round, and results beyond ±2^53
 * (`value_out_of_range`, as edgelog refuses them).
 *
 * @throws {ModbusArgumentError} when `values` does not hold `request.quantity` items (pass only
 * what {@link parseReadResponse} accepted for this request).
 * @example
 * ```ts
 * const response = parseReadResponse(pdu, request);
 * if (response.ok) decodeReadings(request, response.values);
 * // { readings: [{ sensor: "boiler/temp", value: 21.5, unit: "°C" }], rejected: [] }
 * ```
 */
export function decodeReadings(request: PlannedRequest, values: readonly number[]): DecodedReadings {
  if (values.length !== request.quantity) {
    throw new ModbusArgumentError(`${values.length} values for a request of ${request.quantity}`);
  }
  const readings: FieldReading[] = [];
  const rejected: FieldRejection[] = [];
  for (const e of request.entries) {
    const at = e.address - request.address;
    if (at < 0 || at + width(e) > values.length) {
      throw new ModbusArgumentError(`entry ${show(e.name)} is not within the request`);
    }
    let raw: number | bigint;
    if (e.datatype === "bool") raw = values[at] ? 1 : 0;
    else raw = decodeRegisters(values.slice(at, at + width(e)), e.datatype, e.order);
    if (typeof raw === "bigint") {
      if (raw > BigInt(Number.MAX_SAFE_INTEGER) || raw < -BigInt(Number.MAX_SAFE_INTEGER)) {
        rejected.push({
          sensor: e.name,
          reason: "value_out_of_range",
          message: `raw ${e.datatype} ${raw} is beyond ±2^53 and would lose precision`,
        });
        continue;
      }
      raw = Number(raw);
    }
    if (!Number.isFinite(raw)) {
      rejected.push({ sensor: e.name, reason: "not_finite", message: `raw ${e.datatype} is ${raw}` });
      continue;
    }
    const value = scaled(raw, e.scale) + e.offset;
    if (!Number.isFinite(value) || Math.abs(value) > Number.MAX_SAFE_INTEGER) {
      rejected.push({
        sensor: e.name,
        reason: "value_out_of_range",
        message: `${raw} × ${e.scale} + ${e.offset} is beyond ±2^53`,
      });
      continue;
    }
    readings.push(e.unit === undefined ? { sensor: e.name, value } : { sensor: e.name, value, unit: e.unit });
  }
  return { readings, rejected };
}

function scaled(raw: number, scale: number): number {
  // A scale of 0.1 means "divide by 10": dividing gives 0.3 for 3 where multiplying by the
  // inexact 0.1 gives 0.30000000000000004.
  const inverse = 1 / scale;
  return Number.isInteger(inverse) && Math.abs(inverse) > 1 ? raw / inverse : raw * scale;
}
