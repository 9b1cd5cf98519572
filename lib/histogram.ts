/**
 * A histogram with fixed bucket bounds, in the shape Prometheus exposes (cumulative counts per
 * upper bound, a sum and a count). Observing is a loop over a few bounds: no allocation, cheap
 * enough to run once per commit.
 *
 * @module
 */

/** Counts of observations at or below each bound, plus their sum. */
export class Histogram {
  /** Upper bounds, ascending; `+Inf` is implied. */
  readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative); the last slot counts those above every bound. */
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  /**
   * @example
   * ```ts
   * const h = new Histogram([0.001, 0.01, 0.1]);
   * h.observe(0.004);
   * h.cumulative(); // [0, 1, 1]
   * ```
   */
  constructor(bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i] > bounds[i - 1])) throw new RangeError("histogram bounds must be ascending");
    }
    this.bounds = Object.freeze([...bounds]);
    this.#counts = new Float64Array(bounds.length + 1);
  }

  /** Records one observation. */
  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.#counts[i]++;
    this.#sum += value;
    this.#count++;
  }

  /** Sum of every observation. */
  get sum(): number {
    return this.#sum;
  }

  /** Number of observations. */
  get count(): number {
    return this.#count;
  }

  /** Cumulative counts per bound (the `le` buckets, without `+Inf`, which equals {@link count}). */
  cumulative(): number[] {
    const out: number[] = new Array(this.bounds.length);
    let total = 0;
    for (let i = 0; i < this.bounds.length; i++) out[i] = total += this.#counts[i];
    return out;
  }
}
