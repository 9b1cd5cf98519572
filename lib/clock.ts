/**
 * Whether the wall clock can be trusted, and the timestamps edgelog gives its readings.
 *
 * The clock is untrusted while it is earlier than this build, earlier than the newest reading
 * stored, while the system's sync state (`clock_sync.ts`) has not reported synchronized, and
 * after it stepped back beyond the threshold. While untrusted, {@link ClockGuard.now} derives
 * stamps from the monotonic clock, anchored at the latest trustworthy time, and marks them
 * *provisional*: a provisional stamp carries its segment in its fraction of a millisecond
 * (`floor(ms) + (k + 1) / 1024`). Every trusted stamp, and every timestamp a client gave
 * (`checkReading` rounds them), is a whole number, so the pipeline tells provisional stamps
 * apart without a flag on each reading, whatever path the reading took. When the clock becomes
 * trusted, the segment is closed with one correction (true time minus provisional time, the
 * same for every stamp of the segment because both advance with the monotonic clock), which the
 * store applies to the readings already committed and the pipeline to those still arriving.
 *
 * Time edgelog gives never goes backward: a backward step keeps the stamps on the monotonic
 * clock from before the step until the wall clock catches up with them (see docs/RELIABILITY.md).
 *
 * @module
 */

import { bootClock, type BootTime, type ClockSyncSetting, type SyncSource } from "./clock_sync.ts";
import type { ReadingBatch } from "./reading.ts";

/** Segments a run can tell apart by the fraction of a stamp; later ones reuse the codes. */
const FRACTION_CODES = 1023;
const FRACTION_SCALE = 1024;

/** The settings of the clock (a part of the logger's configuration). */
export interface ClockSettings {
  /** A difference between wall and monotonic clock beyond this is a step, ms. */
  clockStepThresholdMs: number;
  /** Where the system's sync state comes from. */
  clockSync: ClockSyncSetting;
  /** Forwarders hold provisional readings at most this long, then send them as they are, ms. */
  clockHoldMaxMs: number;
}

/** A stretch of time during which edgelog stamped readings from the monotonic clock. */
export interface ClockSegment {
  /** Unique in the database (the store gives the first id of a run). */
  readonly id: number;
  /** Why the clock was not trusted when the segment began. */
  readonly reason: string;
  /** Stamp (unix ms) at `monoAnchor`; stamps are `wallAnchor + (mono - monoAnchor)`. */
  readonly wallAnchor: number;
  /** `performance.now()` at the start of the segment. */
  readonly monoAnchor: number;
  /** Began at the start of the run (`start`) or with a backward step while running (`step`). */
  readonly kind: "start" | "step";
  /** The wall clock when the segment began (what it said, not what edgelog used). */
  readonly wallAtStart: number;
  /**
   * The boot and its clock at `monoAnchor` (`bootClock`), so that a later run of the same boot can
   * still re-stamp the segment; undefined where the system does not tell.
   */
  readonly boot: BootTime | undefined;
  /** True time minus provisional time, set when the clock became trusted again. */
  correction: number | undefined;
  /** Monotonic time the segment ended, when it did. */
  endedMono: number | undefined;
}

/** What {@link ClockGuard.status} reports. */
export interface ClockStatus {
  trusted: boolean;
  /** Why not, when not. */
  reason: string | null;
  /** The sync-state source in use (`timesyncd`, `chrony`, `file:…`), or `none`. */
  sync: string;
  /** What the sync source said last; null without one or before it answered. */
  synchronized: boolean | null;
  /** Wall-clock steps beyond the threshold seen since the start. */
  steps: number;
  /** The last step, ms (negative: backward); 0 before any. */
  lastStepMs: number;
  /** The open segment's id, when untrusted. */
  segment: number | null;
  /** How long the clock has been untrusted, ms; 0 when trusted. */
  untrustedForMs: number;
  /** edgelog's time minus the wall clock now, ms (non-zero while untrusted). */
  offsetMs: number;
}

/** What stats, /metrics and the dashboard show of the clock. */
export interface ClockReport extends ClockStatus {
  /** Readings taken with a provisional stamp since the start. */
  provisionalTaken: number;
  /** Readings re-stamped since the start (in the database, or on arrival). */
  restamped: number;
  /** Whether forwarders are holding provisional readings now. */
  holding: boolean;
  /** Segments whose readings forwarders sent as they were, after holding them `clockHoldMaxMs`. */
  holdsExpired: number;
}

/** Options of {@link ClockGuard}. */
export interface ClockGuardOptions {
  /** The wall clock is never earlier than this (unix ms). */
  buildTimeMs: number;
  /** The newest timestamp found stored at the start (unix ms); none in a new database. */
  floorMs?: number;
  /** A difference between wall and monotonic clock larger than this is a step, ms. */
  stepThresholdMs: number;
  /** The system's sync state, when it exposes one. */
  sync?: SyncSource;
  /** What `sync` answered just before the start (null: not asked or no answer). */
  synchronized?: boolean | null;
  /** The id of this run's first segment. */
  firstSegmentId: number;
  /** Wall clock, unix ms; injectable for tests. */
  wall?: () => number;
  /** Monotonic clock, ms; injectable for tests. */
  mono?: () => number;
  /** The boot and the time since it (`bootClock` by default). */
  boot?: () => BootTime | undefined;
  /** The clock stopped being trusted: `segment` begins. */
  onUntrusted?: (segment: ClockSegment) => void;
  /** The clock is trusted again: `segment` is closed with its correction. */
  onTrusted?: (segment: ClockSegment) => void;
  /** The wall clock stepped by `deltaMs` relative to the monotonic clock. */
  onStep?: (deltaMs: number) => void;
}

/**
 * Decides whether the wall clock is trusted and stamps readings accordingly.
 *
 * @example
 * ```ts
 * const clock = new ClockGuard({ buildTimeMs: BUILD_TIME_MS, stepThresholdMs: 2000, firstSegmentId: 1 });
 * const ts = clock.now(); // a whole number while trusted
 * ClockGuard.isProvisional(ts); // false
 * ```
 */
export class ClockGuard {
  readonly #o: ClockGuardOptions;
  readonly #wall: () => number;
  readonly #mono: () => number;
  #threshold: number;
  #sync: SyncSource | undefined;
  #synced: boolean | null = null;
  /** wall − mono while trusted (follows slewing, check by check). */
  #offset: number;
  /** The newest stamp handed out, or the floor found at start. */
  #last: number;
  #segment: ClockSegment | undefined;
  #reason: string | null = null;
  /** Segments of this run by fraction code. */
  readonly #byCode = new Map<number, ClockSegment>();
  readonly segments: ClockSegment[] = [];
  #nextId: number;
  #steps = 0;
  #lastStep = 0;

  constructor(options: ClockGuardOptions) {
    this.#o = options;
    this.#wall = options.wall ?? Date.now;
    this.#mono = options.mono ?? (() => performance.now());
    this.#threshold = options.stepThresholdMs;
    this.#sync = options.sync;
    this.#nextId = options.firstSegmentId;
    this.#synced = options.synchronized ?? null;
    const wall = this.#wall(), mono = this.#mono();
    this.#offset = wall - mono;
    this.#last = options.floorMs ?? -Infinity;
    const reason = this.#startReason(wall);
    if (reason !== null) this.#begin("start", reason, wall, mono);
    else this.#last = Math.min(this.#last, wall); // vouched for (sync, or within the threshold): no plateau
  }

  /** Whether `ts` is a provisional stamp (it has a fraction of a millisecond). */
  static isProvisional(ts: number): boolean {
    return ts !== Math.floor(ts);
  }

  /** Changes the settings that may change live (SIGHUP). */
  configure(settings: { stepThresholdMs: number; sync: SyncSource | undefined }): void {
    this.#threshold = settings.stepThresholdMs;
    if (settings.sync?.name !== this.#sync?.name) {
      this.#sync = settings.sync;
      this.#synced = null;
    }
  }

  /** The timestamp of a reading taken now (unix ms; provisional ones have a fraction). */
  readonly now = (): number => {
    const wall = this.#wall(), mono = this.#mono();
    if (this.#segment === undefined) this.#watch(wall, mono);
    const seg = this.#segment;
    if (seg === undefined) {
      const t = wall > this.#last ? wall : this.#last;
      this.#last = t;
      return t;
    }
    let t = Math.floor(seg.wallAnchor + (mono - seg.monoAnchor));
    if (t < this.#last) t = Math.floor(this.#last);
    this.#last = t;
    return t + ((seg.id % FRACTION_CODES) + 1) / FRACTION_SCALE;
  };

  /** edgelog's time now, a whole number of ms, without handing out a stamp (retention, lag). */
  time(): number {
    const seg = this.#segment;
    if (seg === undefined) return Math.max(this.#wall(), Math.floor(this.#last));
    return Math.max(Math.floor(seg.wallAnchor + (this.#mono() - seg.monoAnchor)), Math.floor(this.#last));
  }

  /** The segment a provisional stamp belongs to (undefined for whole numbers or unknown codes). */
  segmentOf(ts: number): ClockSegment | undefined {
    const fraction = ts - Math.floor(ts);
    if (fraction === 0) return undefined;
    return this.#byCode.get(Math.round(fraction * FRACTION_SCALE) - 1);
  }

  /** Whether the clock is trusted now. */
  get trusted(): boolean {
    return this.#segment === undefined;
  }

  /** Whether any provisional stamp was handed out in this run. */
  get everProvisional(): boolean {
    return this.segments.length > 0;
  }

  /** Asks the sync source once (it may run a command); {@link check} uses the answer. */
  async pollSync(): Promise<void> {
    const sync = this.#sync;
    if (sync === undefined) return;
    const synced = await sync.synchronized();
    if (sync === this.#sync) this.#synced = synced;
  }

  /**
   * Looks at the clocks: a step while trusted, or whether an untrusted clock may be trusted again
   * (then the segment closes with its correction). Called on a timer and by {@link now}.
   */
  check(): void {
    const wall = this.#wall(), mono = this.#mono();
    const seg = this.#segment;
    if (seg === undefined) {
      this.#watch(wall, mono);
      return;
    }
    const reason = this.#stillUntrusted(seg, wall, mono);
    if (reason !== null) {
      this.#reason = reason;
      return;
    }
    const provisional = seg.wallAnchor + (mono - seg.monoAnchor);
    // Both advance with the monotonic clock, so one correction fits every stamp of the segment.
    // After a backward step a negative one (the wall caught up within the threshold) is not
    // applied: stamps never move back past the ones already given. At the start, a synchronized
    // clock is right even when it is behind what was stored.
    const correction = Math.round(wall - provisional);
    seg.correction = seg.kind === "step" ? Math.max(0, correction) : correction;
    if (seg.correction < 0) this.#last = wall;
    seg.endedMono = mono;
    this.#segment = undefined;
    this.#reason = null;
    this.#offset = wall - mono;
    this.#o.onTrusted?.(seg);
  }

  /** The state for stats, metrics and the dashboard. */
  status(): ClockStatus {
    const seg = this.#segment;
    const mono = this.#mono();
    return {
      trusted: seg === undefined,
      reason: this.#reason,
      sync: this.#sync?.name ?? "none",
      synchronized: this.#synced,
      steps: this.#steps,
      lastStepMs: this.#lastStep,
      segment: seg?.id ?? null,
      untrustedForMs: seg ? Math.round(mono - seg.monoAnchor) : 0,
      offsetMs: seg ? this.time() - this.#wall() : 0,
    };
  }

  /** Why the clock cannot be trusted at the start, or null. */
  #startReason(wall: number): string | null {
    if (wall < this.#o.buildTimeMs) {
      return `the wall clock (${iso(wall)}) is earlier than this build (${iso(this.#o.buildTimeMs)})`;
    }
    // The system's own sync state outranks the newest reading stored: that one may have been
    // stamped by a clock that was ahead, or be a client's.
    if (this.#sync !== undefined) {
      return this.#synced === true ? null : `${this.#sync.name} has not reported the clock synchronized yet`;
    }
    if (wall < this.#last - this.#threshold) {
      return `the wall clock (${iso(wall)}) is earlier than the newest reading stored (${iso(this.#last)})`;
    }
    return null;
  }

  /** Why an untrusted clock stays untrusted, or null. */
  #stillUntrusted(seg: ClockSegment, wall: number, mono: number): string | null {
    if (wall < this.#o.buildTimeMs) {
      return `the wall clock (${iso(wall)}) is earlier than this build (${iso(this.#o.buildTimeMs)})`;
    }
    if (this.#sync !== undefined && this.#synced !== true) {
      return `${this.#sync.name} has not reported the clock synchronized yet`;
    }
    if (seg.kind === "start" && this.#sync !== undefined) return null; // synchronized: as at the start
    const provisional = seg.wallAnchor + (mono - seg.monoAnchor);
    if (wall < provisional - this.#threshold) {
      return `the wall clock (${iso(wall)}) is ${Math.round(provisional - wall)} ms behind the time edgelog keeps (${
        iso(provisional)
      })`;
    }
    return null;
  }

  /** While trusted: follows the wall−monotonic offset and reacts to a step. */
  #watch(wall: number, mono: number): void {
    const offset = wall - mono;
    const delta = offset - this.#offset;
    if (Math.abs(delta) <= this.#threshold) {
      this.#offset = offset; // slewing moves it slowly; follow it
      return;
    }
    this.#steps++;
    this.#lastStep = Math.round(delta);
    this.#o.onStep?.(this.#lastStep);
    if (delta < 0) {
      // Backward: keep the monotonic time from before the step until the wall catches up.
      const reason = `the wall clock stepped back by ${-Math.round(delta)} ms`;
      this.#begin("step", reason, Math.max(this.#offset + mono, this.#last), mono);
      this.#offset = offset;
      return;
    }
    this.#offset = offset;
  }

  #begin(kind: "start" | "step", reason: string, wall: number, mono: number): void {
    const floor = Number.isFinite(this.#last) ? Math.floor(this.#last) + 1 : -Infinity;
    const anchor = Math.max(wall, floor, this.#o.buildTimeMs);
    const seg: ClockSegment = {
      id: this.#nextId++,
      kind,
      reason,
      wallAnchor: anchor,
      monoAnchor: mono,
      wallAtStart: this.#wall(),
      boot: (this.#o.boot ?? bootClock)(),
      correction: undefined,
      endedMono: undefined,
    };
    this.#segment = seg;
    this.#reason = reason;
    this.segments.push(seg);
    this.#byCode.set(seg.id % FRACTION_CODES, seg);
    this.#o.onUntrusted?.(seg);
  }
}

/**
 * Gives the provisional stamps of `batch[from..to)` their whole ms and their segment (the
 * batch's `segment` column); a stamp of a segment already closed gets its correction now.
 * Whole-ms timestamps (trusted stamps, clients' own) are left as they are. Counts into `counters`.
 */
export function resolveStamps(
  clock: Pick<ClockGuard, "segmentOf">,
  batch: ReadingBatch,
  from: number,
  to: number,
  counters: { provisional: number; correctedOnArrival: number },
): void {
  batch.everProvisional = true;
  const { ts, segment } = batch;
  for (let i = from; i < to; i++) {
    const t = ts[i];
    const whole = Math.floor(t);
    if (t === whole) {
      segment[i] = 0;
      continue;
    }
    const seg = clock.segmentOf(t);
    if (seg === undefined) {
      ts[i] = whole;
      segment[i] = 0;
    } else if (seg.correction === undefined) {
      ts[i] = whole;
      segment[i] = seg.id;
      counters.provisional++;
    } else {
      ts[i] = whole + seg.correction;
      segment[i] = -seg.id;
      counters.provisional++;
      counters.correctedOnArrival++;
    }
  }
}

/** An ISO time for messages (invalid dates as the number). */
const iso = (ms: number) => Number.isNaN(new Date(ms).getTime()) ? String(ms) : new Date(ms).toISOString();
