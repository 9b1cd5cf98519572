/**
 * The clock of a running logger: the {@link ClockGuard} built from the settings and what the
 * database holds, the re-stamp of a segment's readings once the wall clock is trusted again, and
 * the hold that keeps forwarders from sending provisional readings before they are re-stamped.
 *
 * @module
 */

import { BUILD_TIME_MS } from "./build_time.ts";
import { ClockGuard, type ClockReport, type ClockSegment, type ClockSettings } from "./clock.ts";
import { bootClock, syncSourceOf } from "./clock_sync.ts";
import { logger } from "./log.ts";
import type { Pipeline } from "./pipeline.ts";
import type { EarlierSegment, Store } from "./store/mod.ts";

/** How often the clocks are compared and the sync state asked, ms. */
const CHECK_EVERY_MS = 1000;
/** How long the start waits for the sync source's first answer, ms. */
const FIRST_SYNC_ANSWER_MS = 2000;

/** The clock of one logger run; see the module doc. */
export class Timekeeping {
  readonly guard: ClockGuard;
  #store: () => Store;
  #pipeline: Pipeline | undefined;
  #holdMaxMs: number;
  /** Closed segments whose stored readings still wait for their re-stamp. */
  readonly #pending: { id: number; correction: number }[] = [];
  /** Segments of earlier runs of this boot, still untrusted. */
  #earlier: EarlierSegment[] = [];
  /** When this run started (the hold of earlier runs' readings counts from here). */
  readonly #startedMono = performance.now();
  readonly #expired = new Set<number>();
  #restamped = 0;
  #lastErrorAt = -Infinity;

  private constructor(guard: ClockGuard, store: () => Store, holdMaxMs: number) {
    this.guard = guard;
    this.#store = store;
    this.#holdMaxMs = holdMaxMs;
  }

  /**
   * Builds the guard for a run on `store` (`store()` is the current one: damage recovery may
   * replace it): asks the sync source once, marks segments of earlier runs that were never
   * re-stamped as abandoned, and starts untrusted when the clock is.
   */
  static async start(settings: ClockSettings, store: () => Store): Promise<Timekeeping> {
    const log = logger();
    const sync = syncSourceOf(settings.clockSync);
    let synchronized: boolean | null = null;
    if (sync) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      synchronized = await Promise.race([
        sync.synchronized(),
        new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), FIRST_SYNC_ANSWER_MS)),
      ]);
      clearTimeout(timer);
    }
    let earlier: EarlierSegment[] = [];
    try {
      const { adopted, abandoned } = store().clock.adoptEarlier(bootClock()?.bootId, Date.now());
      earlier = adopted;
      if (abandoned > 0) {
        log.warn(
          "{readings} readings of an earlier boot keep provisional timestamps: it ended before the wall clock was trusted, so they cannot be re-stamped",
          { readings: abandoned },
        );
      }
    } catch (e) { // a failing disk must not keep the logger from starting; the next start looks again
      log.warn("cannot look at the provisional readings of earlier runs: {error}", { error: String(e) });
    }
    const made: { tk?: Timekeeping } = {}; // the guard calls back into what it is part of
    const guard = new ClockGuard({
      buildTimeMs: BUILD_TIME_MS,
      floorMs: store().clock.floor(),
      stepThresholdMs: settings.clockStepThresholdMs,
      sync,
      synchronized,
      firstSegmentId: store().clock.nextSegmentId(),
      onUntrusted: (segment) => {
        log.warn(
          "the wall clock is not trusted ({reason}): readings get provisional timestamps from the monotonic clock, re-stamped once it is",
          { reason: segment.reason, segment: segment.id, provisional_from: new Date(segment.wallAnchor).toISOString() },
        );
        store().clock.beginSegment({
          id: segment.id,
          kind: segment.kind,
          reason: segment.reason,
          wallAtStart: Math.round(segment.wallAtStart),
          wallAnchor: Math.round(segment.wallAnchor),
          monoAnchor: segment.monoAnchor,
          bootId: segment.boot?.bootId,
          uptimeAnchor: segment.boot?.uptimeMs,
        });
      },
      onTrusted: (segment) => made.tk!.#trusted(segment),
      onStep: (deltaMs) =>
        log.warn("the wall clock stepped {direction} by {step_ms} ms", {
          direction: deltaMs < 0 ? "back" : "forward",
          step_ms: Math.abs(deltaMs),
        }),
    });
    const tk = made.tk = new Timekeeping(guard, store, settings.clockHoldMaxMs);
    log.info("clock: {state}; sync state from {sync}", {
      state: guard.trusted ? "trusted" : "not trusted",
      sync: sync?.name ?? "none",
      step_threshold_ms: settings.clockStepThresholdMs,
      hold_max_ms: settings.clockHoldMaxMs,
    });
    tk.#earlier = earlier;
    if (earlier.length > 0) {
      log.info("{segments} untrusted stretches of an earlier run of this boot wait for a trusted clock", {
        segments: earlier.length,
      });
    }
    return tk;
  }

  /** The pipeline is there: re-stamps may run (they commit what is pending first). */
  bind(pipeline: Pipeline): void {
    this.#pipeline = pipeline;
    if (this.guard.trusted) this.#closeEarlier(Date.now());
  }

  /**
   * The clock is trusted at `wallMs`: the segments of earlier runs of this boot get their
   * correction from the boot's clock (true time minus the provisional time they would have now).
   */
  #closeEarlier(wallMs: number): void {
    if (this.#earlier.length === 0) return;
    const boot = bootClock();
    if (boot === undefined) return;
    for (const s of this.#earlier.splice(0)) {
      const correction = Math.round(wallMs - (s.wallAnchor + (boot.uptimeMs - s.uptimeAnchor)));
      this.#pending.push({ id: s.id, correction });
    }
    this.restampPending();
  }

  /** Compares the clocks every second and asks the sync source; the caller clears the timer. */
  startTimer(): ReturnType<typeof setInterval> {
    let asking = false;
    return setInterval(() => {
      this.guard.check();
      this.restampPending();
      this.#expireHolds();
      if (asking) return;
      asking = true;
      this.guard.pollSync().finally(() => asking = false);
    }, CHECK_EVERY_MS);
  }

  /** Changes the settings that change live (SIGHUP). */
  configure(settings: ClockSettings): void {
    this.guard.configure({
      stepThresholdMs: settings.clockStepThresholdMs,
      sync: syncSourceOf(settings.clockSync),
    });
    this.#holdMaxMs = settings.clockHoldMaxMs;
  }

  /** edgelog's time now (whole ms), for retention and ages. */
  readonly time = (): number => this.guard.time();

  #trusted(segment: ClockSegment): void {
    logger().info(
      "the wall clock is trusted again after {untrusted_ms} ms: readings of segment {segment} are re-stamped by {correction_ms} ms",
      {
        segment: segment.id,
        correction_ms: segment.correction,
        untrusted_ms: Math.round((segment.endedMono ?? 0) - segment.monoAnchor),
      },
    );
    this.#pending.push({ id: segment.id, correction: segment.correction! });
    this.#closeEarlier(Date.now());
    this.restampPending();
  }

  /**
   * Re-stamps the stored readings of every closed segment: first commits what the pipeline holds
   * (readings stamped before the segment closed), then one transaction per segment. A failing
   * disk leaves them for the next try.
   */
  restampPending(): void {
    const pipeline = this.#pipeline;
    if (this.#pending.length === 0 || pipeline === undefined) return;
    if (!pipeline.flush()) return;
    while (this.#pending.length > 0) {
      const segment = this.#pending[0];
      try {
        const n = this.#store().clock.restamp(segment.id, segment.correction, this.guard.time());
        this.#restamped += n;
        logger().info("re-stamped {readings} readings of segment {segment} by {correction_ms} ms", {
          readings: n,
          segment: segment.id,
          correction_ms: segment.correction,
        });
      } catch (e) {
        if (performance.now() - this.#lastErrorAt > 10_000) {
          this.#lastErrorAt = performance.now();
          logger().warn("re-stamping segment {segment} failed, will retry: {error}", {
            segment: segment.id,
            error: String(e),
          });
        }
        return;
      }
      this.#pending.shift();
    }
  }

  /**
   * The first reading id forwarders must not send yet: the oldest provisional reading still to
   * be re-stamped, unless its segment was held for `clockHoldMaxMs` already.
   */
  readonly holdFrom = (): number | undefined => {
    if (this.#holdMaxMs === 0) return undefined; // --clock-hold-max 0: never hold
    let from: number | undefined;
    const clock = this.#store().clock;
    for (const segment of this.#holdable()) {
      if (this.#expired.has(segment.id)) continue;
      const first = clock.heldFrom(segment.id);
      if (first !== undefined && (from === undefined || first < from)) from = first;
    }
    return from;
  };

  #expireHolds(): void {
    const now = performance.now();
    const clock = this.#store().clock;
    for (const segment of this.#holdable()) {
      if (this.#expired.has(segment.id) || now - segment.monoAnchor < this.#holdMaxMs) continue;
      if (clock.heldFrom(segment.id) === undefined) continue;
      this.#expired.add(segment.id);
      logger().warn(
        "forwarders held the provisional readings of segment {segment} for {hold_max_ms} ms; sending them with their provisional timestamps",
        { segment: segment.id, hold_max_ms: this.#holdMaxMs },
      );
    }
  }

  /** The segments whose readings forwarders may hold: this run's, and earlier runs' of this boot. */
  #holdable(): { id: number; monoAnchor: number }[] {
    const earlier = [...this.#pending, ...this.#earlier].map((s) => ({ id: s.id, monoAnchor: this.#startedMono }));
    return [...this.guard.segments, ...earlier];
  }

  /** The clock's state for stats, metrics and the dashboard. */
  report(): ClockReport {
    const counters = this.#pipeline?.counters;
    return {
      ...this.guard.status(),
      provisionalTaken: counters?.provisional ?? 0,
      restamped: this.#restamped + (counters?.correctedOnArrival ?? 0),
      holding: this.holdFrom() !== undefined,
      holdsExpired: this.#expired.size,
    };
  }
}
