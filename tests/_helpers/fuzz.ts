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
