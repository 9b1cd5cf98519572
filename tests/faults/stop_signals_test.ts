/**
 * Scenario 1: SIGTERM and SIGINT at random moments, from start-up (before the database is open)
 * to mid-commit at the writer's limit. Every trial: exit 0, zero loss, integrity ok, WAL empty.
 * Besides the logger's own counters, loss is counted against an independent source: a client
 * pushing sequence-numbered readings over HTTP, every one acknowledged with 202 (taken) must be
 * on disk after the stop.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { countReadings, sensorValues, tempDir } from "../_helpers/database.ts";
import { listensForStop, type LoggerProcess, spawnLogger, waitFor } from "../_helpers/process.ts";
import {
  assertGraceful,
  exists,
  exitedWithin,
  exitSummary,
  FaultRandom,
  faultTrials,
  killQuietly,
  medianMax,
  printFigures,
  signalAndTime,
} from "./_faults.ts";

/** The writer's limit: the simulated source offers more than one connection can commit. */
const HEAVY_RATE = "1000000";
const SIGNALS = ["SIGTERM", "SIGINT", "SIGQUIT"] as const;

/** A client pushing sequence-numbered readings (sensor `acked`) to the logger's HTTP source. */
class AckedPusher {
  /** Sequence numbers the logger acknowledged with 202: it took them, so they must be stored. */
  readonly acked: number[] = [];
  #stopped = false;
  readonly #done: Promise<void>;

  constructor(p: LoggerProcess) {
    this.#done = (async () => {
      let port: number | undefined;
      let seq = 0;
      const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
      while (!this.#stopped) {
        port ??= p.records.find((r) => typeof r.port === "number" && typeof r.hostname === "string")?.port as
          | number
          | undefined;
        if (port === undefined) {
          await pause(2);
          continue;
        }
        const batch = Array.from({ length: 50 }, () => ++seq);
        try {
          const res = await fetch(`http://127.0.0.1:${port}/api/v1/readings`, {
            method: "POST",
            body: batch.map((v) => JSON.stringify({ sensor: "acked", value: v })).join("\n"),
          });
          await res.body?.cancel();
          if (res.status === 202) this.acked.push(...batch);
          else await pause(2); // 503: the buffer is full (or the logger is stopping)
        } catch {
          await pause(5); // the listener is closed: the logger is stopping
        }
      }
    })();
  }

  /** Stops pushing (after the logger exited) and returns the acknowledged sequence numbers. */
  async stop(): Promise<number[]> {
    this.#stopped = true;
    await this.#done;
    return this.acked;
  }
}

/** How many of the acknowledged sequence numbers are not on disk. */
function missingAcked(db: string, acked: readonly number[]): number {
  if (acked.length === 0) return 0;
  const stored = new Set(sensorValues(db, "acked"));
  return acked.filter((v) => !stored.has(v)).length;
}

type Phase = "start-up" | "opening" | "under load";
const PHASES: readonly Phase[] = ["start-up", "opening", "under load"];

Deno.test("SIGTERM and SIGINT at random moments lose nothing and always exit 0 with an empty WAL", async () => {
  const trials = faultTrials(12);
  const random = new FaultRandom();
  const latencies: number[] = [];
  const codes: number[] = [];
  const perPhase = new Map<Phase, number>();
  let lost = 0;
  let acked = 0;
  let stoppedBeforeOpen = 0;
  for (let i = 0; i < trials; i++) {
    const signal = SIGNALS[(i + Math.floor(i / 6)) % SIGNALS.length]; // every signal meets every phase
    const phase = PHASES[Math.floor(i / 2) % PHASES.length];
    await using dir = await tempDir("edgelog-fault-signal-");
    const db = join(dir.path, "data", "edgelog.db");
    const p = spawnLogger([
      "--db",
      db,
      "--sim-rate",
      HEAVY_RATE,
      "--source",
      "simulated",
      "--source",
      "http",
      "--listen",
      "127.0.0.1:0",
    ]);
    const pusher = new AckedPusher(p);
    try {
      if (phase === "start-up") {
        // The handler is installed (SigCgt) but the database is usually not open yet.
        await waitFor(() => listensForStop(p.pid), 20_000);
      } else if (phase === "opening") {
        await waitFor(() => listensForStop(p.pid), 20_000);
        await new Promise((r) => setTimeout(r, random.int(0, 60)));
      } else {
        await p.waitUntilLogging();
        await new Promise((r) => setTimeout(r, random.int(0, 1500)));
      }
      if (phase === "under load") await waitFor(() => pusher.acked.length > 0, 20_000, () => "no 202 at all");
      const { status, ms } = await signalAndTime(p, p.pid, signal);
      const sent = await pusher.stop();
      const final = await assertGraceful(p, status, db);
      const missing = exists(db) ? missingAcked(db, sent) : sent.length;
      assert.equal(missing, 0, `${missing} of ${sent.length} readings acknowledged with 202 are not on disk`);
      lost += missing;
      acked += sent.length;
      if (final.taken === 0) stoppedBeforeOpen++;
      latencies.push(ms);
      codes.push(status.code);
      perPhase.set(phase, (perPhase.get(phase) ?? 0) + 1);
    } finally {
      await killQuietly(p);
      await pusher.stop();
    }
  }
  const { median, max } = medianMax(latencies);
  printFigures([{
    scenario: "1. SIGTERM/SIGINT/SIGQUIT at random moments (sim-rate 1M/s)",
    trials,
    lost: `${lost} of ${acked} acknowledged over HTTP`,
    exits: exitSummary(codes),
    stopMs: `${median} / ${max}`,
    notes: `${
      [...perPhase].map(([k, v]) => `${v} ${k}`).join(", ")
    }; ${stoppedBeforeOpen} stopped before anything was taken`,
  }], random.seed);
});

Deno.test("a signal sent right after spawn either finds the handler (exit 0) or ends a process that took nothing", async () => {
  const trials = faultTrials(12);
  let beaten = 0;
  const codes: (number | string)[] = [];
  for (let i = 0; i < trials; i++) {
    const signal = SIGNALS[i % 2]; // not SIGQUIT: before the listener its default action dumps core
    await using dir = await tempDir("edgelog-fault-signal0-");
    const db = join(dir.path, "data", "edgelog.db");
    const p = spawnLogger(["--db", db, "--sim-rate", HEAVY_RATE]);
    p.kill(signal);
    const status = await exitedWithin(p, 20_000);
    if (status.signal === signal) {
      // The signal arrived before Deno installed the listener: default action, nothing taken.
      beaten++;
      codes.push(signal);
      assert.equal(p.finalRecord(), undefined);
      assert.ok(!exists(db) || noRows(db), "nothing was written before the handler existed");
    } else {
      codes.push(status.code);
      await assertGraceful(p, status, db);
    }
  }
  printFigures([{
    scenario: "1b. signal at delay 0 after spawn",
    trials,
    lost: 0,
    exits: exitSummary(codes),
    stopMs: "-",
    notes: `the signal beat the handler in ${beaten}/${trials} trials (default action; nothing had been taken)`,
  }]);
});

function noRows(db: string): boolean {
  try {
    return countReadings(db) === 0;
  } catch {
    return true; // created but never initialised: holds no readings
  }
}
