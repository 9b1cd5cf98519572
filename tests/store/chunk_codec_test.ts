/**
 * Tests for the chunk codec: bit-exact round trips (seeded property tests), size budgets, header, and decoder
 * robustness against random, truncated, bit-flipped and checksum-fixed corrupt input.
 *
 * The seed is printed; replay a run with `EDGELOG_CODEC_SEED=<seed> deno test --allow-env=EDGELOG_CODEC_SEED`.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  CHUNK_FORMAT_VERSION,
  ChunkFormatError,
  chunkHeader,
  decodeChunk,
  type DecodedChunk,
  encodeChunk,
  MAX_CHUNK_READINGS,
} from "../../lib/store/chunk_codec.ts";
import { prng, sensorSeries, type SeriesKind } from "./_synthetic.ts";

let seedCache: number | undefined;

/** The run's seed: `EDGELOG_CODEC_SEED` when readable, else random; printed once so any failure can be replayed. */
function runSeed(): number {
  if (seedCache !== undefined) return seedCache;
  const allowed = Deno.permissions.querySync({ name: "env", variable: "EDGELOG_CODEC_SEED" }).state === "granted";
  const fromEnv = allowed ? Deno.env.get("EDGELOG_CODEC_SEED") : undefined;
  const seed = fromEnv !== undefined && fromEnv !== "" ? Number(fromEnv) >>> 0 : Math.floor(Math.random() * 2 ** 32);
  console.log(`chunk codec seed=${seed} (replay: EDGELOG_CODEC_SEED=${seed} deno test --allow-env=EDGELOG_CODEC_SEED)`);
  seedCache = seed;
  return seed;
}

/** A PRNG per test, so one test's draws do not shift another's when tests are filtered. */
function rngFor(testName: string): () => number {
  let h = runSeed();
  for (let i = 0; i < testName.length; i++) h = Math.imul(h ^ testName.charCodeAt(i), 0x01000193) >>> 0;
  return prng(h);
}

function int(rnd: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rnd() * (hi - lo + 1));
}

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)];
}

/** Object.is is bit equality for every double except NaN, whose payload need not survive. */
function assertSameDoubles(actual: Float64Array, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      assert.fail(
        `${what}[${i}]: got ${actual[i]} (${bitsOf(actual[i])}), want ${expected[i]} (${bitsOf(expected[i])})`,
      );
    }
  }
  if (expected instanceof Float64Array) {
    const a = new Uint32Array(actual.buffer, actual.byteOffset, 2 * actual.length);
    const e = new Uint32Array(expected.buffer, expected.byteOffset, 2 * expected.length);
    for (let i = 0; i < expected.length; i++) {
      if (Number.isNaN(expected[i])) continue;
      assert.ok(a[2 * i] === e[2 * i] && a[2 * i + 1] === e[2 * i + 1], `${what}[${i}]: bits differ`);
    }
  }
}

function bitsOf(x: number): string {
  const u = new Uint32Array(new Float64Array([x]).buffer);
  return u[1].toString(16).padStart(8, "0") + u[0].toString(16).padStart(8, "0");
}

function roundTrip(ids: ArrayLike<number>, ts: ArrayLike<number>, values: ArrayLike<number>, what: string): Uint8Array {
  const bytes = encodeChunk(ids, ts, values);
  const d = decodeChunk(bytes);
  assert.equal(d.length, ids.length, `${what}: length`);
  assertSameDoubles(d.ids, ids, `${what} ids`);
  assertSameDoubles(d.ts, ts, `${what} ts`);
  assertSameDoubles(d.values, values, `${what} values`);
  return bytes;
}

function crc32(bytes: Uint8Array, end: number): number {
  let c = 0xffffffff;
  for (let i = 0; i < end; i++) {
    c ^= bytes[i];
    for (let j = 0; j < 8; j++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** Rewrites the trailing CRC so a mutation reaches the structural checks instead of the checksum. */
function fixCrc(bytes: Uint8Array): Uint8Array {
  if (bytes.length >= 4) {
    new DataView(bytes.buffer, bytes.byteOffset, bytes.length).setUint32(
      bytes.length - 4,
      crc32(bytes, bytes.length - 4),
      true,
    );
  }
  return bytes;
}

/** Decoding corrupt input may fail only with ChunkFormatError; success must look like a real chunk. */
function decodeOrReject(bytes: Uint8Array, what: string): DecodedChunk | undefined {
  let d: DecodedChunk;
  try {
    d = decodeChunk(bytes);
  } catch (e) {
    if (e instanceof ChunkFormatError) return undefined;
    throw new Error(`${what}: threw ${e instanceof Error ? e.name : typeof e} instead of ChunkFormatError: ${e}`);
  }
  assert.ok(d.length <= MAX_CHUNK_READINGS && d.length <= 22 * bytes.length, `${what}: allocated ${d.length}`);
  assert.equal(d.ids.length, d.length);
  assert.equal(d.ts.length, d.length);
  assert.equal(d.values.length, d.length);
  assert.equal(d.length, chunkHeader(bytes).count);
  return d;
}

const EXTREMES = [
  0,
  -0,
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  Number.MIN_VALUE,
  -Number.MIN_VALUE,
  2.2250738585072014e-308, // smallest normal
  2.225073858507201e-308, // largest subnormal
  1e-310,
  Infinity,
  -Infinity,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  2 ** 53,
  2 ** 50,
  2 ** 50 + 1,
  1e300,
  -1e-300,
  0.1 + 0.2,
  Number.EPSILON,
];

type Gen = (rnd: () => number, n: number) => number[];

const ID_GENS: Record<string, Gen> = {
  interleaved: (rnd, n) => {
    let id = int(rnd, 1, 1e6);
    return Array.from({ length: n }, () => (id += int(rnd, 1, 99)));
  },
  hugeGaps: (rnd, n) => {
    let id = int(rnd, 1, 1000);
    return Array.from({ length: n }, () => (id += rnd() < 0.2 ? int(rnd, 1, 2 ** 40) : int(rnd, 1, 60)));
  },
  nearMaxSafe: (rnd, n) => {
    let id = Number.MAX_SAFE_INTEGER - 100 * n - int(rnd, 0, 1000);
    return Array.from({ length: n }, () => (id += int(rnd, 1, 100)));
  },
  anyDoubles: (rnd, n) => Array.from({ length: n }, () => anyDouble(rnd)),
};

const TS_GENS: Record<string, Gen> = {
  jitteredWithTies: (rnd, n) => {
    let t = 1_760_000_000_000 + int(rnd, 0, 1e6);
    const period = pick(rnd, [0, 1, 100, 1000, 60_000]);
    return Array.from({ length: n }, () => (t += rnd() < 0.2 ? 0 : Math.max(0, period + int(rnd, -3, 3))));
  },
  tenYearGaps: (rnd, n) => {
    let t = int(rnd, 0, 1e12);
    return Array.from({ length: n }, () => (t += rnd() < 0.05 ? 315_576_000_000 : int(rnd, 0, 2000)));
  },
  decreasing: (rnd, n) => {
    let t = 1_800_000_000_000;
    return Array.from({ length: n }, () => (t -= int(rnd, -50, 1000)));
  },
  nonInteger: (rnd, n) => {
    let t = int(rnd, -1e9, 1e9);
    return Array.from({ length: n }, () => (t += pick(rnd, [0.5, 1.5, 0.25, 0.001, rnd()])));
  },
  anyDoubles: (rnd, n) => Array.from({ length: n }, () => anyDouble(rnd)),
};

const VALUE_GENS: Record<string, Gen> = {
  quantisedWalk: (rnd, n) => {
    const k = int(rnd, 0, 9);
    const s = 10 ** k;
    let x = (rnd() - 0.5) * 2000;
    return Array.from({ length: n }, () => Math.round((x += (rnd() - 0.5) * 2) * s) / s);
  },
  multipliedRaw: (rnd, n) => {
    const step = pick(rnd, [0.1, 0.01, 0.001, 0.0625, 0.5]);
    const offset = pick(rnd, [0, -40, 1013, 20]);
    let raw = int(rnd, -5000, 5000);
    return Array.from({ length: n }, () => offset + (raw += int(rnd, -3, 3)) * step);
  },
  quantisedWithOddOnes: (rnd, n) => {
    let x = 20;
    return Array.from({ length: n }, () => {
      x += (rnd() - 0.5) * 0.2;
      return rnd() < 0.03 ? pick(rnd, [...EXTREMES, rnd(), NaN]) : Math.round(x * 100) / 100;
    });
  },
  aroundZero: (rnd, n) => Array.from({ length: n }, () => Math.round((rnd() - 0.5) * 0.04 * 100) / 100),
  fullPrecision: (rnd, n) => Array.from({ length: n }, () => rnd() * 100 - 50),
  constant: (rnd, n) => {
    const c = pick(rnd, [0, -0, 1, 21.5, NaN, Infinity, Number.MIN_VALUE]);
    return Array.from({ length: n }, () => c);
  },
  anyDoubles: (rnd, n) => Array.from({ length: n }, () => anyDouble(rnd)),
};

/** Any double: extremes, random bit patterns (subnormals included), NaN, short decimals. */
function anyDouble(rnd: () => number): number {
  const r = rnd();
  if (r < 0.3) return pick(rnd, EXTREMES);
  if (r < 0.6) {
    const f = new Float64Array(1);
    const u = new Uint32Array(f.buffer);
    u[0] = Math.floor(rnd() * 2 ** 32);
    u[1] = Math.floor(rnd() * 2 ** 32);
    return f[0];
  }
  if (r < 0.62) return NaN;
  return Math.round((rnd() - 0.5) * 1e6) / 100;
}

function randomLength(rnd: () => number): number {
  return pick(rnd, [
    0,
    1,
    2,
    3,
    int(rnd, 4, 130),
    int(rnd, 4, 600),
    int(rnd, 600, 4000),
    127,
    128,
    129,
    257,
  ]);
}

Deno.test("random chunks round-trip bit-exactly in every column (seeded property test)", () => {
  const rnd = rngFor("property");
  for (let c = 0; c < 400; c++) {
    const n = randomLength(rnd);
    const [idKind, idGen] = pick(rnd, Object.entries(ID_GENS));
    const [tsKind, tsGen] = pick(rnd, Object.entries(TS_GENS));
    const [valueKind, valueGen] = pick(rnd, Object.entries(VALUE_GENS));
    const ids = idGen(rnd, n);
    const ts = tsGen(rnd, n);
    const values = valueGen(rnd, n);
    const what = `case ${c} (seed ${runSeed()}, n=${n}, ids ${idKind}, ts ${tsKind}, values ${valueKind})`;
    const bytes = roundTrip(ids, ts, values, what);
    assert.ok(bytes.length <= 58 + 24 * n + 24, `${what}: ${bytes.length} bytes exceeds the raw ceiling`);
    const h = chunkHeader(bytes);
    assert.equal(h.count, n, what);
    // === on purpose: which zero is "the minimum" of -0 and 0 does not matter to a range query.
    const finiteTs = ts.filter((t) => !Number.isNaN(t));
    const finiteIds = ids.filter((id) => !Number.isNaN(id));
    assert.ok(h.minTs === Math.min(Infinity, ...finiteTs) && h.maxTs === Math.max(-Infinity, ...finiteTs), what);
    assert.ok(h.minId === Math.min(Infinity, ...finiteIds) && h.maxId === Math.max(-Infinity, ...finiteIds), what);
    assert.equal(h.tsSorted, ts.every((t, i) => i === 0 ? !Number.isNaN(t) : t >= ts[i - 1]), what);
    assert.equal(h.idsIncreasing, ids.every((id, i) => i === 0 || id > ids[i - 1]), what);
  }
});

Deno.test("empty and single-reading chunks round-trip", () => {
  roundTrip([], [], [], "empty");
  roundTrip([7], [1_760_000_000_000], [21.37], "one");
  roundTrip([Number.MAX_SAFE_INTEGER], [-0], [-0], "one of negative zeros");
  roundTrip([1], [1.5], [NaN], "one NaN");
  assert.equal(decodeChunk(encodeChunk([], [], [])).ids.length, 0);
});

Deno.test("negative zero survives in ids, timestamps and values", () => {
  const n = 300;
  const ids = Array.from({ length: n }, (_, i) => (i % 7 === 0 ? -0 : i));
  const ts = Array.from({ length: n }, (_, i) => (i % 5 === 0 ? -0 : 0));
  const values = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? -0 : (i % 11) / 100));
  roundTrip(ids, ts, values, "negative zeros");
  roundTrip(ids, ts, new Array(n).fill(-0), "all negative zero");
});

Deno.test("extreme doubles survive: ±MAX_VALUE, MIN_VALUE, subnormals, ±Infinity", () => {
  const values = [...EXTREMES, ...EXTREMES.map((x) => -x)];
  const ids = values.map((_, i) => i + 1);
  const ts = values.map((_, i) => 1_760_000_000_000 + i);
  roundTrip(ids, ts, values, "extreme values");
  roundTrip(ids, values, ts, "extreme timestamps");
  roundTrip(values, ts, ids, "extreme ids");
});

Deno.test("NaN decodes as NaN", () => {
  const values = [1, NaN, 2, NaN, NaN, 3.25];
  const d = decodeChunk(encodeChunk([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6], values));
  assertSameDoubles(d.values, values, "NaN values");
});

Deno.test("a quantised series with one unquantised value is exact and stays compact", () => {
  const s = sensorSeries("temperature", 2000, 1000, 11);
  s.values[1234] = 21.123456789;
  const bytes = roundTrip(s.ids, s.ts, s.values, "one odd value");
  const clean = encodeChunk(s.ids, s.ts, sensorSeries("temperature", 2000, 1000, 11).values);
  assert.ok(bytes.length - clean.length <= 24, `one odd value cost ${bytes.length - clean.length} bytes`);
});

Deno.test("values made by raw * step + offset arithmetic are exact and compact", () => {
  const rnd = rngFor("arithmetic");
  for (const [step, offset] of [[0.1, 0], [0.01, 0], [0.1, -40], [0.01, 20], [0.1 * 0.1, 0]]) {
    let raw = 400;
    const values = Array.from({ length: 2000 }, () => offset + (raw += int(rnd, -2, 2)) * step);
    const s = sensorSeries("counter", 2000, 1000, 5);
    const bytes = roundTrip(s.ids, s.ts, values, `raw*${step}+${offset}`);
    assert.ok(bytes.length / 2000 < 3, `raw*${step}+${offset}: ${(bytes.length / 2000).toFixed(2)} B/reading`);
  }
});

Deno.test("ids with huge gaps and ids near 2^53 round-trip", () => {
  const ids = [1, 2, 3, 1e6, 1e6 + 50, 2 ** 40, 2 ** 50 - 1, 2 ** 50 + 3, Number.MAX_SAFE_INTEGER - 1, 2 ** 53];
  roundTrip(ids, ids.map(() => 0), ids.map(() => 1), "huge id gaps");
});

Deno.test("timestamps spanning ten years, running backwards, or with fractions round-trip", () => {
  const tenYears = 315_576_000_000;
  roundTrip([1, 2, 3, 4], [0, tenYears, 2 * tenYears, 2 * tenYears], [1, 2, 3, 4], "ten-year gaps");
  roundTrip([1, 2, 3, 4], [5000, 4000, 4000, -3000], [1, 2, 3, 4], "decreasing");
  roundTrip([1, 2, 3, 4], [1.5, 2.25, -7.125, 1e-9], [1, 2, 3, 4], "fractions");
  roundTrip([4, 3, 2, 1], [1, 1, 1, 1], [1, 2, 3, 4], "decreasing ids");
});

Deno.test("lengths around the 128-reading block size round-trip", () => {
  for (const n of [127, 128, 129, 130, 255, 256, 257, 385]) {
    const s = sensorSeries("humidity", n, 100, n);
    roundTrip(s.ids, s.ts, s.values, `n=${n}`);
  }
});

Deno.test("realistic quantised chunks take at most 5 bytes per reading including ids and header", () => {
  const kinds: SeriesKind[] = ["temperature", "humidity", "pressure"];
  for (const kind of kinds) {
    for (const period of [1000, 100]) {
      for (const n of [1000, 2000, 4000]) {
        const s = sensorSeries(kind, n, period, n + period);
        const bytes = roundTrip(s.ids, s.ts, s.values, `${kind} ${period} ms n=${n}`);
        const perReading = bytes.length / n;
        assert.ok(perReading <= 5, `${kind} ${period} ms n=${n}: ${perReading.toFixed(2)} B/reading`);
        assert.ok(perReading <= 2.5, `${kind} ${period} ms n=${n}: ${perReading.toFixed(2)} B/reading regressed`);
      }
    }
  }
});

Deno.test("incompressible data costs at most 8 bytes per value and column plus fixed overhead", () => {
  const rnd = rngFor("incompressible");
  const n = 1000;
  const cols = [0, 1, 2].map(() => Array.from({ length: n }, () => anyDouble(rnd)));
  const bytes = roundTrip(cols[0], cols[1], cols[2], "random bit patterns");
  assert.ok(bytes.length <= 58 + 24 * n, `${bytes.length} bytes`);
});

Deno.test("encoding is deterministic", () => {
  const s = sensorSeries("pressure", 1500, 1000, 3);
  assert.deepEqual(encodeChunk(s.ids, s.ts, s.values), encodeChunk(Array.from(s.ids), s.ts, Array.from(s.values)));
});

Deno.test("encodeChunk takes only the first length readings and accepts arrays and typed subarrays", () => {
  const s = sensorSeries("temperature", 500, 1000, 9);
  const d = decodeChunk(encodeChunk(s.ids, Array.from(s.ts), s.values.subarray(0, 400), 300));
  assertSameDoubles(d.ids, s.ids.subarray(0, 300), "ids");
  assertSameDoubles(d.ts, s.ts.subarray(0, 300), "ts");
  assertSameDoubles(d.values, s.values.subarray(0, 300), "values");
  const offset = encodeChunk(s.ids.subarray(100), s.ts.subarray(100), s.values.subarray(100));
  assertSameDoubles(decodeChunk(offset).values, s.values.subarray(100), "subarray input");
});

Deno.test("encodeChunk rejects a bad length with RangeError", () => {
  for (const length of [-1, 1.5, NaN, MAX_CHUNK_READINGS + 1, 4]) {
    assert.throws(() => encodeChunk([1, 2, 3], [1, 2, 3], [1, 2, 3], length), RangeError, `length ${length}`);
  }
  assert.throws(() => encodeChunk([1, 2, 3], [1, 2], [1, 2, 3]), RangeError);
});

Deno.test("a chunk inside a larger buffer decodes and reads its header", () => {
  const s = sensorSeries("humidity", 700, 1000, 4);
  const bytes = encodeChunk(s.ids, s.ts, s.values);
  const big = new Uint8Array(bytes.length + 13);
  big.set(bytes, 5);
  const view = big.subarray(5, 5 + bytes.length);
  assertSameDoubles(decodeChunk(view).values, s.values, "values at offset 5");
  assert.equal(chunkHeader(view).count, 700);
});

Deno.test("chunkHeader reports count, time range, id range and order without decoding", () => {
  const s = sensorSeries("temperature", 1000, 1000, 21);
  const h = chunkHeader(encodeChunk(s.ids, s.ts, s.values));
  assert.deepEqual(h, {
    version: CHUNK_FORMAT_VERSION,
    count: 1000,
    minTs: s.ts[0],
    maxTs: s.ts[999],
    minId: s.ids[0],
    maxId: s.ids[999],
    tsSorted: true,
    idsIncreasing: true,
  });
});

Deno.test("chunkHeader of unsorted input gives true minima and maxima and clears the order flags", () => {
  const h = chunkHeader(encodeChunk([5, 9, 9, 2], [300, 100, 200, 100], [0, 0, 0, 0]));
  assert.deepEqual([h.minTs, h.maxTs, h.minId, h.maxId], [100, 300, 2, 9]);
  assert.equal(h.tsSorted, false);
  assert.equal(h.idsIncreasing, false);
  const ties = chunkHeader(encodeChunk([1, 2, 3], [100, 100, 100], [0, 0, 0]));
  assert.equal(ties.tsSorted, true);
});

Deno.test("chunkHeader of an empty chunk has an empty time range that overlaps no query", () => {
  const h = chunkHeader(encodeChunk([], [], []));
  assert.equal(h.count, 0);
  assert.equal(h.minTs, Infinity);
  assert.equal(h.maxTs, -Infinity);
  assert.equal(h.maxTs >= 0 && h.minTs <= 1e15, false);
});

Deno.test("wrong magic, unsupported version and unknown flags are rejected with ChunkFormatError", () => {
  const good = encodeChunk([1, 2], [3, 4], [5, 6]);
  const cases: [number, number, RegExp][] = [[0, 0x00, /not an edgelog chunk/], [1, 2, /version 2/], [
    2,
    0x80,
    /flags/,
  ]];
  for (const [at, byte, message] of cases) {
    const bad = fixCrc(good.slice());
    bad[at] = byte;
    assert.throws(() => chunkHeader(bad), (e) => e instanceof ChunkFormatError && message.test(e.message));
    assert.throws(() => decodeChunk(fixCrc(bad)), ChunkFormatError);
  }
});

Deno.test("a count field larger than the bytes can hold is rejected before allocating", () => {
  const good = encodeChunk([1, 2, 3], [1, 2, 3], [1, 2, 3]);
  for (const count of [0xffffffff, MAX_CHUNK_READINGS + 1, MAX_CHUNK_READINGS, 100_000]) {
    const bad = good.slice();
    new DataView(bad.buffer).setUint32(3, count, true);
    fixCrc(bad);
    assert.throws(() => chunkHeader(bad), (e) => e instanceof ChunkFormatError && /readings/.test(e.message));
    assert.throws(() => decodeChunk(bad), ChunkFormatError);
  }
});

Deno.test("every truncation of a valid chunk is rejected with ChunkFormatError", () => {
  for (const kind of ["temperature", "noise"] as const) {
    const s = sensorSeries(kind, 150, 1000, 8);
    const bytes = encodeChunk(s.ids, s.ts, s.values);
    for (let len = 0; len < bytes.length; len++) {
      assert.throws(() => decodeChunk(bytes.subarray(0, len)), ChunkFormatError, `${kind} truncated to ${len}`);
      assert.throws(() => decodeChunk(fixCrc(bytes.slice(0, len))), ChunkFormatError, `${kind} cut+crc ${len}`);
    }
  }
});

Deno.test("every single-bit flip of a valid chunk is rejected with ChunkFormatError", () => {
  const s = sensorSeries("pressure", 200, 1000, 2);
  const bytes = encodeChunk(s.ids, s.ts, s.values);
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    const bad = bytes.slice();
    bad[bit >> 3] ^= 1 << (bit & 7);
    assert.throws(() => decodeChunk(bad), ChunkFormatError, `bit ${bit}`);
  }
});

Deno.test("random bytes either decode as a consistent chunk or throw ChunkFormatError (fuzz)", () => {
  const rnd = rngFor("random bytes");
  const started = performance.now();
  for (let c = 0; c < 20_000; c++) {
    const bytes = new Uint8Array(int(rnd, 0, 300));
    for (let i = 0; i < bytes.length; i++) bytes[i] = int(rnd, 0, 255);
    if (rnd() < 0.7 && bytes.length > 3) {
      // Past the magic, version and flags checks, so the structural checks get exercised too.
      bytes[0] = 0xec;
      bytes[1] = CHUNK_FORMAT_VERSION;
      bytes[2] &= 3;
      if (bytes.length > 6 && rnd() < 0.8) new DataView(bytes.buffer).setUint32(3, int(rnd, 0, 40), true);
      fixCrc(bytes);
    }
    decodeOrReject(bytes, `random case ${c} (seed ${runSeed()})`);
  }
  assert.ok(performance.now() - started < 20_000, "fuzzing took suspiciously long");
});

Deno.test("mutated chunks with a recomputed checksum decode consistently or throw ChunkFormatError (fuzz)", () => {
  const rnd = rngFor("mutations");
  const kinds: SeriesKind[] = ["temperature", "noise", "counter", "noisy-walk"];
  const seeds = kinds.flatMap((kind) =>
    [1, 2, 130, 300].map((n) => {
      const s = sensorSeries(kind, n, 1000, n);
      if (n > 2) s.values[1] = pick(rnd, EXTREMES);
      return encodeChunk(s.ids, s.ts, s.values);
    })
  );
  seeds.push(encodeChunk([1, 5, 2 ** 45, 7], [1.5, -0, 1e300, 4], [NaN, -0, 0.1 + 0.2, 21.37]));
  let accepted = 0;
  let rejected = 0;
  for (let c = 0; c < 20_000; c++) {
    const bad = pick(rnd, seeds).slice();
    const edits = int(rnd, 1, 4);
    for (let e = 0; e < edits; e++) {
      const at = int(rnd, 0, bad.length - 5);
      const how = rnd();
      if (how < 0.5) bad[at] ^= 1 << int(rnd, 0, 7);
      else if (how < 0.8) bad[at] = int(rnd, 0, 255);
      else bad[at] = pick(rnd, [0, 0x7f, 0x80, 0xff]);
    }
    const d = decodeOrReject(fixCrc(bad), `mutation case ${c} (seed ${runSeed()})`);
    if (d) accepted++;
    else rejected++;
  }
  assert.ok(rejected > 0 && accepted + rejected === 20_000);
});

Deno.test("arbitrary-length cuts and splices of valid chunks never escape ChunkFormatError (fuzz)", () => {
  const rnd = rngFor("splices");
  const a = sensorSeries("temperature", 400, 1000, 1);
  const b = sensorSeries("noise", 400, 100, 2);
  const x = encodeChunk(a.ids, a.ts, a.values);
  const y = encodeChunk(b.ids, b.ts, b.values);
  for (let c = 0; c < 5000; c++) {
    const cutX = int(rnd, 0, x.length);
    const fromY = int(rnd, 0, y.length);
    const spliced = new Uint8Array(cutX + (y.length - fromY));
    spliced.set(x.subarray(0, cutX));
    spliced.set(y.subarray(fromY), cutX);
    decodeOrReject(fixCrc(spliced), `splice ${cutX}/${fromY}`);
  }
});
