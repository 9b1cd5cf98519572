/**
 * Simulated sensors: temperature, humidity and pressure following a bounded random walk, at a
 * fixed total rate, reported at the resolution of real sensors (0.01 °C, 0.1 %RH, 0.1 hPa). Readings are generated in batches per tick (never one timer per reading), so
 * the source keeps up with hundreds of thousands of readings per second.
 *
 * @module
 */

import { ReadingBatch, SensorTable } from "../reading.ts";
import type { ColumnSink, Emit } from "../pipeline.ts";
import type { Source } from "./source.ts";

/** Options of {@link SimulatedSource}. */
export interface SimulatedOptions {
  /** Readings per second, all sensors together. */
  ratePerSecond: number;
  /** Number of sensors; kinds cycle temperature, humidity, pressure. */
  sensors: number;
  /** Tick period in ms (default 10). */
  tickMs?: number;
  /** The monotonic clock, ms: the length of a tick when the stamp clock stepped; injectable for tests. */
  now?: () => number;
  /** The clock that stamps readings and paces them, unix ms (default: `now` when given, else `Date.now`). */
  stamp?: () => number;
  /** Random source in [0, 1); injectable for tests. */
  random?: () => number;
  /**
   * Free places in the buffer. A sampler does not produce readings that cannot be taken: it
   * skips them and reports them through `onSkipped` (counted as dropped).
   */
  room?: () => number;
  /** Called with the number of readings skipped because the buffer was full. */
  onSkipped?: (n: number) => void;
  /**
   * Write readings straight into the pipeline's buffer (no object per reading); `emit` is then
   * not used. Without it, each tick's readings go to `emit` as objects.
   */
  sink?: ColumnSink;
}

interface Kind {
  name: string;
  unit: string;
  min: number;
  max: number;
  start: number;
  step: number;
  /**
   * Decimal places the sensor reports: real sensors have a resolution (a SHT3x gives 0.01 °C and
   * 0.1 %RH after conversion, a BMP280 0.1 hPa), and what is stored should look like it.
   */
  decimals: number;
}

const KINDS: readonly Kind[] = [
  { name: "temperature", unit: "°C", min: -20, max: 50, start: 21, step: 0.05, decimals: 2 },
  { name: "humidity", unit: "%", min: 0, max: 100, start: 45, step: 0.2, decimals: 1 },
  { name: "pressure", unit: "hPa", min: 950, max: 1050, start: 1013, step: 0.05, decimals: 1 },
];

/** 10^decimals of each kind, for rounding a value the way a sensor's conversion does. */
const SCALE = KINDS.map((k) => 10 ** k.decimals);

/** A stamp that moved this much more or less than the monotonic clock since the last tick stepped, ms. */
const STEP_MS = 1000;

/** At most this much backlog (in seconds of readings) is generated in one tick after a stall. */
const MAX_CATCH_UP_S = 1;

/** The default source: a set of simulated sensors. */
export class SimulatedSource implements Source {
  readonly name = "simulated";
  readonly #rate: number;
  readonly #tickMs: number;
  readonly #now: () => number;
  readonly #stamp: () => number;
  readonly #random: () => number;
  readonly #room: () => number;
  readonly #onSkipped: (n: number) => void;
  readonly #sink: ColumnSink | undefined;
  readonly #names: string[];
  readonly #kinds: Kind[];
  readonly #scales: number[];
  readonly #values: number[];
  #timer: ReturnType<typeof setInterval> | undefined;
  #emit: Emit | undefined;
  /** The sink's sensor table (or one of our own) and each sensor's index in it. */
  #table = new SensorTable();
  #sensorIndex: number[] = [];
  #generated = 0;
  #next = 0;
  /** Both clocks at the last tick. */
  #lastMono = 0;
  #lastStamp = 0;
  /** Time since the start, and since the last tick that generated readings (over which they spread), ms. */
  #elapsed = 0;
  #spread = 0;

  constructor(options: SimulatedOptions) {
    this.#rate = options.ratePerSecond;
    this.#tickMs = options.tickMs ?? 10;
    this.#now = options.now ?? (() => performance.now());
    this.#stamp = options.stamp ?? options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    const sink = options.sink;
    this.#sink = sink;
    this.#room = sink ? () => sink.buffer.room : options.room ?? (() => Infinity);
    this.#onSkipped = options.onSkipped ?? (() => {});
    this.#names = [];
    this.#kinds = [];
    this.#scales = [];
    this.#values = [];
    for (let i = 0; i < options.sensors; i++) {
      const kind = KINDS[i % KINDS.length];
      this.#names.push(`${kind.name}-${Math.floor(i / KINDS.length) + 1}`);
      this.#kinds.push(kind);
      this.#scales.push(SCALE[i % KINDS.length]);
      this.#values.push(kind.start + (this.#random() - 0.5) * 10 * kind.step);
    }
  }

  /** Starts ticking; the first readings arrive after one tick. */
  start(emit: Emit): void {
    if (this.#rate <= 0) return;
    this.#emit = emit;
    const table = this.#table = this.#sink?.buffer.sensors ?? this.#table;
    this.#sensorIndex = this.#names.map((name, i) => table.intern(name, this.#kinds[i].unit));
    this.#lastMono = this.#now();
    this.#lastStamp = this.#stamp();
    this.#elapsed = 0;
    this.#spread = 0;
    this.#generated = 0;
    this.#timer = setInterval(() => this.tick(), this.#tickMs);
  }

  /** Stops ticking; no reading is emitted after this returns. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#emit = undefined;
  }

  /** Generates the readings due since the last tick; public for deterministic tests. */
  tick(): number {
    const emit = this.#emit;
    if (!emit) return 0;
    const mono = this.#now(), stamp = this.#stamp();
    const monoSpan = mono - this.#lastMono, stampSpan = stamp - this.#lastStamp;
    // Time is counted on the stamp clock (whole ms: each sensor's readings fall on distinct ms),
    // unless it stepped: then the tick lasted what the monotonic clock says, not years or less
    // than nothing.
    const span = stampSpan >= 0 && Math.abs(stampSpan - monoSpan) < STEP_MS ? stampSpan : monoSpan;
    this.#lastMono = mono;
    this.#lastStamp = stamp;
    this.#elapsed += span;
    this.#spread += span;
    const due = Math.floor((this.#elapsed * this.#rate) / 1000);
    let n = due - this.#generated;
    const cap = Math.max(1, Math.ceil(this.#rate * MAX_CATCH_UP_S));
    if (n > cap) {
      // After a long stall, do not try to make up for all of it at once: those samples were
      // never taken, and count as dropped.
      this.#onSkipped(n - cap);
      this.#generated = due - cap;
      n = cap;
    }
    if (n <= 0) return 0;
    const spread = this.#spread; // since the last tick that generated readings
    this.#spread = 0;
    this.#generated += n;
    const room = this.#room();
    // Sample at most what the buffer can take; the first `skip` samples of this tick are lost.
    const skip = n > room ? n - Math.max(0, room) : 0;
    if (skip > 0) this.#onSkipped(skip);
    if (skip === n) return 0;
    const sink = this.#sink ?? this.#objectSink(emit, n - skip);
    const { sensor, ts, value } = sink.buffer;
    const index = this.#sensorIndex;
    const sensors = index.length;
    let at = sink.buffer.length;
    for (let i = skip; i < n; i++) {
      const s = this.#next;
      this.#next = s + 1 === sensors ? 0 : s + 1;
      const kind = this.#kinds[s];
      let v = this.#values[s] + (this.#random() - 0.5) * 2 * kind.step;
      // Drift back towards the kind's usual value so the walk stays plausible.
      v += (kind.start - v) * 0.001;
      if (v < kind.min) v = kind.min;
      else if (v > kind.max) v = kind.max;
      this.#values[s] = v;
      sensor[at] = index[s];
      // Whole ms back from the stamp of now, so that a provisional stamp keeps its fraction (`clock.ts`).
      ts[at] = stamp - Math.round((spread * (n - 1 - i)) / n);
      value[at] = Math.round(v * this.#scales[s]) / this.#scales[s]; // the walk keeps full precision
      at++;
    }
    sink.took(n - skip);
    return n - skip;
  }

  /** Without a pipeline sink: a batch of `n` places whose readings go to `emit` as objects. */
  #objectSink(emit: Emit, n: number): ColumnSink {
    const buffer = new ReadingBatch(n, this.#table);
    return {
      buffer,
      took: (count) => {
        emit(Array.from({ length: count }, (_, i) => buffer.at(i)));
      },
    };
  }
}
