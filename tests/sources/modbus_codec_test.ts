import assert from "node:assert/strict";
import {
  crc16Modbus,
  type DataType,
  decodeReadings,
  decodeRegisters,
  encodeMbap,
  encodeReadRequest,
  encodeRegisters,
  encodeRtu,
  exceptionName,
  expectedByteCount,
  FunctionCode,
  MbapDecoder,
  ModbusArgumentError,
  ModbusError,
  type ModbusRejection,
  parseReadResponse,
  parseRegisterMap,
  planRequests,
  type ReadResponse,
  type RegisterMapEntry,
  RegisterMapError,
  RtuResponseDecoder,
  rtuResponseLength,
  rtuTiming,
  validateRegisterMap,
} from "../../lib/sources/_modbus_codec.ts";

const b = (...xs: number[]): Uint8Array => Uint8Array.from(xs);
const hexOf = (bytes: Uint8Array): string => Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join(" ");

function rejected(r: { ok: boolean }): ModbusRejection {
  assert.equal(r.ok, false, `expected a rejection, got ${JSON.stringify(r)}`);
  return r as ModbusRejection;
}

function accepted(r: ReadResponse | ModbusRejection): ReadResponse {
  assert.equal(r.ok, true, `expected success, got ${JSON.stringify(r)}`);
  return r as ReadResponse;
}

// ---------------------------------------------------------------------------------------------
// PDUs: the spec's examples (Application Protocol V1.1b3 §6.1–6.4, §7)

Deno.test("a read coils request encodes as in the spec's example (coils 20–38)", () => {
  assert.equal(hexOf(encodeReadRequest({ fc: 1, address: 0x13, quantity: 0x13 })), "01 00 13 00 13");
});

Deno.test("a read coils response from the spec unpacks least significant bit first", () => {
  const r = accepted(parseReadResponse(b(0x01, 0x03, 0xcd, 0x6b, 0x05), { fc: 1, address: 0x13, quantity: 19 }));
  assert.deepEqual(r.values, [1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1]);
});

Deno.test("a read discrete inputs request and response follow the spec's example (inputs 197–218)", () => {
  assert.equal(hexOf(encodeReadRequest({ fc: 2, address: 0xc4, quantity: 0x16 })), "02 00 c4 00 16");
  const r = accepted(parseReadResponse(b(0x02, 0x03, 0xac, 0xdb, 0x35), { fc: 2, address: 0xc4, quantity: 22 }));
  assert.deepEqual(r.values, [0, 0, 1, 1, 0, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 1, 1]);
});

Deno.test("a read holding registers request encodes as in the spec's example (registers 108–110)", () => {
  assert.equal(hexOf(encodeReadRequest({ fc: 3, address: 0x6b, quantity: 3 })), "03 00 6b 00 03");
});

Deno.test("a read holding registers response from the spec gives 555, 0 and 100", () => {
  const pdu = b(0x03, 0x06, 0x02, 0x2b, 0x00, 0x00, 0x00, 0x64);
  assert.deepEqual(parseReadResponse(pdu, { fc: 3, address: 0x6b, quantity: 3 }), {
    ok: true,
    fc: 3,
    values: [555, 0, 100],
  });
});

Deno.test("a read input registers request and response follow the spec's example (register 9 holds 10)", () => {
  assert.equal(hexOf(encodeReadRequest({ fc: 4, address: 8, quantity: 1 })), "04 00 08 00 01");
  assert.deepEqual(accepted(parseReadResponse(b(0x04, 0x02, 0x00, 0x0a), { fc: 4, address: 8, quantity: 1 })).values, [
    10,
  ]);
});

Deno.test("an exception response from the spec (81 02) is an illegal data address rejection", () => {
  const r = rejected(parseReadResponse(b(0x81, 0x02), { fc: 1, address: 0x04a1, quantity: 1 }));
  assert.equal(r.reason, "exception");
  assert.equal(r.exceptionCode, 2);
  assert.equal(r.exception, "illegal_data_address");
});

Deno.test("every exception code the spec defines has its name, and others are unknown", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 8, 0x0a, 0x0b].map(exceptionName), [
    "illegal_function",
    "illegal_data_address",
    "illegal_data_value",
    "server_device_failure",
    "acknowledge",
    "server_device_busy",
    "memory_parity_error",
    "gateway_path_unavailable",
    "gateway_target_failed_to_respond",
  ]);
  assert.deepEqual([0, 7, 9, 0x0c, 0xff, -1, 1.5].map(exceptionName), Array(7).fill("unknown_exception"));
  assert.equal(exceptionName("constructor" as unknown as number), "unknown_exception");
});

Deno.test("an exception response with an undefined code still names the code", () => {
  const r = rejected(parseReadResponse(b(0x83, 0x07), { fc: 3, address: 0, quantity: 1 }));
  assert.equal(r.exceptionCode, 7);
  assert.equal(r.exception, "unknown_exception");
});

Deno.test("an exception response of the wrong length is refused", () => {
  assert.equal(rejected(parseReadResponse(b(0x83), { fc: 3, address: 0, quantity: 1 })).reason, "truncated");
  assert.equal(rejected(parseReadResponse(b(0x83, 2, 0), { fc: 3, address: 0, quantity: 1 })).reason, "bad_length");
});

Deno.test("a response with another function code, or another function's exception, is a function mismatch", () => {
  assert.equal(
    rejected(parseReadResponse(b(0x04, 0x02, 0, 1), { fc: 3, address: 0, quantity: 1 })).reason,
    "function_mismatch",
  );
  assert.equal(
    rejected(parseReadResponse(b(0x84, 0x02), { fc: 3, address: 0, quantity: 1 })).reason,
    "function_mismatch",
  );
});

Deno.test("a byte count other than the request implies is refused", () => {
  const r = rejected(parseReadResponse(b(0x03, 0x04, 0, 1, 0, 2), { fc: 3, address: 0, quantity: 1 }));
  assert.equal(r.reason, "byte_count_mismatch");
  assert.equal(
    rejected(parseReadResponse(b(0x01, 0x02, 0xff, 0x01), { fc: 1, address: 0, quantity: 8 })).reason,
    "byte_count_mismatch",
  );
});

Deno.test("a response shorter than its byte count is truncated, and a longer one has a bad length", () => {
  const request = { fc: 3, address: 0, quantity: 2 } as const;
  assert.equal(rejected(parseReadResponse(b(), request)).reason, "truncated");
  assert.equal(rejected(parseReadResponse(b(0x03), request)).reason, "truncated");
  assert.equal(rejected(parseReadResponse(b(0x03, 0x04, 0, 1, 0), request)).reason, "truncated");
  assert.equal(rejected(parseReadResponse(b(0x03, 0x04, 0, 1, 0, 2, 9), request)).reason, "bad_length");
});

Deno.test("requests outside the spec's ranges throw ModbusArgumentError", () => {
  const bad = [
    { fc: 5, address: 0, quantity: 1 },
    { fc: 3, address: -1, quantity: 1 },
    { fc: 3, address: 65536, quantity: 1 },
    { fc: 3, address: 0, quantity: 0 },
    { fc: 3, address: 0, quantity: 126 },
    { fc: 4, address: 0, quantity: 1.5 },
    { fc: 1, address: 0, quantity: 2001 },
    { fc: 3, address: 65535, quantity: 2 },
  ];
  for (const request of bad) {
    assert.throws(() => encodeReadRequest(request as never), ModbusArgumentError, JSON.stringify(request));
  }
  assert.equal(encodeReadRequest({ fc: 1, address: 0, quantity: 2000 }).length, 5);
  assert.equal(encodeReadRequest({ fc: 4, address: 65535, quantity: 1 }).length, 5);
});

Deno.test("the expected byte count is a byte per 8 bits or started byte, and two per register", () => {
  assert.deepEqual(
    [[1, 1], [1, 8], [1, 9], [2, 2000], [3, 1], [4, 125]].map(([fc, quantity]) =>
      expectedByteCount({ fc: fc as 1, address: 0, quantity })
    ),
    [1, 1, 2, 250, 2, 250],
  );
});

Deno.test("the errors this module throws are ModbusErrors with their own names", () => {
  const argument = new ModbusArgumentError("x");
  const map = new RegisterMapError([{ message: "map: a" }, {
    index: 1,
    field: "slave",
    message: "entries[1].slave: b",
  }]);
  assert.ok(argument instanceof ModbusError && map instanceof ModbusError);
  assert.deepEqual([argument.name, map.name], ["ModbusArgumentError", "RegisterMapError"]);
  assert.equal(map.message, "map: a\nentries[1].slave: b");
});

Deno.test("the function code names are the spec's numbers", () => {
  assert.deepEqual(Object.values(FunctionCode), [1, 2, 3, 4]);
});

// ---------------------------------------------------------------------------------------------
// Modbus TCP

Deno.test("an MBAP frame carries transaction id, protocol 0, length of unit id plus PDU, and unit id", () => {
  const wire = encodeMbap({
    transactionId: 0x1234,
    unitId: 0xff,
    pdu: encodeReadRequest({ fc: 3, address: 0, quantity: 2 }),
  });
  assert.equal(hexOf(wire), "12 34 00 00 00 06 ff 03 00 00 00 02");
});

Deno.test("MBAP encoding refuses out-of-range ids and PDU sizes", () => {
  const pdu = b(3, 0, 0, 0, 1);
  assert.throws(() => encodeMbap({ transactionId: 65536, unitId: 1, pdu }), ModbusArgumentError);
  assert.throws(() => encodeMbap({ transactionId: 0, unitId: 256, pdu }), ModbusArgumentError);
  assert.throws(() => encodeMbap({ transactionId: 0, unitId: 1, pdu: b() }), ModbusArgumentError);
  assert.throws(() => encodeMbap({ transactionId: 0, unitId: 1, pdu: new Uint8Array(254) }), ModbusArgumentError);
  assert.equal(encodeMbap({ transactionId: 0, unitId: 1, pdu: new Uint8Array(253) }).length, 260);
});

Deno.test("the MBAP decoder waits for a frame split across reads", () => {
  const d = new MbapDecoder();
  const wire = b(0, 7, 0, 0, 0, 5, 1, 3, 2, 0, 42);
  for (let i = 0; i < wire.length - 1; i++) assert.deepEqual(d.push(wire.subarray(i, i + 1)), []);
  assert.equal(d.pendingBytes, 10);
  assert.deepEqual(d.push(wire.subarray(10)), [{
    ok: true,
    frame: { transactionId: 7, unitId: 1, pdu: b(3, 2, 0, 42) },
  }]);
  assert.equal(d.pendingBytes, 0);
});

Deno.test("the MBAP decoder returns every frame of a read that holds several, in order", () => {
  const frames = [1, 2, 3].map((t) => encodeMbap({ transactionId: t, unitId: t, pdu: b(3, 2, 0, t) }));
  const out = new MbapDecoder().push(Uint8Array.from([...frames[0], ...frames[1], ...frames[2].subarray(0, 3)]));
  assert.deepEqual(out.map((r) => r.ok && r.frame.transactionId), [1, 2]);
});

Deno.test("the MBAP decoder copies PDUs out of the caller's buffer", () => {
  const wire = b(0, 1, 0, 0, 0, 3, 1, 0x83, 2);
  const [r] = new MbapDecoder().push(wire);
  wire.fill(0);
  assert.deepEqual(r, { ok: true, frame: { transactionId: 1, unitId: 1, pdu: b(0x83, 2) } });
});

Deno.test("the MBAP decoder refuses lengths outside 2–254 and then drops input until reset", () => {
  for (const length of [0, 1, 255, 0xffff]) {
    const d = new MbapDecoder();
    const [r] = d.push(b(0, 1, 0, 0, length >> 8, length & 0xff, 1, 3));
    assert.equal(rejected(r).reason, "bad_length", `length ${length}`);
    assert.equal(d.failed, true);
    assert.deepEqual(d.push(encodeMbap({ transactionId: 2, unitId: 1, pdu: b(3, 2, 0, 1) })), []);
    assert.equal(d.pendingBytes, 0);
    d.reset();
    assert.equal(d.push(encodeMbap({ transactionId: 2, unitId: 1, pdu: b(3, 2, 0, 1) }))[0].ok, true);
  }
});

Deno.test("the MBAP decoder accepts the largest frame (length 254)", () => {
  const [r] = new MbapDecoder().push(encodeMbap({ transactionId: 1, unitId: 1, pdu: new Uint8Array(253).fill(3) }));
  assert.equal(r.ok && r.frame.pdu.length, 253);
});

Deno.test("the MBAP decoder refuses a protocol id other than 0", () => {
  const d = new MbapDecoder();
  assert.equal(rejected(d.push(b(0, 1, 0, 1, 0, 3, 1, 3, 0))[0]).reason, "bad_protocol_id");
  assert.equal(d.failed, true);
});

Deno.test("the MBAP decoder reports a frame cut short by the end of the stream", () => {
  const d = new MbapDecoder();
  d.push(b(0, 1, 0, 0, 0, 5, 1));
  assert.equal(rejected(d.end()[0]).reason, "truncated");
  assert.deepEqual(d.end(), []);
  assert.equal(d.pendingBytes, 0);
});

// ---------------------------------------------------------------------------------------------
// Modbus RTU

Deno.test("the CRC of 02 07 is 0x1241, the serial line spec's example", () => {
  assert.equal(crc16Modbus(b(0x02, 0x07)), 0x1241);
});

Deno.test("the CRC matches the CRC-16/MODBUS check value 0x4B37 for '123456789'", () => {
  assert.equal(crc16Modbus(new TextEncoder().encode("123456789")), 0x4b37);
});

Deno.test("the CRC of an empty frame is the initial value 0xFFFF", () => {
  assert.equal(crc16Modbus(b()), 0xffff);
});

Deno.test("an RTU frame is slave, PDU and the CRC low byte first (01 03 00 00 00 0A C5 CD)", () => {
  assert.equal(hexOf(encodeRtu(1, encodeReadRequest({ fc: 3, address: 0, quantity: 10 }))), "01 03 00 00 00 0a c5 cd");
  assert.equal(
    hexOf(encodeRtu(1, encodeReadRequest({ fc: 3, address: 0x6b, quantity: 3 }))),
    "01 03 00 6b 00 03 74 17",
  );
});

Deno.test("RTU encoding refuses slaves above 247 and PDUs over 253 bytes", () => {
  assert.throws(() => encodeRtu(248, b(3)), ModbusArgumentError);
  assert.throws(() => encodeRtu(1, new Uint8Array(254)), ModbusArgumentError);
  assert.throws(() => encodeRtu(1, b()), ModbusArgumentError);
});

Deno.test("RTU response lengths follow from the byte count, and exceptions are 5 bytes", () => {
  assert.equal(rtuResponseLength(b()), "need_more");
  assert.equal(rtuResponseLength(b(1)), "need_more");
  assert.equal(rtuResponseLength(b(1, 3)), "need_more");
  assert.equal(rtuResponseLength(b(1, 3, 6)), 11);
  assert.equal(rtuResponseLength(b(1, 1, 3)), 8);
  assert.equal(rtuResponseLength(b(1, 0x83)), 5);
  assert.equal(rtuResponseLength(b(1, 0x90)), 5);
});

Deno.test("RTU bytes that cannot start a response are invalid", () => {
  assert.equal(rtuResponseLength(b(0)), "invalid", "broadcast address never answers");
  assert.equal(rtuResponseLength(b(248)), "invalid");
  assert.equal(rtuResponseLength(b(1, 5)), "invalid");
  assert.equal(rtuResponseLength(b(1, 0x80)), "invalid");
  assert.equal(rtuResponseLength(b(1, 3, 0)), "invalid");
  assert.equal(rtuResponseLength(b(1, 3, 5)), "invalid", "registers come in pairs of bytes");
  assert.equal(rtuResponseLength(b(1, 3, 252)), "invalid");
});

Deno.test("RTU response lengths against an expected request check slave, function and byte count", () => {
  const expected = { slave: 7, fc: 3, address: 0, quantity: 2 } as const;
  assert.equal(rtuResponseLength(b(7, 3, 4), expected), 9);
  assert.equal(rtuResponseLength(b(7, 0x83), expected), 5);
  assert.equal(rtuResponseLength(b(8), expected), "invalid");
  assert.equal(rtuResponseLength(b(7, 4), expected), "invalid");
  assert.equal(rtuResponseLength(b(7, 0x84), expected), "invalid");
  assert.equal(rtuResponseLength(b(7, 3, 2), expected), "invalid");
});

Deno.test("the RTU decoder returns a response split across reads once its CRC checks", () => {
  const d = new RtuResponseDecoder();
  const wire = b(0x01, 0x03, 0x06, 0x02, 0x2b, 0x00, 0x00, 0x00, 0x64, 0x05, 0x7a);
  assert.deepEqual(d.push(wire.subarray(0, 4)), []);
  assert.equal(d.pendingBytes, 4);
  assert.deepEqual(d.push(wire.subarray(4)), [{
    ok: true,
    frame: { slave: 1, pdu: b(0x03, 0x06, 0x02, 0x2b, 0x00, 0x00, 0x00, 0x64) },
  }]);
  assert.equal(d.pendingBytes, 0);
});

Deno.test("the RTU decoder returns an exception response", () => {
  assert.deepEqual(new RtuResponseDecoder().push(b(0x01, 0x83, 0x02, 0xc0, 0xf1)), [{
    ok: true,
    frame: { slave: 1, pdu: b(0x83, 0x02) },
  }]);
});

Deno.test("the RTU decoder reports a CRC error once and finds the next good frame", () => {
  const d = new RtuResponseDecoder();
  const bad = b(0x01, 0x03, 0x02, 0x00, 0x2a, 0x39, 0x9c);
  const good = b(0x01, 0x03, 0x02, 0x00, 0x2a, 0x39, 0x9b);
  const out = d.push(Uint8Array.from([...bad, ...good]));
  assert.deepEqual(out.map((r) => r.ok ? "frame" : r.reason), ["bad_crc", "frame"]);
  assert.equal(d.discardedBytes, bad.length);
});

Deno.test("the RTU decoder skips leading noise with one garbage rejection", () => {
  const d = new RtuResponseDecoder();
  d.expect({ slave: 1, fc: 3, address: 0, quantity: 1 });
  const out = d.push(b(0x00, 0xff, 0x55, 0x02, 0x01, 0x03, 0x02, 0x00, 0x2a, 0x39, 0x9b));
  assert.deepEqual(out.map((r) => r.ok ? "frame" : r.reason), ["garbage", "frame"]);
});

Deno.test("the RTU decoder with an expectation skips the echo of its own request", () => {
  const d = new RtuResponseDecoder();
  const request = { slave: 1, fc: 3, address: 0, quantity: 1 } as const;
  d.expect(request);
  const echo = encodeRtu(1, encodeReadRequest(request));
  const out = d.push(Uint8Array.from([...echo, 0x01, 0x03, 0x02, 0x00, 0x2a, 0x39, 0x9b]));
  assert.deepEqual(out.map((r) => r.ok ? hexOf(r.frame.pdu) : r.reason), ["garbage", "03 02 00 2a"]);
});

Deno.test("the RTU decoder refuses to expect an answer from the broadcast address", () => {
  assert.throws(
    () => new RtuResponseDecoder().expect({ slave: 0, fc: 3, address: 0, quantity: 1 }),
    ModbusArgumentError,
  );
});

Deno.test("silence on the line ends an unfinished RTU frame as truncated", () => {
  const d = new RtuResponseDecoder();
  d.push(b(0x01, 0x03, 0x02, 0x00));
  assert.deepEqual(d.idle().map((r) => !r.ok && r.reason), ["truncated"]);
  assert.equal(d.pendingBytes, 0);
  assert.deepEqual(d.idle(), []);
});

Deno.test("the RTU decoder never holds a frame's worth of bytes it cannot use", () => {
  const d = new RtuResponseDecoder();
  d.push(new Uint8Array(10_000).fill(0x01));
  assert.ok(d.pendingBytes < 256);
});

Deno.test("RTU timing at 9600 baud with even parity is 11 bits per character, t3.5 ≈ 4.01 ms", () => {
  const t = rtuTiming(9600);
  assert.ok(Math.abs(t.charUs - 1145.833) < 0.001);
  assert.ok(Math.abs(t.t15Us - 1718.75) < 0.001);
  assert.ok(Math.abs(t.t35Us - 4010.417) < 0.001);
});

Deno.test("RTU timing counts no parity bit and a second stop bit", () => {
  assert.equal(rtuTiming(10_000, { parity: "none", stopBits: 1 }).charUs, 1000);
  assert.equal(rtuTiming(11_000, { parity: "none", stopBits: 2 }).charUs, 1000);
  assert.equal(rtuTiming(12_000, { parity: "odd", stopBits: 2 }).charUs, 1000);
});

Deno.test("RTU timing is fixed at 750 µs and 1.75 ms above 19200 baud only", () => {
  const at19200 = rtuTiming(19200);
  assert.ok(Math.abs(at19200.t35Us - 2005.208) < 0.001);
  for (const baud of [19201, 38400, 115200]) {
    const t = rtuTiming(baud);
    assert.equal(t.t15Us, 750);
    assert.equal(t.t35Us, 1750);
  }
});

Deno.test("RTU timing refuses baud rates that are not positive and unknown framing", () => {
  for (const baud of [0, -9600, NaN, Infinity]) assert.throws(() => rtuTiming(baud), ModbusArgumentError);
  assert.throws(() => rtuTiming(9600, { parity: "mark" as never }), ModbusArgumentError);
  assert.throws(() => rtuTiming(9600, { stopBits: 3 as never }), ModbusArgumentError);
});

// ---------------------------------------------------------------------------------------------
// Values: every word order of every datatype against hand-computed registers

const ORDER_CASES: [DataType, number | bigint, Record<string, number[]>][] = [
  ["int16", -2, { AB: [0xfffe], BA: [0xfeff] }],
  ["uint16", 0x1234, { AB: [0x1234], BA: [0x3412] }],
  // -123456789 = 0xF8A432EB
  ["int32", -123456789, {
    ABCD: [0xf8a4, 0x32eb],
    CDAB: [0x32eb, 0xf8a4],
    BADC: [0xa4f8, 0xeb32],
    DCBA: [0xeb32, 0xa4f8],
  }],
  ["uint32", 0xdeadbeef, {
    ABCD: [0xdead, 0xbeef],
    CDAB: [0xbeef, 0xdead],
    BADC: [0xadde, 0xefbe],
    DCBA: [0xefbe, 0xadde],
  }],
  // float32(π) = 0x40490FDB
  ["float32", Math.fround(Math.PI), {
    ABCD: [0x4049, 0x0fdb],
    CDAB: [0x0fdb, 0x4049],
    BADC: [0x4940, 0xdb0f],
    DCBA: [0xdb0f, 0x4940],
  }],
  // -0x0102030405060709 = 0xFEFDFCFBFAF9F8F7
  ["int64", -0x0102030405060709n, {
    ABCDEFGH: [0xfefd, 0xfcfb, 0xfaf9, 0xf8f7],
    GHEFCDAB: [0xf8f7, 0xfaf9, 0xfcfb, 0xfefd],
    BADCFEHG: [0xfdfe, 0xfbfc, 0xf9fa, 0xf7f8],
    HGFEDCBA: [0xf7f8, 0xf9fa, 0xfbfc, 0xfdfe],
  }],
  ["uint64", 0x0123456789abcdefn, {
    ABCDEFGH: [0x0123, 0x4567, 0x89ab, 0xcdef],
    GHEFCDAB: [0xcdef, 0x89ab, 0x4567, 0x0123],
    BADCFEHG: [0x2301, 0x6745, 0xab89, 0xefcd],
    HGFEDCBA: [0xefcd, 0xab89, 0x6745, 0x2301],
  }],
  // float64(π) = 0x400921FB54442D18
  ["float64", Math.PI, {
    ABCDEFGH: [0x4009, 0x21fb, 0x5444, 0x2d18],
    GHEFCDAB: [0x2d18, 0x5444, 0x21fb, 0x4009],
    BADCFEHG: [0x0940, 0xfb21, 0x4454, 0x182d],
    HGFEDCBA: [0x182d, 0x4454, 0xfb21, 0x0940],
  }],
];

for (const [datatype, value, orders] of ORDER_CASES) {
  for (const [order, words] of Object.entries(orders)) {
    Deno.test(`${datatype} in order ${order} decodes from and encodes to hand-computed registers`, () => {
      assert.equal(decodeRegisters(words, datatype, order), value);
      assert.deepEqual(encodeRegisters(value, datatype, order), words);
    });
  }
}

Deno.test("the four 32-bit order names apply to 64-bit types as word swap and byte swap", () => {
  const words = (o: string): number[] => encodeRegisters(0x0123456789abcdefn, "uint64", o);
  assert.deepEqual(words("ABCD"), words("ABCDEFGH"));
  assert.deepEqual(words("CDAB"), words("GHEFCDAB"));
  assert.deepEqual(words("BADC"), words("BADCFEHG"));
  assert.deepEqual(words("DCBA"), words("HGFEDCBA"));
});

Deno.test("the four 32-bit order names apply to 16-bit types as byte swap only", () => {
  assert.equal(decodeRegisters([0x1234], "uint16", "ABCD"), 0x1234);
  assert.equal(decodeRegisters([0x1234], "uint16", "CDAB"), 0x1234);
  assert.equal(decodeRegisters([0x1234], "uint16", "BADC"), 0x3412);
  assert.equal(decodeRegisters([0x1234], "uint16", "DCBA"), 0x3412);
});

Deno.test("the default order is big-endian", () => {
  assert.equal(decodeRegisters([0x4148, 0x0000], "float32"), 12.5);
  assert.equal(decodeRegisters([0, 0, 0, 1], "uint64"), 1n);
});

Deno.test("integer extremes of each width decode exactly", () => {
  assert.equal(decodeRegisters([0x8000], "int16"), -32768);
  assert.equal(decodeRegisters([0xffff], "uint16"), 65535);
  assert.equal(decodeRegisters([0x8000, 0], "int32"), -(2 ** 31));
  assert.equal(decodeRegisters([0xffff, 0xffff], "uint32"), 2 ** 32 - 1);
  assert.equal(decodeRegisters([0x8000, 0, 0, 0], "int64"), -(2n ** 63n));
  assert.equal(decodeRegisters([0xffff, 0xffff, 0xffff, 0xffff], "uint64"), 2n ** 64n - 1n);
});

Deno.test("decoding registers refuses unknown orders, wrong register counts and bool", () => {
  assert.throws(() => decodeRegisters([1, 2], "float32", "ACBD"), ModbusArgumentError);
  assert.throws(() => decodeRegisters([1, 2], "float32", "AB"), ModbusArgumentError);
  assert.throws(() => decodeRegisters([1, 2, 3, 4], "float64", "ABCDEFHG"), ModbusArgumentError);
  assert.throws(() => decodeRegisters([1], "int32"), ModbusArgumentError);
  assert.throws(() => decodeRegisters([70000], "uint16"), ModbusArgumentError);
  assert.throws(() => decodeRegisters([1], "bool"), ModbusArgumentError);
  assert.throws(() => decodeRegisters([1], "int8" as never), ModbusArgumentError);
});

Deno.test("encoding registers refuses values that do not fit the datatype", () => {
  assert.throws(() => encodeRegisters(32768, "int16"), ModbusArgumentError);
  assert.throws(() => encodeRegisters(-1, "uint32"), ModbusArgumentError);
  assert.throws(() => encodeRegisters(1.5, "int32"), ModbusArgumentError);
  assert.throws(() => encodeRegisters(2n ** 64n, "uint64"), ModbusArgumentError);
  assert.throws(() => encodeRegisters(1n, "float64"), ModbusArgumentError);
});

// ---------------------------------------------------------------------------------------------
// Register maps

const ENTRY = { name: "boiler/temp", slave: 1, type: "holding", address: 0, datatype: "int16" };

function problemsOf(value: unknown): string[] {
  try {
    validateRegisterMap(value);
  } catch (e) {
    assert.ok(e instanceof RegisterMapError, String(e));
    return e.problems.map((p) => p.message);
  }
  assert.fail("expected a RegisterMapError");
}

Deno.test("a register map entry gets defaults for order, scale and offset", () => {
  assert.deepEqual(validateRegisterMap([ENTRY]), [{
    name: "boiler/temp",
    slave: 1,
    type: "holding",
    address: 0,
    datatype: "int16",
    order: "AB",
    scale: 1,
    offset: 0,
  }]);
});

Deno.test("a register map may be an object with an entries array", () => {
  assert.equal(validateRegisterMap({ entries: [ENTRY] }).length, 1);
});

Deno.test("coil and discrete entries default to bool and take no order, scale or offset", () => {
  const [coil, discrete] = validateRegisterMap([
    { name: "pump", slave: 1, type: "coil", address: 3 },
    { name: "door", slave: 1, type: "discrete", address: 4, datatype: "bool" },
  ]);
  assert.equal(coil.datatype, "bool");
  assert.equal(discrete.order, "");
  assert.deepEqual(problemsOf([{ name: "pump", slave: 1, type: "coil", address: 3, scale: 2, order: "ABCD" }]), [
    "entries[0].order: does not apply to bool",
    "entries[0].scale: does not apply to bool",
  ]);
});

Deno.test("register map orders are stored full width", () => {
  const entries = validateRegisterMap([
    { ...ENTRY, name: "a", datatype: "float64", order: "CDAB" },
    { ...ENTRY, name: "b", datatype: "int64", order: "HGFEDCBA" },
    { ...ENTRY, name: "c", datatype: "uint16", order: "BA" },
  ]);
  assert.deepEqual(entries.map((e) => e.order), ["GHEFCDAB", "HGFEDCBA", "BA"]);
});

Deno.test("register map problems name the entry index and the field", () => {
  assert.deepEqual(problemsOf([ENTRY, { ...ENTRY, name: "x", address: 70000 }]), [
    "entries[1].address: must be an integer 0–65535, got 70000",
  ]);
});

Deno.test("a register map lists every problem of every entry at once", () => {
  const problems = problemsOf([
    { name: "", slave: 248, type: "holdings", address: 1.5, datatype: "int16", scale: 0, offset: "1", unit: 5 },
    { ...ENTRY, order: "XYZW", colour: "red" },
  ]);
  assert.deepEqual(problems, [
    "entries[0].name: sensor name is empty",
    "entries[0].slave: must be an integer 0–247, got 248",
    'entries[0].type: must be holding, input, coil or discrete, got "holdings"',
    "entries[0].address: must be an integer 0–65535, got 1.5",
    "entries[0].scale: must be a finite, non-zero number, got 0",
    'entries[0].offset: must be a finite number, got "1"',
    "entries[0].unit: must be a string (the engineering unit), got 5",
    "entries[1].colour: unknown field; allowed: name, slave, type, address, datatype, order, scale, offset, unit",
    'entries[1].order: must be one of ABCD, CDAB, BADC, DCBA, AB, BA for int16, got "XYZW"',
  ]);
});

Deno.test("a register map refuses missing required fields", () => {
  assert.deepEqual(problemsOf([{}]), [
    "entries[0].name: missing (the sensor name)",
    "entries[0].slave: missing (the Modbus slave address / unit id)",
    "entries[0].type: missing; one of holding, input, coil, discrete",
    "entries[0].address: missing (0-based, as on the wire)",
  ]);
  assert.deepEqual(problemsOf([{ ...ENTRY, datatype: undefined }]), [
    "entries[0].datatype: missing; one of int16, uint16, int32, uint32, float32, int64, uint64, float64",
  ]);
});

Deno.test("a register map refuses bool registers and non-bool coils", () => {
  assert.deepEqual(problemsOf([{ ...ENTRY, datatype: "bool" }]), [
    "entries[0].datatype: bool is for coil and discrete entries; read a holding register as uint16",
  ]);
  assert.deepEqual(problemsOf([{ ...ENTRY, type: "coil", datatype: "uint16" }]), [
    'entries[0].datatype: coil entries are bool (one bit), got "uint16"',
  ]);
});

Deno.test("a register map refuses a value that runs past register 65535", () => {
  assert.equal(validateRegisterMap([{ ...ENTRY, address: 65534, datatype: "float32" }]).length, 1);
  assert.deepEqual(problemsOf([{ ...ENTRY, address: 65533, datatype: "float64" }]), [
    "entries[0].address: float64 at 65533 needs 4 registers and runs past 65535",
  ]);
});

Deno.test("a register map shows odd unknown keys quoted and cut short", () => {
  assert.deepEqual(problemsOf([{ ...ENTRY, ["k".repeat(50)]: 1, "a b": 2 }]), [
    `entries[0]["${
      "k".repeat(40)
    }…"]: unknown field; allowed: name, slave, type, address, datatype, order, scale, offset, unit`,
    'entries[0]["a b"]: unknown field; allowed: name, slave, type, address, datatype, order, scale, offset, unit',
  ]);
});

Deno.test("a register map error shows objects and long strings briefly", () => {
  assert.deepEqual(problemsOf([{ ...ENTRY, slave: { deep: [1, 2, 3] }, unit: [1], name: 5 }, "x".repeat(100)]), [
    "entries[0].name: must be a string, got 5",
    "entries[0].slave: must be an integer 0–247, got an object",
    "entries[0].unit: must be a string (the engineering unit), got an array",
    `entries[1]: expected an object, got "${"x".repeat(40)}…"`,
  ]);
});

Deno.test("a register map refuses a sensor name used twice", () => {
  assert.deepEqual(problemsOf([ENTRY, { ...ENTRY, address: 5 }]), [
    'entries[1].name: "boiler/temp" is already the name of entries[0]',
  ]);
});

Deno.test("a register map refuses names and units edgelog would refuse", () => {
  assert.deepEqual(problemsOf([{ ...ENTRY, name: " t" }, { ...ENTRY, name: "u", unit: "a\u0007" }]), [
    "entries[0].name: sensor name has leading or trailing spaces",
    "entries[1].unit: unit contains control characters",
  ]);
  assert.deepEqual(problemsOf([{ ...ENTRY, name: "n".repeat(201) }]), [
    "entries[0].name: sensor name is longer than 200 characters",
  ]);
});

Deno.test("a register map must be an array or an object with entries only, and not empty", () => {
  const shape = 'map: expected an array of entries or {"entries": [...]}';
  assert.deepEqual(problemsOf(null), [shape]);
  assert.deepEqual(problemsOf("x"), [shape]);
  assert.deepEqual(problemsOf({ entries: {} }), [shape]);
  assert.deepEqual(problemsOf({ entries: [ENTRY], version: 1 }), [
    'map: unknown field "version"; the map is an array of entries or {"entries": [...]}',
  ]);
  assert.deepEqual(problemsOf([]), ["map: has no entries"]);
  assert.deepEqual(problemsOf([7]), ["entries[0]: expected an object, got 7"]);
});

Deno.test("a register map lists at most 50 problems and counts the rest", () => {
  const problems = problemsOf(Array.from({ length: 60 }, () => ({ ...ENTRY, slave: -1 })));
  assert.equal(problems.length, 51);
  assert.equal(problems[50], "map: 10 more problems");
});

Deno.test("a register map of more than 10000 entries is refused", () => {
  assert.deepEqual(problemsOf(Array(10_001).fill(ENTRY)), ["map: has 10001 entries; at most 10000 are allowed"]);
});

Deno.test("a register map file that is not JSON is a RegisterMapError", () => {
  assert.throws(() => parseRegisterMap("[{"), RegisterMapError);
  assert.throws(() => parseRegisterMap("[{"), /^RegisterMapError: map: not valid JSON/);
  assert.equal(parseRegisterMap(JSON.stringify([ENTRY])).length, 1);
});

// ---------------------------------------------------------------------------------------------
// Planning

function entries(...specs: [string, number, string, number, string?][]): RegisterMapEntry[] {
  return validateRegisterMap(
    specs.map(([name, slave, type, address, datatype]) => ({ name, slave, type, address, datatype })),
  );
}

const shape = (plan: ReturnType<typeof planRequests>) =>
  plan.map((r) => `${r.slave}/${r.fc}@${r.address}+${r.quantity}:${r.entries.map((e) => e.name).join(",")}`);

Deno.test("adjacent registers of one slave and table share one request", () => {
  const plan = planRequests(entries(["b", 1, "holding", 1, "float32"], ["a", 1, "holding", 0, "int16"], [
    "c",
    1,
    "holding",
    3,
    "uint64",
  ]));
  assert.deepEqual(shape(plan), ["1/3@0+7:a,b,c"]);
});

Deno.test("different slaves and tables get their own requests, ordered by slave and function code", () => {
  const plan = planRequests(entries(
    ["h2", 2, "holding", 0, "int16"],
    ["i1", 1, "input", 0, "int16"],
    ["c1", 1, "coil", 0],
    ["d1", 1, "discrete", 0],
    ["h1", 1, "holding", 0, "int16"],
  ));
  assert.deepEqual(shape(plan), ["1/1@0+1:c1", "1/2@0+1:d1", "1/3@0+1:h1", "1/4@0+1:i1", "2/3@0+1:h2"]);
});

Deno.test("registers apart by more than the maximum gap get separate requests", () => {
  const map = entries(["a", 1, "holding", 0, "int16"], ["b", 1, "holding", 5, "int16"]);
  assert.deepEqual(shape(planRequests(map)), ["1/3@0+1:a", "1/3@5+1:b"]);
  assert.deepEqual(shape(planRequests(map, { maxGap: 3 })), ["1/3@0+1:a", "1/3@5+1:b"]);
  assert.deepEqual(shape(planRequests(map, { maxGap: 4 })), ["1/3@0+6:a,b"]);
});

Deno.test("a request never asks for more than 125 registers", () => {
  const map = validateRegisterMap(
    Array.from(
      { length: 70 },
      (_, i) => ({ name: `r${i}`, slave: 1, type: "input", address: 2 * i, datatype: "uint32" }),
    ),
  );
  const plan = planRequests(map);
  assert.deepEqual(plan.map((r) => r.quantity), [124, 16]);
  assert.deepEqual(planRequests(map, { maxRegisters: 10 }).map((r) => r.quantity), Array(14).fill(10));
});

Deno.test("a request never asks for more than 2000 bits", () => {
  const map = validateRegisterMap(
    Array.from({ length: 2100 }, (_, i) => ({ name: `c${i}`, slave: 3, type: "coil", address: i })),
  );
  assert.deepEqual(planRequests(map).map((r) => [r.address, r.quantity]), [[0, 2000], [2000, 100]]);
});

Deno.test("overlapping entries share the registers they overlap", () => {
  const plan = planRequests(entries(["w", 1, "holding", 10, "uint32"], ["hi", 1, "holding", 10, "uint16"]));
  assert.deepEqual(shape(plan), ["1/3@10+2:hi,w"]);
});

Deno.test("planning options out of range throw ModbusArgumentError", () => {
  const map = entries(["a", 1, "holding", 0, "int16"]);
  for (const options of [{ maxGap: -1 }, { maxGap: 0.5 }, { maxRegisters: 3 }, { maxRegisters: 126 }, { maxBits: 0 }]) {
    assert.throws(() => planRequests(map, options), ModbusArgumentError, JSON.stringify(options));
  }
});

Deno.test("an empty map plans no requests", () => {
  assert.deepEqual(planRequests([]), []);
});

// ---------------------------------------------------------------------------------------------
// Decoding readings

function plan1(spec: Record<string, unknown>[]) {
  const plan = planRequests(validateRegisterMap(spec), { maxGap: 10 });
  assert.equal(plan.length, 1);
  return plan[0];
}

Deno.test("decoded readings apply scale then offset and carry the unit", () => {
  const request = plan1([
    { name: "t", slave: 1, type: "holding", address: 0, datatype: "int16", scale: 0.1, offset: -40, unit: "°C" },
    { name: "p", slave: 1, type: "holding", address: 1, datatype: "uint16", scale: 2 },
  ]);
  assert.deepEqual(decodeReadings(request, [215, 21]), {
    readings: [{ sensor: "t", value: -18.5, unit: "°C" }, { sensor: "p", value: 42 }],
    rejected: [],
  });
});

Deno.test("a scale of 0.1 divides by ten rather than multiplying by an inexact 0.1", () => {
  const request = plan1([{ name: "t", slave: 1, type: "input", address: 0, datatype: "int16", scale: 0.1 }]);
  assert.equal(decodeReadings(request, [3]).readings[0].value, 0.3);
});

Deno.test("decoded readings follow each entry's word order inside a merged request", () => {
  const request = plan1([
    { name: "f", slave: 1, type: "holding", address: 0, datatype: "float32", order: "CDAB" },
    { name: "u", slave: 1, type: "holding", address: 2, datatype: "uint32", order: "DCBA" },
    { name: "g", slave: 1, type: "holding", address: 6, datatype: "float64", order: "ABCD" },
  ]);
  const values = [0x0000, 0x4148, 0xefbe, 0xadde, 0, 0, 0x4009, 0x21fb, 0x5444, 0x2d18];
  assert.deepEqual(decodeReadings(request, values).readings.map((r) => r.value), [12.5, 0xdeadbeef, Math.PI]);
});

Deno.test("coils and discrete inputs decode as 0 and 1", () => {
  const request = plan1([
    { name: "a", slave: 1, type: "coil", address: 4 },
    { name: "b", slave: 1, type: "coil", address: 6 },
  ]);
  assert.deepEqual(decodeReadings(request, [1, 1, 0]).readings.map((r) => r.value), [1, 0]);
});

Deno.test("NaN and infinite floats are refused as not finite", () => {
  const request = plan1([
    { name: "nan", slave: 1, type: "holding", address: 0, datatype: "float32" },
    { name: "inf", slave: 1, type: "holding", address: 2, datatype: "float32" },
  ]);
  const { readings, rejected } = decodeReadings(request, [0x7fc0, 0, 0x7f80, 0]);
  assert.deepEqual(readings, []);
  assert.deepEqual(rejected.map((r) => [r.sensor, r.reason]), [["nan", "not_finite"], ["inf", "not_finite"]]);
});

Deno.test("64-bit integers beyond 2^53 are refused as out of range rather than rounded", () => {
  const request = plan1([
    { name: "ok", slave: 1, type: "holding", address: 0, datatype: "int64" },
    { name: "big", slave: 1, type: "holding", address: 4, datatype: "uint64" },
  ]);
  const { readings, rejected } = decodeReadings(request, [0xffe0, 0, 0, 1, 0x0020, 0, 0, 0]);
  assert.deepEqual(readings, [{ sensor: "ok", value: -(2 ** 53) + 1 }]);
  assert.deepEqual(rejected.map((r) => [r.sensor, r.reason]), [["big", "value_out_of_range"]]);
});

Deno.test("a scaled value beyond 2^53 is refused as out of range", () => {
  const request = plan1([{ name: "x", slave: 1, type: "holding", address: 0, datatype: "float64", scale: 1e300 }]);
  assert.equal(decodeReadings(request, encodeRegisters(1e10, "float64")).rejected[0].reason, "value_out_of_range");
});

Deno.test("decoding values of the wrong count throws ModbusArgumentError", () => {
  const request = plan1([{ name: "x", slave: 1, type: "holding", address: 0, datatype: "int32" }]);
  assert.throws(() => decodeReadings(request, [1]), ModbusArgumentError);
});

Deno.test("a planned request, its encoded frame and the response decode end to end", () => {
  const request = plan1([
    { name: "t", slave: 5, type: "holding", address: 0x6b, datatype: "int16", scale: 0.1, unit: "°C" },
    { name: "z", slave: 5, type: "holding", address: 0x6c, datatype: "int16" },
    { name: "h", slave: 5, type: "holding", address: 0x6d, datatype: "uint16", unit: "%" },
  ]);
  assert.equal(
    hexOf(encodeMbap({ transactionId: 1, unitId: request.slave, pdu: encodeReadRequest(request) })),
    "00 01 00 00 00 06 05 03 00 6b 00 03",
  );
  const response = accepted(parseReadResponse(b(0x03, 0x06, 0x02, 0x2b, 0x00, 0x00, 0x00, 0x64), request));
  assert.deepEqual(decodeReadings(request, response.values).readings, [
    { sensor: "t", value: 55.5, unit: "°C" },
    { sensor: "z", value: 0 },
    { sensor: "h", value: 100, unit: "%" },
  ]);
});
