/**
 * Seeded synthetic sensor series for the codec's tests and benchmark: realistic quantised readings interleaved among
 * many sensors, and full-precision noise.
 *
 * @module
 */

/**
 * A deterministic PRNG (mulberry32) returning floats in [0, 1).
 *
 * @example
 * ```ts
 * const rnd = prng(42);
 * rnd(); // same sequence for the same seed
 * ```
 */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Kinds of series {@link sensorSeries} makes.
 *
 * @example
 * ```ts
 * const kind: SeriesKind = "temperature";
 * ```
 */
export type SeriesKind = "temperature" | "humidity" | "pressure" | "counter" | "noise" | "noisy-walk";

/**
 * Parallel columns of one sensor's readings.
 *
 * @example
 * ```ts
 * const s: Series = sensorSeries("humidity", 1000, 1000, 7);
 * s.ids.length === s.ts.length; // true
 * ```
 */
export interface Series {
  /** Global reading ids, strictly increasing. */
  ids: Float64Array;
  /** Unix milliseconds, non-decreasing. */
  ts: Float64Array;
  /** Sensor values. */
  values: Float64Array;
}

/**
 * One sensor's readings among 50 interleaved sensors: ids advance by 1..99 per reading (the sensor's position among
 * the others varies each round), with a 0.1% chance of an outage (ids jump by up to 10^6, time by up to an hour);
 * timestamps are `periodMs` apart with ±3 ms jitter. Values: temperature random walk at 0.01 °C, humidity at
 * 0.1 %RH, pressure at 0.1 hPa (all rounded like a driver would: `Math.round(x * 10^k) / 10^k`), an integer
 * counter, uniform noise (53-bit `Math.random()`-like doubles) or a full-precision random walk around 20.
 *
 * @example
 * ```ts
 * const { ids, ts, values } = sensorSeries("temperature", 2000, 1000, 1);
 * ```
 */
export function sensorSeries(kind: SeriesKind, n: number, periodMs: number, seed: number): Series {
  const rnd = prng(seed);
  const gauss = (): number => rnd() + rnd() + rnd() + rnd() + rnd() + rnd() - 3;
  const ids = new Float64Array(n);
  const ts = new Float64Array(n);
  const values = new Float64Array(n);
  let id = 1_000_000 + Math.floor(rnd() * 50);
  let slot = Math.floor(rnd() * 50);
  let t = 1_760_000_000_000;
  let x = kind === "temperature" ? 21 : kind === "humidity" ? 45 : kind === "pressure" ? 1013 : 20;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const nextSlot = Math.floor(rnd() * 50);
    id += 50 - slot + nextSlot;
    slot = nextSlot;
    t += periodMs;
    if (rnd() < 0.001) {
      id += Math.floor(rnd() * 1_000_000);
      t += Math.floor(rnd() * 3_600_000);
    }
    ids[i] = id;
    ts[i] = t + Math.round((rnd() - 0.5) * 6);
    switch (kind) {
      case "temperature":
        x += gauss() * 0.03;
        values[i] = Math.round((x + gauss() * 0.02) * 100) / 100;
        break;
      case "humidity":
        x += gauss() * 0.1;
        values[i] = Math.round(x * 10) / 10;
        break;
      case "pressure":
        x += gauss() * 0.05;
        values[i] = Math.round(x * 10) / 10;
        break;
      case "counter":
        count += Math.floor(rnd() * 4);
        values[i] = count;
        break;
      case "noise":
        values[i] = (Math.floor(rnd() * 2 ** 21) * 2 ** 32 + Math.floor(rnd() * 2 ** 32)) / 2 ** 53; // 53 random bits
        break;
      case "noisy-walk":
        x += gauss() * 0.1;
        values[i] = x;
        break;
    }
  }
  // Equal timestamps for ±3 ms jitter need period 0, so make them explicit: sort to keep (ts, id) order.
  for (let i = 1; i < n; i++) if (ts[i] < ts[i - 1]) ts[i] = ts[i - 1];
  return { ids, ts, values };
}
