/**
 * A reading, and readings held as columns (typed arrays) rather than one object per reading.
 *
 * At hundreds of thousands of readings per second, one object per reading is most of the work of
 * the garbage collector and most of edgelog's heap: a reading that waits for its commit survives a
 * scavenge, is promoted, and has to be found dead by a full mark-compact later. The pipeline's
 * buffer is therefore one {@link ReadingBatch}: three typed arrays of fixed capacity and a table
 * of sensor names, allocated once. Push sources still hand over `Reading` objects (they die young,
 * in the tick that made them); the simulated sensors write straight into the columns.
 *
 * @module
 */

/** One measurement. `ts` is unix milliseconds. */
export interface Reading {
  sensor: string;
  ts: number;
  value: number;
  unit?: string;
}

/** The sensor names (and units) a batch refers to by index; grows, never shrinks. */
export class SensorTable {
  readonly names: string[] = [];
  readonly units: (string | undefined)[] = [];
  readonly #index = new Map<string, number>();

  /**
   * The index of sensor `name`, added on first sight. A unit given later fills a missing one.
   *
   * @example
   * ```ts
   * const t = new SensorTable();
   * t.intern("temperature-1", "°C"); // 0
   * t.intern("temperature-1"); // 0
   * ```
   */
  intern(name: string, unit?: string): number {
    let i = this.#index.get(name);
    if (i === undefined) {
      i = this.names.length;
      this.#index.set(name, i);
      this.names.push(name);
      this.units.push(unit);
    } else if (unit !== undefined && this.units[i] === undefined) {
      this.units[i] = unit;
    }
    return i;
  }

  /** Number of sensors known. */
  get size(): number {
    return this.names.length;
  }
}

/** Up to `capacity` readings as columns; the first `length` entries are in use. */
export class ReadingBatch {
  readonly capacity: number;
  /** Index into {@link sensors} of each reading. */
  readonly sensor: Uint32Array;
  /** Unix ms of each reading. */
  readonly ts: Float64Array;
  readonly value: Float64Array;
  /**
   * The clock segment of each reading's stamp (`clock.ts`): 0 for a trusted or a client's
   * timestamp; `s > 0` for a provisional stamp of segment `s` still to be re-stamped; `-s` for one
   * the pipeline already corrected. Set by the pipeline, recorded by the store.
   */
  readonly segment: Int32Array;
  /** Set once a reading of this batch had a provisional stamp: until then `segment` is all 0. */
  everProvisional = false;
  readonly sensors: SensorTable;
  length = 0;

  constructor(capacity: number, sensors: SensorTable = new SensorTable()) {
    this.capacity = capacity;
    this.sensor = new Uint32Array(capacity);
    this.ts = new Float64Array(capacity);
    this.value = new Float64Array(capacity);
    this.segment = new Int32Array(capacity);
    this.sensors = sensors;
  }

  /**
   * A batch holding `readings` (for callers that have objects, such as tests and commands).
   *
   * @example
   * ```ts
   * const b = ReadingBatch.of([{ sensor: "t", ts: Date.now(), value: 21.5, unit: "°C" }]);
   * b.length; // 1
   * ```
   */
  static of(readings: readonly Reading[]): ReadingBatch {
    const batch = new ReadingBatch(readings.length);
    batch.push(readings, 0, readings.length);
    return batch;
  }

  /** Free places. */
  get room(): number {
    return this.capacity - this.length;
  }

  /** Appends `readings[from..to)`; throws a RangeError, taking none, if they do not fit. */
  push(readings: readonly Reading[], from: number, to: number): void {
    if (to - from > this.room) throw new RangeError(`${to - from} readings do not fit in ${this.room} free places`);
    const { sensor, ts, value, segment, sensors } = this;
    let n = this.length;
    for (let i = from; i < to; i++) {
      const r = readings[i];
      sensor[n] = sensors.intern(r.sensor, r.unit);
      ts[n] = r.ts;
      value[n] = r.value;
      segment[n] = 0;
      n++;
    }
    this.length = n;
  }

  /** Forgets the first `n` readings, moving the rest to the front (after a partial commit). */
  shift(n: number): void {
    if (n <= 0) return;
    if (n >= this.length) {
      this.length = 0;
      return;
    }
    this.sensor.copyWithin(0, n, this.length);
    this.ts.copyWithin(0, n, this.length);
    this.value.copyWithin(0, n, this.length);
    if (this.everProvisional) this.segment.copyWithin(0, n, this.length);
    this.length -= n;
  }

  /** Reading `i` as an object (for tests and diagnostics; not on the hot path). */
  at(i: number): Reading {
    const s = this.sensor[i];
    const unit = this.sensors.units[s];
    const r: Reading = { sensor: this.sensors.names[s], ts: this.ts[i], value: this.value[i] };
    if (unit !== undefined) r.unit = unit;
    return r;
  }
}
