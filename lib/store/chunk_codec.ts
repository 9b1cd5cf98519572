/**
 * Lossless compressed chunks of one sensor's readings (`id`, `ts`, `value` per reading), stored as BLOBs once
 * readings leave the append-only table.
 *
 * Longer than 400 lines because it is one binary format: the encoder and the decoder of every column mode sit
 * side by side so that they cannot drift apart (docs/STORAGE.md describes the format and its measured sizes).
 *
 * Every column is a sequence of float64 that round-trips bit-exactly: -0, subnormals, ±Infinity, ±MAX_VALUE and NaN
 * (NaN stays NaN; its payload is kept where the engine keeps it). Each column picks its own encoding:
 *
 * - **decimal**: values are `m / 10^k` (or `m * 10^-k`, which is what `raw * 0.1` drivers produce) for integers `m`.
 *   The deltas of `m` are bit-packed in blocks of 128 with a per-block base and width ("frame of reference"), and up to
 *   eight outliers per block are patched in separately so that one big gap does not widen the whole block. Values
 *   that are off by a few ulps (`-40 + raw * 0.1`) get a small bit-packed correction; the rest are stored raw.
 * - **xor**: Gorilla XOR of consecutive float64 bit patterns, for full-precision data.
 * - **raw**: 8 bytes per value, the guaranteed worst case.
 *
 * Byte layout (little-endian):
 *
 * ```text
 * 0      u8   magic 0xEC
 * 1      u8   format version (1)
 * 2      u8   flags: bit0 ts non-decreasing, bit1 ids strictly increasing; other bits must be 0
 * 3      u32  count of readings (<= MAX_CHUNK_READINGS)
 * 7      f64  min ts    15 f64 max ts    23 f64 min id    31 f64 max id   (+Infinity/-Infinity when empty)
 * 39     column ids, column ts, column values; each: u8 mode<<4|k, u32 body length, body
 * end-4  u32  CRC-32 (IEEE) of every byte before it
 * ```
 *
 * @module
 */

/**
 * The bytes are not a chunk this codec can read: wrong magic, unsupported version, truncated, corrupt (checksum or
 * structure) or inconsistent.
 *
 * @example
 * ```ts
 * try {
 *   decodeChunk(new Uint8Array(3));
 * } catch (e) {
 *   if (e instanceof ChunkFormatError) console.warn(`skipping chunk: ${e.message}`);
 * }
 * ```
 */
export class ChunkFormatError extends Error {
  /**
   * @example
   * ```ts
   * throw new ChunkFormatError("chunk is truncated");
   * ```
   */
  constructor(message: string) {
    super(message);
    this.name = "ChunkFormatError";
  }
}

/**
 * The format version this module writes and the only one it reads.
 *
 * @example
 * ```ts
 * encodeChunk([1], [0], [0])[1] === CHUNK_FORMAT_VERSION; // true
 * ```
 */
export const CHUNK_FORMAT_VERSION = 1;

/**
 * Largest number of readings in one chunk; it caps what a decoder allocates (24 bytes per reading).
 *
 * @example
 * ```ts
 * const perChunk = Math.min(4096, MAX_CHUNK_READINGS);
 * ```
 */
export const MAX_CHUNK_READINGS = 1_048_576;

/**
 * What {@link chunkHeader} reads from the fixed-size header, without touching the compressed columns.
 *
 * @example
 * ```ts
 * const h: ChunkHeader = chunkHeader(blob);
 * if (h.maxTs < from || h.minTs > to) return; // the chunk cannot hold readings in [from, to]
 * ```
 */
export interface ChunkHeader {
  /** Format version of the chunk. */
  version: number;
  /** Number of readings. */
  count: number;
  /** Smallest timestamp (the first one when `tsSorted`); `+Infinity` for an empty chunk. NaN is ignored. */
  minTs: number;
  /** Largest timestamp (the last one when `tsSorted`); `-Infinity` for an empty chunk. NaN is ignored. */
  maxTs: number;
  /** Smallest id; `+Infinity` for an empty chunk. */
  minId: number;
  /** Largest id; `-Infinity` for an empty chunk. */
  maxId: number;
  /** Timestamps never decrease, so a time range can be found by binary search after decoding. */
  tsSorted: boolean;
  /** Ids strictly increase. */
  idsIncreasing: boolean;
}

/**
 * Decoded readings as three parallel columns; reading `i` is `(ids[i], ts[i], values[i])`.
 *
 * @example
 * ```ts
 * const { ids, ts, values, length }: DecodedChunk = decodeChunk(blob);
 * for (let i = 0; i < length; i++) console.log(ids[i], ts[i], values[i]);
 * ```
 */
export interface DecodedChunk {
  /** Reading ids, in chunk order. */
  ids: Float64Array;
  /** Timestamps (unix milliseconds), in chunk order. */
  ts: Float64Array;
  /** Values, in chunk order. */
  values: Float64Array;
  /** Number of readings (the length of each column). */
  length: number;
}

const MAGIC = 0xec;
const HEADER_BYTES = 39;
const COLUMN_PREFIX_BYTES = 5;
const CRC_BYTES = 4;
const MIN_CHUNK_BYTES = HEADER_BYTES + 3 * COLUMN_PREFIX_BYTES + CRC_BYTES;
const FLAG_TS_SORTED = 1;
const FLAG_IDS_INCREASING = 2;
const KNOWN_FLAGS = FLAG_TS_SORTED | FLAG_IDS_INCREASING;

const MODE_DECIMAL_DIV = 0;
const MODE_DECIMAL_MUL = 1;
const MODE_XOR = 2;
const MODE_RAW = 3;

const BLOCK = 128;
/** Outliers a block may exclude from its frame at each end; 2 * this must fit the u8 exception count. */
const BLOCK_OUTLIERS = 4;
/** Worst case of one block: head, count, base, 8 exceptions, 128 values of 53 bits. */
const BLOCK_WORST_BYTES = 1 + 1 + 8 + 2 * BLOCK_OUTLIERS * 9 + (BLOCK * 53) / 8;
const MAX_SCALE = 9;
/** Keeps |m| small enough that deltas (2^51), block offsets (2^52) and their zigzags (2^53) stay exact doubles. */
const MAX_MANTISSA = 2 ** 50;
/** Ulp corrections beyond this are not "a rounding slip" any more; such values are stored raw. */
const MAX_CORRECTION = 2 ** 16;
const TWO_32 = 4294967296;
const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
// Literals, so each is the correctly rounded 10^-k: the same double a driver's `raw * 0.1` uses.
const INV10 = [1, 0.1, 0.01, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9];
/** A value within this relative distance of `m / 10^k` is roughly within MAX_CORRECTION ulps of it. */
const NEAR_RELATIVE = 2 ** -37;
/** Rough sizes used only to pick k: per extra decimal digit per value, per corrected value, per raw value. */
const BITS_PER_DIGIT = 3.33;
const BITS_PER_CORRECTION = 8;
const BITS_PER_RAW = 72;
const DECIMAL_GAVE_UP = 0;
const DECIMAL_CLEAN = 1;
const DECIMAL_PATCHED = 2;

// Which Uint32 half of a float64 holds the low word; fixed per platform, found on first use.
let LO = -1;
let HI = -1;

function initWordOrder(): void {
  if (LO >= 0) return;
  const probe = new Uint32Array(new Float64Array([1]).buffer);
  LO = probe[0] === 0 ? 0 : 1;
  HI = 1 - LO;
}

function fail(message: string): never {
  throw new ChunkFormatError(message);
}

function bitLength(x: number): number {
  return x < TWO_32 ? 32 - Math.clz32(x) : 64 - Math.clz32(Math.floor(x / TWO_32));
}

function zigzag(x: number): number {
  return x < 0 ? -2 * x - 1 : 2 * x;
}

function unzigzag(z: number): number {
  return z % 2 === 1 ? -(z + 1) / 2 : z / 2;
}

function varintLength(z: number): number {
  let len = 1;
  while (z >= 128) {
    z = Math.floor(z / 128);
    len++;
  }
  return len;
}

function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x);
}

// ---------------------------------------------------------------------------------------------------------------
// Output

class ByteWriter {
  buf: Uint8Array;
  pos = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(capacity);
  }

  ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  u8(b: number): void {
    this.buf[this.pos++] = b;
  }

  u32(x: number, at = -1): void {
    const buf = this.buf;
    let p = at < 0 ? this.pos : at;
    buf[p++] = x & 255;
    buf[p++] = (x >>> 8) & 255;
    buf[p++] = (x >>> 16) & 255;
    buf[p++] = (x >>> 24) & 255;
    if (at < 0) this.pos = p;
  }

  varint(z: number): void {
    const buf = this.buf;
    let p = this.pos;
    if (z < 2147483648) {
      while (z >= 128) {
        buf[p++] = (z & 127) | 128;
        z >>>= 7;
      }
    } else {
      while (z >= 128) {
        buf[p++] = (z % 128) | 128;
        z = Math.floor(z / 128);
      }
    }
    buf[p++] = z;
    this.pos = p;
  }
}

/** LSB-first bit sink; `bits` takes at most 24 bits so the accumulator never leaves int32 range. */
class BitWriter {
  acc = 0;
  nb = 0;
  constructor(public buf: Uint8Array, public pos: number) {}

  bits(v: number, n: number): void {
    let acc = this.acc | (v << this.nb);
    let nb = this.nb + n;
    while (nb >= 8) {
      this.buf[this.pos++] = acc & 255;
      acc >>>= 8;
      nb -= 8;
    }
    this.acc = acc;
    this.nb = nb;
  }

  /** The low `n` (1..32) bits of the uint32 `v`. */
  bits32(v: number, n: number): void {
    if (n <= 24) {
      this.bits(v & ((1 << n) - 1), n);
    } else {
      this.bits(v & 0xffff, 16);
      this.bits((v >>> 16) & ((1 << (n - 16)) - 1), n - 16);
    }
  }

  /** The low `n` (1..64) bits of the 64-bit value `hi:lo`. */
  bits64(hi: number, lo: number, n: number): void {
    if (n <= 32) {
      this.bits32(lo, n);
    } else {
      this.bits32(lo, 32);
      this.bits32(hi, n - 32);
    }
  }

  flush(): void {
    if (this.nb > 0) this.buf[this.pos++] = this.acc & 255;
    this.acc = 0;
    this.nb = 0;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Input

class ByteReader {
  constructor(readonly buf: Uint8Array, public pos: number, public end: number) {}

  u8(): number {
    if (this.pos >= this.end) fail("chunk is truncated (a column ends early)");
    return this.buf[this.pos++];
  }

  u32(): number {
    if (this.pos + 4 > this.end) fail("chunk is truncated (a column ends early)");
    const b = this.buf, p = this.pos;
    this.pos = p + 4;
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
  }

  varint(): number {
    let z = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      z += (b & 127) * mul;
      if (b < 128) {
        if (z > 2 ** 53) fail("varint out of range");
        return z;
      }
      mul *= 128;
    }
    fail("varint longer than 8 bytes");
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Bit-packed integer blocks (frame of reference with patched outliers)
//
// Per block of up to 128 integers: u8 head = width (bits 0-5) | 0x80 if exceptions; [u8 exception count];
// zigzag varint base; exceptions as (u8 index, zigzag varint of value - base); then ceil(count * width / 8) bytes of
// (value - base), LSB first. Exceptions are values outside [base, base + 2^width); their packed slot is 0.

interface BlockScratch {
  lo: Float64Array;
  hi: Float64Array;
  u: Float64Array;
  exc: Int32Array;
}

function blockScratch(): BlockScratch {
  return {
    lo: new Float64Array(BLOCK_OUTLIERS + 1),
    hi: new Float64Array(BLOCK_OUTLIERS + 1),
    u: new Float64Array(BLOCK),
    exc: new Int32Array(2 * BLOCK_OUTLIERS),
  };
}

function writeBlocks(w: ByteWriter, a: Float64Array, from: number, count: number, sc: BlockScratch): void {
  const { lo, hi, u, exc } = sc;
  const last = BLOCK_OUTLIERS;
  for (let start = from; start < from + count; start += BLOCK) {
    const bn = Math.min(BLOCK, from + count - start);
    w.ensure(BLOCK_WORST_BYTES);
    // The few smallest and largest values are the only candidates for outliers; tracking them is two compares
    // per value, far cheaper than sorting the block.
    lo.fill(Infinity);
    hi.fill(-Infinity);
    for (let j = 0; j < bn; j++) {
      const x = a[start + j];
      if (x < lo[last]) {
        let p = last;
        while (p > 0 && lo[p - 1] > x) {
          lo[p] = lo[p - 1];
          p--;
        }
        lo[p] = x;
      }
      if (x > hi[last]) {
        let p = last;
        while (p > 0 && hi[p - 1] < x) {
          hi[p] = hi[p - 1];
          p--;
        }
        hi[p] = x;
      }
    }
    // Excluding i low and j high outliers: estimated size of the block, keep the cheapest.
    let bestCost = Infinity;
    let base = lo[0];
    let width = 0;
    for (let i = 0; i <= BLOCK_OUTLIERS && i < bn; i++) {
      const b = lo[i];
      let lowCost = varintLength(zigzag(b));
      for (let x = 0; x < i; x++) lowCost += 1 + varintLength(zigzag(lo[x] - b));
      for (let j = 0; j <= BLOCK_OUTLIERS && i + j < bn; j++) {
        const wd = bitLength(hi[j] - b);
        let cost = lowCost + ((bn * wd + 7) >> 3) + (i + j > 0 ? 1 : 0);
        for (let y = 0; y < j; y++) cost += 1 + varintLength(zigzag(hi[y] - b));
        if (cost < bestCost) {
          bestCost = cost;
          base = b;
          width = wd;
        }
      }
    }
    const maxU = 2 ** width - 1;
    let nexc = 0;
    for (let j = 0; j < bn; j++) {
      const x = a[start + j] - base;
      if (x < 0 || x > maxU) {
        exc[nexc++] = j;
        u[j] = 0;
      } else {
        u[j] = x;
      }
    }
    w.u8(width | (nexc > 0 ? 0x80 : 0));
    if (nexc > 0) w.u8(nexc);
    w.varint(zigzag(base));
    for (let e = 0; e < nexc; e++) {
      const j = exc[e];
      w.u8(j);
      w.varint(zigzag(a[start + j] - base));
    }
    w.pos = packBits(w.buf, w.pos, u, bn, width);
  }
}

function packBits(buf: Uint8Array, pos: number, u: Float64Array, n: number, width: number): number {
  if (width === 0) return pos;
  let acc = 0;
  let nb = 0;
  if (width <= 24) {
    for (let j = 0; j < n; j++) {
      acc |= u[j] << nb;
      nb += width;
      while (nb >= 8) {
        buf[pos++] = acc & 255;
        acc >>>= 8;
        nb -= 8;
      }
    }
  } else {
    for (let j = 0; j < n; j++) {
      let v = u[j];
      let left = width;
      while (left > 0) {
        const take = left > 24 ? 24 : left;
        const part = v % 16777216;
        v = (v - part) / 16777216;
        acc |= part << nb;
        nb += take;
        left -= take;
        while (nb >= 8) {
          buf[pos++] = acc & 255;
          acc >>>= 8;
          nb -= 8;
        }
      }
    }
  }
  if (nb > 0) buf[pos++] = acc & 255;
  return pos;
}

interface ReadScratch {
  idx: Int32Array;
  val: Float64Array;
}

function readScratch(): ReadScratch {
  return { idx: new Int32Array(BLOCK), val: new Float64Array(BLOCK) };
}

function readBlocks(r: ByteReader, out: Float64Array, from: number, count: number, sc: ReadScratch): void {
  const buf = r.buf;
  const { idx, val } = sc;
  for (let start = from; start < from + count; start += BLOCK) {
    const bn = Math.min(BLOCK, from + count - start);
    const head = r.u8();
    const width = head & 63;
    if ((head & 0x40) !== 0 || width > 53) fail(`bad block header 0x${head.toString(16)}`);
    const nexc = (head & 0x80) !== 0 ? r.u8() : 0;
    if (nexc > bn || ((head & 0x80) !== 0 && nexc === 0)) fail(`bad block exception count ${nexc}`);
    const base = unzigzag(r.varint());
    for (let e = 0; e < nexc; e++) {
      const j = r.u8();
      if (j >= bn) fail(`block exception index ${j} out of range`);
      idx[e] = j;
      val[e] = unzigzag(r.varint());
    }
    const need = Math.ceil((bn * width) / 8);
    if (r.pos + need > r.end) fail("chunk is truncated (packed block ends early)");
    let p = r.pos;
    if (width === 0) {
      for (let j = 0; j < bn; j++) out[start + j] = base;
    } else if (width <= 24) {
      const mask = (1 << width) - 1;
      let acc = 0;
      let nb = 0;
      for (let j = 0; j < bn; j++) {
        while (nb < width) {
          acc |= buf[p++] << nb;
          nb += 8;
        }
        out[start + j] = base + (acc & mask);
        acc >>>= width;
        nb -= width;
      }
    } else {
      let acc = 0;
      let nb = 0;
      for (let j = 0; j < bn; j++) {
        let v = 0;
        let mul = 1;
        let left = width;
        while (left > 0) {
          const take = left > 24 ? 24 : left;
          while (nb < take) {
            acc |= buf[p++] << nb;
            nb += 8;
          }
          v += (acc & ((1 << take) - 1)) * mul;
          acc >>>= take;
          nb -= take;
          mul *= 16777216;
          left -= take;
        }
        out[start + j] = base + v;
      }
    }
    r.pos += need;
    for (let e = 0; e < nexc; e++) out[start + idx[e]] = base + val[e];
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Columns

function writeColumn(w: ByteWriter, v: Float64Array, n: number, sc: BlockScratch): void {
  const start = w.pos;
  if (n > 0) {
    const choice = chooseDecimal(v, n);
    const outcome = choice < 0 ? DECIMAL_GAVE_UP : writeDecimal(w, v, n, choice >> 4, choice & 15, sc);
    if (outcome === DECIMAL_GAVE_UP) {
      w.pos = start;
      writeXor(w, v, n);
    } else if (outcome === DECIMAL_PATCHED) {
      // Many corrections or raw values make the size estimate shaky; measure XOR too and keep the smaller.
      const decimalEnd = w.pos;
      writeXor(w, v, n);
      if (w.pos - decimalEnd < decimalEnd - start) {
        w.buf.copyWithin(start, decimalEnd, w.pos);
        w.pos = start + (w.pos - decimalEnd);
      } else {
        w.pos = decimalEnd;
      }
    }
  }
  // Raw is the ceiling: no column ever costs more than 8 bytes a value plus its 5-byte prefix.
  if (n === 0 || w.pos - start - COLUMN_PREFIX_BYTES > 8 * n) {
    w.pos = start;
    writeRaw(w, v, n);
  }
}

/**
 * Picks the decimal scale and operator with the best estimated size, as (op << 4 | k); -1 when over a quarter of
 * the values would have to be stored raw at every scale. Per value it finds the smallest k at which `m / 10^k`
 * (op 0) or `m * 10^-k` (op 1) is the value exactly, and the smallest k at which it is within about 2^16 ulps
 * (a correction fixes it).
 */
function chooseDecimal(v: Float64Array, n: number): number {
  const stride = MAX_SCALE + 1;
  const exact = new Int32Array(2 * stride);
  const near = new Int32Array(2 * stride);
  for (let i = 0; i < n; i++) {
    const x = v[i];
    if (Number.isInteger(x) && x <= MAX_MANTISSA && x >= -MAX_MANTISSA && (x !== 0 || 1 / x > 0)) {
      exact[0]++;
      exact[stride]++;
      near[0]++;
      near[stride]++;
      continue;
    }
    if (x === 0 || x !== x) continue; // -0 and NaN are raw at every scale
    const tolerance = Math.abs(x) * NEAR_RELATIVE;
    // Bit 0/1: exact found for div/mul; bit 2/3: near found for div/mul. Once either operator is exact, a larger
    // k is never cheaper for this value, so the search stops there.
    let found = 0;
    for (let k = 0; k <= MAX_SCALE && (found & 3) === 0; k++) {
      const m = Math.round(x * POW10[k]);
      if (!(m <= MAX_MANTISSA && m >= -MAX_MANTISSA)) break; // larger k only makes m larger
      const div = m / POW10[k];
      const mul = m * INV10[k];
      if ((found & 1) === 0 && div === x) {
        exact[k]++;
        found |= 1;
      }
      if ((found & 2) === 0 && mul === x) {
        exact[stride + k]++;
        found |= 2;
      }
      if ((found & 4) === 0 && Math.abs(div - x) <= tolerance) {
        near[k]++;
        found |= 4;
      }
      if ((found & 8) === 0 && Math.abs(mul - x) <= tolerance) {
        near[stride + k]++;
        found |= 8;
      }
    }
  }
  let best = -1;
  let bestCost = Infinity;
  for (let op = 0; op < 2; op++) {
    let exactSoFar = 0;
    let nearSoFar = 0;
    for (let k = 0; k <= MAX_SCALE; k++) {
      exactSoFar += exact[op * stride + k];
      nearSoFar += near[op * stride + k];
      const far = n - nearSoFar;
      const corrected = nearSoFar - exactSoFar;
      if (far * 4 > n) continue;
      const cost = n * k * BITS_PER_DIGIT + corrected * BITS_PER_CORRECTION + (corrected > 0 ? n : 0) +
        far * BITS_PER_RAW;
      if (cost < bestCost) {
        bestCost = cost;
        best = (op << 4) | k;
      }
    }
  }
  return best;
}

/**
 * Decimal body: varint (raw exception count * 2 + has corrections); per raw exception varint (index gap * 2 +
 * is -0) then, unless -0, the 8 value bytes; zigzag varint m[0]; blocks of m deltas (n-1); blocks of ulp
 * corrections (n) when flagged. Gives up when raw values would take more than a quarter of the column.
 */
function writeDecimal(w: ByteWriter, v: Float64Array, n: number, op: number, k: number, sc: BlockScratch): number {
  initWordOrder();
  const scale = POW10[k];
  const inv = INV10[k];
  const v32 = new Uint32Array(v.buffer, v.byteOffset, 2 * n);
  const probe = new Float64Array(1);
  const p32 = new Uint32Array(probe.buffer);
  const m = new Float64Array(n);
  const corr = new Float64Array(n);
  const rawIdx: number[] = [];
  // A raw value costs about 9 bytes, a -0 about 1; past a quarter of the column in raw values XOR does better.
  const rawBudget = (9 * n) >> 2;
  let rawCost = 0;
  let corrections = 0;
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const x = v[i];
    const mm = Math.round(x * scale) + 0; // + 0 turns -0 into +0: the integer stream has no sign of zero
    if (mm <= MAX_MANTISSA && mm >= -MAX_MANTISSA && (x !== 0 || 1 / x > 0)) {
      const recon = op === 0 ? mm / scale : mm * inv;
      if (recon === x) {
        m[i] = prev = mm;
        continue;
      }
      probe[0] = recon;
      const dh = v32[2 * i + HI] - p32[HI];
      if (dh >= -1 && dh <= 1) {
        const c = dh * TWO_32 + (v32[2 * i + LO] - p32[LO]);
        if (c >= -MAX_CORRECTION && c <= MAX_CORRECTION) {
          m[i] = prev = mm;
          corr[i] = c;
          corrections++;
          continue;
        }
      }
    }
    m[i] = prev; // keeps the delta stream smooth around a raw value
    rawIdx.push(i);
    rawCost += x === 0 ? 1 : 9;
    if (rawCost > rawBudget) return DECIMAL_GAVE_UP;
  }

  const hasCorr = corrections > 0;
  w.ensure(COLUMN_PREFIX_BYTES + 16 + 13 * rawIdx.length);
  w.u8(((op === 0 ? MODE_DECIMAL_DIV : MODE_DECIMAL_MUL) << 4) | k);
  const lenAt = w.pos;
  w.pos += 4;
  w.varint(rawIdx.length * 2 + (hasCorr ? 1 : 0));
  let last = -1;
  for (const i of rawIdx) {
    const x = v[i];
    const negZero = x === 0 && 1 / x < 0;
    w.varint((i - last - 1) * 2 + (negZero ? 1 : 0));
    last = i;
    if (!negZero) {
      w.u32(v32[2 * i + LO]);
      w.u32(v32[2 * i + HI]);
    }
  }
  w.varint(zigzag(m[0]));
  // Deltas in place, back to front, so m needs no second array.
  for (let i = n - 1; i > 0; i--) m[i] -= m[i - 1];
  writeBlocks(w, m, 1, n - 1, sc);
  if (hasCorr) writeBlocks(w, corr, 0, n, sc);
  w.u32(w.pos - lenAt - 4, lenAt);
  // A few patched values cannot make XOR win; many might, so the caller then measures it.
  return (corrections + rawIdx.length) * 32 > n ? DECIMAL_PATCHED : DECIMAL_CLEAN;
}

function readDecimal(r: ByteReader, n: number, op: number, k: number, out: Float64Array): void {
  if (k > MAX_SCALE) fail(`decimal scale ${k} is out of range`);
  if (n === 0) fail("empty column must be raw");
  initWordOrder();
  const o32 = new Uint32Array(out.buffer, out.byteOffset, 2 * n);
  const head = r.varint();
  const nraw = Math.floor(head / 2);
  const hasCorr = head % 2 === 1;
  // Each exception takes at least a byte, so the column's size bounds the arrays allocated for them.
  if (nraw > n || nraw > r.end - r.pos) fail(`exception count ${nraw} does not fit the column`);
  const rawIdx = new Int32Array(nraw);
  const rawLo = new Uint32Array(nraw);
  const rawHi = new Uint32Array(nraw);
  const negZero = new Uint8Array(nraw);
  let idx = -1;
  for (let e = 0; e < nraw; e++) {
    const g = r.varint();
    idx += 1 + Math.floor(g / 2);
    if (idx >= n) fail(`exception index ${idx} out of range`);
    rawIdx[e] = idx;
    if (g % 2 === 1) {
      negZero[e] = 1;
    } else {
      rawLo[e] = r.u32();
      rawHi[e] = r.u32();
    }
  }
  const excScratch = readScratch();
  out[0] = unzigzag(r.varint());
  readBlocks(r, out, 1, n - 1, excScratch);
  for (let i = 1; i < n; i++) out[i] += out[i - 1];
  if (k > 0) {
    if (op === 0) {
      const scale = POW10[k];
      for (let i = 0; i < n; i++) out[i] = out[i] / scale;
    } else {
      const inv = INV10[k];
      for (let i = 0; i < n; i++) out[i] = out[i] * inv;
    }
  }
  if (hasCorr) {
    const corr = new Float64Array(n);
    readBlocks(r, corr, 0, n, excScratch);
    for (let i = 0; i < n; i++) {
      const c = corr[i];
      if (c === 0) continue;
      const lo = o32[2 * i + LO] + c;
      const carry = Math.floor(lo / TWO_32);
      o32[2 * i + LO] = lo - carry * TWO_32;
      o32[2 * i + HI] = o32[2 * i + HI] + carry;
    }
  }
  for (let e = 0; e < nraw; e++) {
    const i = rawIdx[e];
    if (negZero[e] === 1) {
      out[i] = -0;
    } else {
      o32[2 * i + LO] = rawLo[e];
      o32[2 * i + HI] = rawHi[e];
    }
  }
}

/**
 * Gorilla XOR body, one bit stream: first value's 64 bits; then per value '0' (same bits), '10' + the XOR's
 * meaningful bits in the previous window, or '11' + 5 bits leading zeros + 6 bits (length - 1) + meaningful bits.
 */
function writeXor(w: ByteWriter, v: Float64Array, n: number): void {
  initWordOrder();
  w.ensure(COLUMN_PREFIX_BYTES + 9 + Math.ceil(((n - 1) * 77) / 8));
  w.u8(MODE_XOR << 4);
  const lenAt = w.pos;
  w.pos += 4;
  const v32 = new Uint32Array(v.buffer, v.byteOffset, 2 * n);
  const bw = new BitWriter(w.buf, w.pos);
  let ph = v32[HI];
  let pl = v32[LO];
  bw.bits64(ph, pl, 64);
  let prevLead = -1;
  let prevTrail = 0;
  for (let i = 1; i < n; i++) {
    const h = v32[2 * i + HI];
    const l = v32[2 * i + LO];
    const xh = (h ^ ph) >>> 0;
    const xl = (l ^ pl) >>> 0;
    ph = h;
    pl = l;
    if (xh === 0 && xl === 0) {
      bw.bits(0, 1);
      continue;
    }
    let lead = xh !== 0 ? Math.clz32(xh) : 32 + Math.clz32(xl);
    if (lead > 31) lead = 31;
    const trail = xl !== 0 ? ctz32(xl) : 32 + ctz32(xh);
    // Reusing the previous window costs its extra width; a new window costs 11 header bits.
    let t: number;
    let len: number;
    if (prevLead >= 0 && lead >= prevLead && trail >= prevTrail && lead - prevLead + trail - prevTrail <= 11) {
      bw.bits(1, 2);
      t = prevTrail;
      len = 64 - prevLead - prevTrail;
    } else {
      t = trail;
      len = 64 - lead - trail;
      bw.bits(3, 2);
      bw.bits(lead, 5);
      bw.bits(len - 1, 6);
      prevLead = lead;
      prevTrail = trail;
    }
    if (t === 0) bw.bits64(xh, xl, len);
    else if (t < 32) bw.bits64(xh >>> t, ((xl >>> t) | (xh << (32 - t))) >>> 0, len);
    else bw.bits64(0, xh >>> (t - 32), len);
  }
  bw.flush();
  w.pos = bw.pos;
  w.u32(w.pos - lenAt - 4, lenAt);
}

function readXor(r: ByteReader, n: number, out: Float64Array): void {
  if (n === 0) fail("empty column must be raw");
  initWordOrder();
  const o32 = new Uint32Array(out.buffer, out.byteOffset, 2 * n);
  // The hot loop keeps the bit window in locals: up to 32 bits in `acc`, refilled a byte at a time.
  const buf = r.buf;
  const end = r.end;
  let p = r.pos;
  let acc = 0;
  let nb = 0;
  let h = 0;
  let l = 0;
  let prevLead = -1;
  let prevTrail = 0;
  for (let i = 0; i < n; i++) {
    let len = 64;
    let trail = 0;
    if (i > 0) {
      while (nb <= 24 && p < end) {
        acc |= buf[p++] << nb;
        nb += 8;
      }
      if (nb < 1) fail("chunk is truncated (xor column ends early)");
      const ctl = acc & 1;
      acc >>>= 1;
      nb--;
      if (ctl === 0) {
        o32[2 * i + HI] = h;
        o32[2 * i + LO] = l;
        continue;
      }
      if (nb < 1) fail("chunk is truncated (xor column ends early)");
      const fresh = acc & 1;
      acc >>>= 1;
      nb--;
      if (fresh === 0) {
        if (prevLead < 0) fail("xor column reuses a window before defining one");
        trail = prevTrail;
        len = 64 - prevLead - prevTrail;
      } else {
        if (nb < 11) fail("chunk is truncated (xor column ends early)");
        const lead = acc & 31;
        len = ((acc >>> 5) & 63) + 1;
        acc >>>= 11;
        nb -= 11;
        trail = 64 - lead - len;
        if (trail < 0) fail("xor column window exceeds 64 bits");
        prevLead = lead;
        prevTrail = trail;
      }
    }
    let mh = 0;
    let ml = 0;
    for (let got = 0; got < len;) {
      while (nb <= 24 && p < end) {
        acc |= buf[p++] << nb;
        nb += 8;
      }
      let take = len - got;
      if (take > 24) take = 24;
      if (take > nb) fail("chunk is truncated (xor column ends early)");
      const v = acc & ((1 << take) - 1);
      acc >>>= take;
      nb -= take;
      if (got >= 32) {
        mh |= v << (got - 32);
      } else {
        ml |= v << got;
        if (got + take > 32) mh |= v >>> (32 - got);
      }
      got += take;
    }
    if (i === 0) {
      h = mh;
      l = ml;
    } else if (trail === 0) {
      h ^= mh;
      l ^= ml;
    } else if (trail < 32) {
      h ^= (mh << trail) | (ml >>> (32 - trail));
      l ^= ml << trail;
    } else {
      h ^= ml << (trail - 32);
    }
    o32[2 * i + HI] = h;
    o32[2 * i + LO] = l;
  }
  // Whole bytes left in the window were never needed: the writer pads only the last byte.
  if (nb >= 8) fail("xor column has unexpected trailing bytes");
  r.pos = p;
}

function writeRaw(w: ByteWriter, v: Float64Array, n: number): void {
  initWordOrder();
  w.ensure(COLUMN_PREFIX_BYTES + 8 * n);
  w.u8(MODE_RAW << 4);
  w.u32(8 * n);
  if (n === 0) return;
  const v32 = new Uint32Array(v.buffer, v.byteOffset, 2 * n);
  for (let i = 0; i < n; i++) {
    w.u32(v32[2 * i + LO]);
    w.u32(v32[2 * i + HI]);
  }
}

function readRaw(r: ByteReader, n: number, out: Float64Array): void {
  if (r.end - r.pos !== 8 * n) fail(`raw column holds ${r.end - r.pos} bytes, expected ${8 * n}`);
  initWordOrder();
  const o32 = new Uint32Array(out.buffer, out.byteOffset, 2 * n);
  for (let i = 0; i < n; i++) {
    o32[2 * i + LO] = r.u32();
    o32[2 * i + HI] = r.u32();
  }
}

function readColumn(r: ByteReader, n: number, out: Float64Array, name: string): void {
  const modeByte = r.u8();
  const len = r.u32();
  if (len > r.end - r.pos) fail(`${name} column claims ${len} bytes but only ${r.end - r.pos} remain`);
  const col = new ByteReader(r.buf, r.pos, r.pos + len);
  const mode = modeByte >> 4;
  const k = modeByte & 15;
  if (mode === MODE_DECIMAL_DIV || mode === MODE_DECIMAL_MUL) readDecimal(col, n, mode, k, out);
  else if (k !== 0) fail(`${name} column has bad mode byte 0x${modeByte.toString(16)}`);
  else if (mode === MODE_XOR) readXor(col, n, out);
  else if (mode === MODE_RAW) readRaw(col, n, out);
  else fail(`${name} column has unknown mode ${mode}`);
  if (col.pos !== col.end) fail(`${name} column has ${col.end - col.pos} unexpected trailing bytes`);
  r.pos = col.end;
}

// ---------------------------------------------------------------------------------------------------------------
// Chunks

function toFloat64(a: ArrayLike<number>, n: number): Float64Array {
  if (a instanceof Float64Array) return a.subarray(0, n);
  const f = new Float64Array(n);
  for (let i = 0; i < n; i++) f[i] = a[i];
  return f;
}

/**
 * Encodes `length` readings (default: `ids.length`) into one self-checking chunk. Readings are stored in the order
 * given; every id, timestamp and value round-trips bit-exactly.
 *
 * @throws {RangeError} when `length` is not an integer in 0..{@link MAX_CHUNK_READINGS} or a column is shorter.
 * @example
 * ```ts
 * const blob = encodeChunk([101, 151, 203], [1_760_000_000_000, 1_760_000_001_002, 1_760_000_001_999], [21.5, 21.52, 21.49]);
 * decodeChunk(blob).values; // Float64Array [21.5, 21.52, 21.49]
 * ```
 */
export function encodeChunk(
  ids: ArrayLike<number>,
  ts: ArrayLike<number>,
  values: ArrayLike<number>,
  length?: number,
): Uint8Array {
  const n = length ?? ids.length;
  if (!Number.isInteger(n) || n < 0 || n > MAX_CHUNK_READINGS) {
    throw new RangeError(`chunk length must be an integer in 0..${MAX_CHUNK_READINGS}, got ${n}`);
  }
  if (ids.length < n || ts.length < n || values.length < n) {
    throw new RangeError(
      `chunk length ${n} exceeds a column (ids ${ids.length}, ts ${ts.length}, values ${values.length})`,
    );
  }
  const idCol = toFloat64(ids, n);
  const tsCol = toFloat64(ts, n);
  const valCol = toFloat64(values, n);

  let minTs = Infinity, maxTs = -Infinity, minId = Infinity, maxId = -Infinity;
  let tsSorted = true, idsIncreasing = true;
  for (let i = 0; i < n; i++) {
    const t = tsCol[i];
    const id = idCol[i];
    if (t < minTs) minTs = t;
    if (t > maxTs) maxTs = t;
    if (id < minId) minId = id;
    if (id > maxId) maxId = id;
    if (i > 0) {
      if (!(t >= tsCol[i - 1])) tsSorted = false;
      if (!(id > idCol[i - 1])) idsIncreasing = false;
    }
  }
  if (n > 0 && Number.isNaN(tsCol[0])) tsSorted = false;

  const w = new ByteWriter(MIN_CHUNK_BYTES + 2 * n + 64);
  const view = new DataView(w.buf.buffer);
  w.u8(MAGIC);
  w.u8(CHUNK_FORMAT_VERSION);
  w.u8((tsSorted ? FLAG_TS_SORTED : 0) | (idsIncreasing ? FLAG_IDS_INCREASING : 0));
  w.u32(n);
  view.setFloat64(7, minTs, true);
  view.setFloat64(15, maxTs, true);
  view.setFloat64(23, minId, true);
  view.setFloat64(31, maxId, true);
  w.pos = HEADER_BYTES;
  const sc = blockScratch();
  writeColumn(w, idCol, n, sc);
  writeColumn(w, tsCol, n, sc);
  writeColumn(w, valCol, n, sc);
  w.ensure(CRC_BYTES);
  w.u32(crc32(w.buf, 0, w.pos));
  return w.buf.slice(0, w.pos);
}

/**
 * Reads the fixed-size header: count, time range and id range, in O(1). It validates magic, version, flags and that
 * the count can fit the byte length, but not the checksum (that needs every byte; {@link decodeChunk} checks it).
 *
 * @throws {ChunkFormatError} when the header is not a valid chunk header.
 * @example
 * ```ts
 * const h = chunkHeader(blob);
 * const overlaps = h.count > 0 && h.maxTs >= from && h.minTs <= to;
 * ```
 */
export function chunkHeader(bytes: Uint8Array): ChunkHeader {
  if (!(bytes instanceof Uint8Array)) throw new TypeError("chunk must be a Uint8Array");
  const len = bytes.length;
  if (len < MIN_CHUNK_BYTES) fail(`chunk is ${len} bytes, shorter than the ${MIN_CHUNK_BYTES}-byte minimum`);
  if (bytes[0] !== MAGIC) fail(`not an edgelog chunk (first byte 0x${bytes[0].toString(16)}, expected 0xec)`);
  const version = bytes[1];
  if (version !== CHUNK_FORMAT_VERSION) {
    fail(`chunk format version ${version} is not supported (this edgelog reads version ${CHUNK_FORMAT_VERSION})`);
  }
  const flags = bytes[2];
  if ((flags & ~KNOWN_FLAGS) !== 0) fail(`chunk has unknown flags 0x${flags.toString(16)}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, len);
  const count = view.getUint32(3, true);
  if (count > MAX_CHUNK_READINGS) fail(`chunk claims ${count} readings, more than the ${MAX_CHUNK_READINGS} maximum`);
  // Cheapest possible column: 2 bytes plus 2 per block of 128; a count beyond that cannot be genuine, and checking
  // it here bounds what decodeChunk allocates by the input size.
  if (count > 0 && len < MIN_CHUNK_BYTES + 3 * (2 + 2 * Math.ceil((count - 1) / BLOCK))) {
    fail(`chunk claims ${count} readings but is only ${len} bytes`);
  }
  return {
    version,
    count,
    minTs: view.getFloat64(7, true),
    maxTs: view.getFloat64(15, true),
    minId: view.getFloat64(23, true),
    maxId: view.getFloat64(31, true),
    tsSorted: (flags & FLAG_TS_SORTED) !== 0,
    idsIncreasing: (flags & FLAG_IDS_INCREASING) !== 0,
  };
}

/**
 * Decodes a chunk made by {@link encodeChunk} after checking its CRC-32 and structure.
 *
 * @throws {ChunkFormatError} on anything but a complete, intact chunk of a supported version.
 * @example
 * ```ts
 * const { ids, ts, values, length } = decodeChunk(blob);
 * const firstAfter = ts.findIndex((t) => t >= from);
 * ```
 */
export function decodeChunk(bytes: Uint8Array): DecodedChunk {
  const h = chunkHeader(bytes);
  const end = bytes.length - CRC_BYTES;
  const stored = (bytes[end] | (bytes[end + 1] << 8) | (bytes[end + 2] << 16) | (bytes[end + 3] << 24)) >>> 0;
  if (crc32(bytes, 0, end) !== stored) fail("chunk checksum mismatch: the bytes are corrupt or truncated");
  const n = h.count;
  const ids = new Float64Array(n);
  const ts = new Float64Array(n);
  const values = new Float64Array(n);
  const r = new ByteReader(bytes, HEADER_BYTES, end);
  readColumn(r, n, ids, "ids");
  readColumn(r, n, ts, "ts");
  readColumn(r, n, values, "values");
  if (r.pos !== end) fail(`chunk has ${end - r.pos} unexpected bytes after its columns`);
  return { ids, ts, values, length: n };
}

let crcTable: Int32Array | undefined;

function crc32(bytes: Uint8Array, start: number, end: number): number {
  let table = crcTable;
  if (table === undefined) {
    table = new Int32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let j = 0; j < 8; j++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[i] = c;
    }
    crcTable = table;
  }
  let c = -1;
  for (let i = start; i < end; i++) c = table[(c ^ bytes[i]) & 255] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** A copy of `a` in an array twice its length: growing the typed columns readings are gathered in. */
export function doubled(a: Float64Array): Float64Array<ArrayBuffer> {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}
