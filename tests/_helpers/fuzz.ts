/**
 * Generators of valid and malformed reading lines for the fuzz-style tests, from a seeded
 * random source so a failure can be replayed (`EDGELOG_FUZZ_SEED`).
 *
 * @module
 */

/** A small, fast seeded PRNG (mulberry32) returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const enc = new TextEncoder();
const SENSORS = Array.from({ length: 20 }, (_, i) => `fuzz-${i}`).concat(["température", "温度", "a b/c:d"]);
const UNITS = ["°C", "V", "%", "hPa", "rpm"];

/** Makes lines: `valid()` always passes validation, `invalid()` never does (and is never blank). */
export function lineFactory(random: () => number) {
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const now = Date.now();

  function validObject(): Record<string, unknown> {
    const o: Record<string, unknown> = { sensor: pick(SENSORS) };
    const kind = int(4);
    o.value = kind === 0 ? int(1000) : kind === 1 ? (random() - 0.5) * 200 : kind === 2 ? -int(1e6) : random() * 1e14;
    if (random() < 0.5) o.ts = now - int(30 * 86_400_000);
    if (random() < 0.5) o.unit = pick(UNITS);
    // Random key order.
    return Object.fromEntries(Object.entries(o).sort(() => random() - 0.5));
  }

  const badValues = ["NaN", "Infinity", '"12"', "null", "true", "1e999", "-1e999", "1e300", "[1]", "{}", "0x10"];
  const badSensors = ['""', '"a\\u0001b"', '"tab\\there"', `"${"s".repeat(300)}"`, "7", '" padded "', '"\\udc00"'];
  const badTs = ["0", "946684799999", String(now + 3 * 86_400_000), '"2024-01-01"', "1e999", "-5"];
  const generators: (() => Uint8Array)[] = [
    () => enc.encode("~" + Array.from({ length: 1 + int(80) }, () => String.fromCharCode(32 + int(95))).join("")),
    () => {
      const bytes = new Uint8Array(2 + int(80));
      bytes[0] = 0x7e;
      for (let i = 1; i < bytes.length; i++) {
        let b = 1 + int(255);
        if (b === 0x0a) b = 0xff;
        bytes[i] = b;
      }
      return bytes;
    },
    () => enc.encode(`{"sensor":"${pick(SENSORS)}","value":${pick(badValues)}}`),
    () => enc.encode(`{"sensor":${pick(badSensors)},"value":1}`),
    () => enc.encode(`{"sensor":"t","value":1,"ts":${pick(badTs)}}`),
    () => enc.encode(`{"sensor":"t","value":1,"${pick(["Sensor", "extra", "__proto__", "val"])}":2}`),
    () => enc.encode(pick(['{"sensor":"t"}', '{"value":1}', "{}", "[]", "null", "42", '"str"', "[{}]"])),
    () => {
      const s = JSON.stringify(validObject());
      return enc.encode(s.slice(0, 1 + int(s.length - 1)));
    },
    () => enc.encode("{" + "a".repeat(70_000 + int(10_000))),
    () => new Uint8Array([...enc.encode('{"sensor":"'), pick([0xff, 0xc0, 0xed]), 0xaf, ...enc.encode('","value":1}')]),
    () => enc.encode("[".repeat(20_000) + "]".repeat(20_000)),
    () => enc.encode(`{"sensor":"t","value":1,"unit":${pick(["5", '"\\u0007"', `"${"u".repeat(40)}"`])}}`),
  ];

  return {
    valid: (): Uint8Array => enc.encode(JSON.stringify(validObject())),
    invalid: (): Uint8Array => pick(generators)(),
    /** A line that is valid or not with probability `pValid`. */
    line(pValid: number): { bytes: Uint8Array; valid: boolean } {
      const valid = random() < pValid;
      return { bytes: valid ? this.valid() : this.invalid(), valid };
    },
    newline: (): Uint8Array => enc.encode(random() < 0.2 ? "\r\n" : "\n"),
    int,
  };
}

/** Concatenates byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    // Without --allow-env the test still runs, with a fresh seed.
    return undefined;
  }
}

/**
 * Helpers over one seeded source.
 *
 * @example
 * ```ts
 * const { int, pick }: Fuzz = fuzz("example", 100);
 * pick(["a", "b"]) + int(10);
 * ```
 */
export interface Fuzz {
  seed: number;
  iterations: number;
  random: () => number;
  /** An integer in [0, n). */
  int: (n: number) => number;
  pick: <T>(xs: readonly T[]) => T;
  bytes: (n: number) => Uint8Array;
}

/**
 * The seeded source of one fuzz test: prints the seed with the test's name so a failure can be
 * replayed.
 *
 * @example
 * ```ts
 * const { int, iterations } = fuzz("MBAP decoder", 2000);
 * ```
 */
export function fuzz(name: string, defaultIterations: number): Fuzz {
  const given = env("EDGELOG_FUZZ_SEED");
  const seed = given !== undefined && /^\d+$/.test(given) ? Number(given) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
  const n = env("EDGELOG_FUZZ_ITERATIONS");
  const iterations = n !== undefined && /^\d+$/.test(n) ? Number(n) : defaultIterations;
  console.log(`fuzz ${name}: seed ${seed} (replay with EDGELOG_FUZZ_SEED=${seed}), ${iterations} iterations`);
  const random = seededRandom(seed);
  const int = (k: number): number => Math.floor(random() * k);
  return {
    seed,
    iterations,
    random,
    int,
    pick: <T>(xs: readonly T[]): T => xs[int(xs.length)],
    bytes: (k: number): Uint8Array => Uint8Array.from({ length: k }, () => int(256)),
  };
}

/**
 * Fails when `work` takes longer than `ms`: a decoder that loops far too long shows here rather
 * than as a stuck test run.
 *
 * @example
 * ```ts
 * within(5000, "1000 random pushes", () => { for (let i = 0; i < 1000; i++) decoder.push(bytes(64)); });
 * ```
 */
export function within(ms: number, what: string, work: () => void): void {
  const start = performance.now();
  work();
  const took = performance.now() - start;
  if (took > ms) throw new Error(`${what} took ${took.toFixed(0)} ms; at most ${ms} expected`);
}

/**
 * Splits `bytes` into random chunks, as TCP reads or serial reads come.
 *
 * @example
 * ```ts
 * for (const chunk of chunks(wire, int)) decoder.push(chunk);
 * ```
 */
export function chunks(bytes: Uint8Array, int: (n: number) => number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < bytes.length) {
    const n = 1 + int(Math.min(bytes.length - i, int(4) === 0 ? 600 : 16));
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}

/**
 * Concatenates byte arrays.
 *
 * @example
 * ```ts
 * concat([Uint8Array.of(1), Uint8Array.of(2, 3)]); // 01 02 03
 * ```
 */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
