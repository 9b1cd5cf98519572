/**
 * Seeded fuzz tests of the Modbus decoders: random bytes, truncations, bit flips, absurd lengths. Each
 * prints its seed; `EDGELOG_FUZZ_SEED=N deno task test` replays a failure. The decoders of device
 * input must never throw, never hold more than a frame of bytes, and never take long; the map
 * reader may throw only RegisterMapError.
 */
import assert from "node:assert/strict";
import { chunks, concat, fuzz, within } from "../_helpers/fuzz.ts";
import {
  type DataType,
  decodeReadings,
  encodeMbap,
  encodeRegisters,
  encodeRtu,
  MbapDecoder,
  type MbapDecodeResult,
  MODBUS_LIMITS,
  type ModbusRejectReason,
  parseReadResponse,
  parseRegisterMap,
  planRequests,
  type ReadFunctionCode,
  type ReadRequest,
  RegisterMapError,
  type RtuDecodeResult,
  RtuResponseDecoder,
  validateRegisterMap,
} from "../../lib/sources/_modbus_codec.ts";

const MODBUS_REASONS = new Set<ModbusRejectReason>([
  "exception",
  "truncated",
  "function_mismatch",
  "byte_count_mismatch",
  "bad_length",
  "bad_protocol_id",
  "bad_crc",
  "garbage",
]);

/** Any result must be a well-formed frame or a rejection with a known reason and a message. */
function checkResult(r: MbapDecodeResult | RtuDecodeResult): void {
  if (r.ok) {
    assert.ok(r.frame.pdu instanceof Uint8Array && r.frame.pdu.length >= 1 && r.frame.pdu.length <= 253);
  } else {
    assert.ok(MODBUS_REASONS.has(r.reason), r.reason);
    assert.equal(typeof r.message, "string");
  }
}

function randomPdu(f: ReturnType<typeof fuzz>): Uint8Array {
  return f.bytes(1 + f.int(f.int(2) ? 12 : MODBUS_LIMITS.maxPduBytes));
}

function flip(bytes: Uint8Array, f: ReturnType<typeof fuzz>, count: number): Uint8Array {
  const out = bytes.slice();
  for (let i = 0; i < count; i++) {
    const at = f.int(out.length);
    out[at] ^= 1 << f.int(8);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// MBAP

Deno.test("fuzz: the MBAP decoder returns exactly the frames sent, however the stream is cut", () => {
  const f = fuzz("MBAP frames", 1500);
  within(20_000, "MBAP frames", () => {
    for (let it = 0; it < f.iterations; it++) {
      const frames = Array.from({ length: 1 + f.int(8) }, () => ({
        transactionId: f.int(0x10000),
        unitId: f.int(256),
        pdu: randomPdu(f),
      }));
      const d = new MbapDecoder();
      const out: MbapDecodeResult[] = [];
      for (const chunk of chunks(concat(frames.map(encodeMbap)), f.int)) {
        out.push(...d.push(chunk));
        assert.ok(d.pendingBytes <= 260);
      }
      assert.deepEqual(out, frames.map((frame) => ({ ok: true, frame })));
      assert.deepEqual(d.end(), []);
    }
  });
});

Deno.test("fuzz: the MBAP decoder survives random bytes, bit flips and truncations with bounded memory", () => {
  const f = fuzz("MBAP noise", 3000);
  within(20_000, "MBAP noise", () => {
    for (let it = 0; it < f.iterations; it++) {
      const kind = f.int(3);
      const frames = Array.from(
        { length: 1 + f.int(4) },
        () => encodeMbap({ transactionId: f.int(9), unitId: 1, pdu: randomPdu(f) }),
      );
      const valid = concat(frames);
      const boundaries = new Set(frames.map((_, i) => frames.slice(0, i).reduce((n, x) => n + x.length, 0)));
      const input = kind === 0
        ? f.bytes(f.int(2000))
        : kind === 1
        ? flip(valid, f, 1 + f.int(3))
        : valid.subarray(0, f.int(valid.length));
      const d = new MbapDecoder();
      const out: MbapDecodeResult[] = [];
      for (const chunk of chunks(input, f.int)) {
        out.push(...d.push(chunk));
        assert.ok(d.pendingBytes <= 260, `pending ${d.pendingBytes}`);
      }
      out.push(...d.end());
      out.forEach(checkResult);
      // After a header error nothing more comes out.
      const firstError = out.findIndex((r) => !r.ok && r.reason !== "truncated");
      if (firstError >= 0) assert.equal(firstError, out.length - 1);
      if (kind === 2 && !boundaries.has(input.length)) assert.ok(out.some((r) => !r.ok && r.reason === "truncated"));
    }
  });
});

Deno.test("fuzz: the MBAP decoder refuses every absurd length", () => {
  const f = fuzz("MBAP lengths", 2000);
  for (let it = 0; it < f.iterations; it++) {
    const length = f.pick([0, 1, 255, 256, 0xffff, 255 + f.int(0xff00)]);
    const d = new MbapDecoder();
    const header = Uint8Array.of(f.int(256), f.int(256), 0, 0, length >> 8, length & 0xff, f.int(256));
    const out = d.push(concat([header, f.bytes(f.int(300)), new Uint8Array(f.int(70_000))]));
    assert.equal(out.length, 1);
    assert.equal(!out[0].ok && out[0].reason, "bad_length");
    assert.equal(d.pendingBytes, 0);
  }
});

// ---------------------------------------------------------------------------------------------
// RTU

function randomResponseFrame(f: ReturnType<typeof fuzz>): { slave: number; pdu: Uint8Array } {
  const slave = 1 + f.int(247);
  const fc = (1 + f.int(4)) as ReadFunctionCode;
  if (f.int(5) === 0) return { slave, pdu: Uint8Array.of(fc | 0x80, f.int(12)) };
  const n = fc <= 2 ? 1 + f.int(250) : 2 * (1 + f.int(125));
  return { slave, pdu: concat([Uint8Array.of(fc, n), f.bytes(n)]) };
}

Deno.test("fuzz: the RTU decoder returns exactly the frames sent, however the stream is cut", () => {
  const f = fuzz("RTU frames", 1500);
  within(20_000, "RTU frames", () => {
    for (let it = 0; it < f.iterations; it++) {
      const frames = Array.from({ length: 1 + f.int(6) }, () => randomResponseFrame(f));
      const d = new RtuResponseDecoder();
      const out: RtuDecodeResult[] = [];
      for (const chunk of chunks(concat(frames.map((x) => encodeRtu(x.slave, x.pdu))), f.int)) {
        out.push(...d.push(chunk));
        assert.ok(d.pendingBytes < 256);
      }
      assert.deepEqual(out, frames.map((frame) => ({ ok: true, frame })));
      assert.deepEqual(d.idle(), []);
    }
  });
});

Deno.test("fuzz: the RTU decoder finds good frames among noise and reports each burst once", () => {
  const f = fuzz("RTU resync", 1500);
  within(20_000, "RTU resync", () => {
    for (let it = 0; it < f.iterations; it++) {
      const frames = Array.from({ length: 1 + f.int(5) }, () => randomResponseFrame(f));
      const parts: Uint8Array[] = [];
      for (const x of frames) {
        // Noise that cannot be a frame start (an unused slave address), then the frame.
        parts.push(Uint8Array.from({ length: f.int(30) }, () => 248 + f.int(8)));
        parts.push(encodeRtu(x.slave, x.pdu));
      }
      const d = new RtuResponseDecoder();
      const out: RtuDecodeResult[] = [];
      for (const chunk of chunks(concat(parts), f.int)) out.push(...d.push(chunk));
      const got = out.filter((r) => r.ok);
      assert.deepEqual(got, frames.map((frame) => ({ ok: true, frame })));
      for (let i = 1; i < out.length; i++) assert.ok(out[i].ok || out[i - 1].ok, "two rejections in a row");
    }
  });
});

Deno.test("fuzz: the RTU decoder never passes a frame with flipped bits", () => {
  const f = fuzz("RTU bit flips", 3000);
  within(20_000, "RTU bit flips", () => {
    for (let it = 0; it < f.iterations; it++) {
      const x = randomResponseFrame(f);
      const wire = encodeRtu(x.slave, x.pdu);
      // CRC-16 detects every error of up to 3 bits, and every burst up to 16 bits long.
      const bad = flip(wire, f, 1 + f.int(3));
      if (bad.every((v, i) => v === wire[i])) continue;
      const d = new RtuResponseDecoder();
      const out = [...d.push(bad), ...d.idle()];
      out.forEach(checkResult);
      assert.ok(!out.some((r) => r.ok && r.frame.pdu.length === x.pdu.length), JSON.stringify(out));
    }
  });
});

Deno.test("fuzz: the RTU decoder survives random bytes and absurd byte counts with bounded memory", () => {
  const f = fuzz("RTU noise", 3000);
  within(20_000, "RTU noise", () => {
    for (let it = 0; it < f.iterations; it++) {
      const d = new RtuResponseDecoder();
      if (f.int(2)) {
        d.expect({
          slave: 1 + f.int(247),
          fc: (1 + f.int(4)) as ReadFunctionCode,
          address: 0,
          quantity: 1 + f.int(125),
        });
      }
      const input = f.int(3) === 0
        ? Uint8Array.of(1 + f.int(247), 1 + f.int(4), f.int(256), ...f.bytes(f.int(300)))
        : f.bytes(f.int(3000));
      const out: RtuDecodeResult[] = [];
      for (const chunk of chunks(input, f.int)) {
        out.push(...d.push(chunk));
        assert.ok(d.pendingBytes < 256, `pending ${d.pendingBytes}`);
      }
      out.push(...d.idle());
      out.forEach(checkResult);
      assert.equal(d.pendingBytes, 0);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Response PDUs

function randomRequest(f: ReturnType<typeof fuzz>): ReadRequest {
  const fc = (1 + f.int(4)) as ReadFunctionCode;
  const quantity = 1 + f.int(fc <= 2 ? 2000 : 125);
  return { fc, address: f.int(0x10000 - quantity + 1), quantity };
}

Deno.test("fuzz: the response parser accepts only PDUs consistent with the request", () => {
  const f = fuzz("response PDUs", 5000);
  within(20_000, "response PDUs", () => {
    for (let it = 0; it < f.iterations; it++) {
      const request = randomRequest(f);
      const n = request.fc <= 2 ? Math.ceil(request.quantity / 8) : 2 * request.quantity;
      const valid = concat([Uint8Array.of(request.fc, n), f.bytes(n)]);
      const kind = f.int(4);
      const pdu = kind === 0
        ? f.bytes(f.int(260))
        : kind === 1
        ? valid.subarray(0, f.int(valid.length))
        : kind === 2
        ? flip(valid, f, 1)
        : Uint8Array.of(request.fc, f.int(256), ...f.bytes(f.int(256)));
      const r = parseReadResponse(pdu, request);
      if (r.ok) {
        assert.equal(r.values.length, request.quantity);
        const max = request.fc <= 2 ? 1 : 0xffff;
        assert.ok(r.values.every((v) => Number.isInteger(v) && v >= 0 && v <= max));
        assert.equal(pdu.length, 2 + n);
      } else {
        assert.ok(MODBUS_REASONS.has(r.reason), r.reason);
        if (kind === 1) assert.equal(r.reason, "truncated");
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Register maps

const MAP_VALUES: unknown[] = [
  undefined,
  null,
  true,
  0,
  -1,
  1.5,
  247,
  248,
  65535,
  65536,
  1e308,
  "",
  " x",
  "t",
  "holding",
  "coil",
  "float64",
  "bool",
  "ABCD",
  "GHEFCDAB",
  "BA",
  "°C",
  "\u0000",
  "\ud800",
  [],
  {},
  ["holding"],
  { entries: [] },
];
const MAP_FIELDS = [
  "name",
  "slave",
  "type",
  "address",
  "datatype",
  "order",
  "scale",
  "offset",
  "unit",
  "__proto__",
  "x",
];
const DATATYPES: DataType[] = ["int16", "uint16", "int32", "uint32", "float32", "int64", "uint64", "float64"];

function validEntry(f: ReturnType<typeof fuzz>, i: number): Record<string, unknown> {
  const type = f.pick(["holding", "input", "coil", "discrete"]);
  const e: Record<string, unknown> = { name: `s${i}`, slave: f.int(248), type, address: f.int(65530) };
  if (type === "holding" || type === "input") {
    e.datatype = f.pick(DATATYPES);
    if (f.int(2)) e.order = f.pick(["ABCD", "CDAB", "BADC", "DCBA"]);
    if (f.int(2)) e.scale = f.pick([0.1, 0.01, 10, -1]);
    if (f.int(2)) e.offset = f.pick([-40, 0.5, 1000]);
  }
  if (f.int(2)) e.unit = f.pick(["°C", "V", "%"]);
  return e;
}

Deno.test("fuzz: the map validator returns valid entries or throws only RegisterMapError", () => {
  const f = fuzz("register maps", 3000);
  within(20_000, "register maps", () => {
    for (let it = 0; it < f.iterations; it++) {
      const entries: unknown[] = Array.from({ length: 1 + f.int(6) }, (_, i) => validEntry(f, i));
      const mutations = f.int(4);
      for (let m = 0; m < mutations; m++) {
        const at = f.int(entries.length);
        // Copies: a shared value mutated here would grow from one iteration to the next.
        if (f.int(6) === 0) entries[at] = structuredClone(f.pick(MAP_VALUES));
        else if (typeof entries[at] === "object" && entries[at] !== null) {
          // An own property, as JSON.parse makes even for "__proto__".
          Object.defineProperty(entries[at], f.pick(MAP_FIELDS), {
            value: structuredClone(f.pick(MAP_VALUES)),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
      }
      const map: unknown = f.int(5) === 0 ? structuredClone(f.pick(MAP_VALUES)) : f.int(2) ? entries : { entries };
      try {
        const result = validateRegisterMap(map);
        assert.ok(mutations > 0 || result.length === entries.length);
        for (const e of result) {
          assert.ok(e.slave >= 0 && e.slave <= 247 && e.address >= 0 && e.address <= 65535);
          assert.ok(Number.isFinite(e.scale) && e.scale !== 0 && Number.isFinite(e.offset));
        }
      } catch (e) {
        assert.ok(e instanceof RegisterMapError, String(e));
        assert.ok(e.problems.length > 0 && e.problems.length <= 51);
        for (const p of e.problems) assert.match(p.message, /^(entries\[\d+\](\.\w+|\[".*"\])?|map): /);
      }
      if (mutations === 0 && map === entries) assert.equal(validateRegisterMap(map).length, entries.length);
    }
  });
});

Deno.test("fuzz: the map file reader throws only RegisterMapError on cut and corrupted JSON", () => {
  const f = fuzz("register map files", 3000);
  within(20_000, "register map files", () => {
    for (let it = 0; it < f.iterations; it++) {
      const text = JSON.stringify(Array.from({ length: 1 + f.int(4) }, (_, i) => validEntry(f, i)));
      const kind = f.int(3);
      const input = kind === 0
        ? text.slice(0, f.int(text.length))
        : kind === 1
        ? text.slice(0, f.int(text.length)) + String.fromCharCode(f.int(0x3000)) + text.slice(f.int(text.length))
        : new TextDecoder().decode(f.bytes(f.int(200)));
      try {
        parseRegisterMap(input);
      } catch (e) {
        assert.ok(e instanceof RegisterMapError, String(e));
      }
    }
  });
});

Deno.test("fuzz: every planned request is within the spec's limits, covers its entries and decodes any values", () => {
  const f = fuzz("planning", 500);
  within(20_000, "planning", () => {
    for (let it = 0; it < f.iterations; it++) {
      const spread = f.pick([10, 300, 5000, 65530]);
      const raw = Array.from({ length: 1 + f.int(200) }, (_, i) => ({ ...validEntry(f, i), address: f.int(spread) }));
      const entries = validateRegisterMap(raw);
      const options = { maxGap: f.int(20), maxRegisters: 4 + f.int(122), maxBits: 1 + f.int(2000) };
      const plan = planRequests(entries, options);
      let covered = 0;
      for (const r of plan) {
        assert.ok(r.quantity >= 1 && r.quantity <= (r.fc <= 2 ? options.maxBits : options.maxRegisters));
        assert.ok(r.address + r.quantity <= 0x10000);
        covered += r.entries.length;
        const values = Array.from({ length: r.quantity }, () => (r.fc <= 2 ? f.int(2) : f.int(0x10000)));
        const { readings, rejected } = decodeReadings(r, values);
        assert.equal(readings.length + rejected.length, r.entries.length);
        for (const x of readings) assert.ok(Number.isFinite(x.value) && Math.abs(x.value) <= Number.MAX_SAFE_INTEGER);
      }
      assert.equal(covered, entries.length);
    }
  });
});

Deno.test("fuzz: encoded values decode back through a planned request", () => {
  const f = fuzz("value round trip", 2000);
  for (let it = 0; it < f.iterations; it++) {
    const datatype = f.pick(DATATYPES);
    const order = f.pick(["ABCD", "CDAB", "BADC", "DCBA"]);
    const value = datatype.startsWith("float")
      ? (datatype === "float32" ? Math.fround((f.random() - 0.5) * 1e6) : (f.random() - 0.5) * 1e12)
      : datatype.startsWith("u")
      ? f.int(datatype === "uint16" ? 0x10000 : 2 ** 32)
      : f.int(datatype === "int16" ? 0x10000 : 2 ** 32) - (datatype === "int16" ? 0x8000 : 2 ** 31);
    const [request] = planRequests(
      validateRegisterMap([{ name: "v", slave: 1, type: "holding", address: 7, datatype, order }]),
    );
    const words = encodeRegisters(value, datatype, order);
    assert.equal(decodeReadings(request, words).readings[0].value, value, `${datatype} ${order} ${value}`);
  }
});
