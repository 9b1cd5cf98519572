/**
 * The outage scenario shared by the forwarding tests against real servers: log at a high rate,
 * take the upstream down, restart edgelog during the outage (SIGTERM and/or SIGKILL), bring the
 * upstream back, and let edgelog catch up. Returns when the cursor reached the last reading.
 *
 * @module
 */

import assert from "node:assert/strict";
import { cursorOf, maxReadingId } from "../_helpers/database.ts";
import { type LoggerProcess, spawnLogger, waitFor } from "../_helpers/process.ts";

/** A restartable upstream. */
export interface Upstream {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** What the scenario needs. */
export interface Scenario {
  db: string;
  /** The `--forward` URL and the forwarder's cursor name. */
  forward: string;
  name: string;
  upstream: Upstream;
  /** How edgelog is stopped at each restart during the outage, in order. */
  restarts: readonly ("SIGTERM" | "SIGKILL")[];
  /** Readings to log before the outage and between steps. */
  step: number;
  rate: number;
  /** More flags for edgelog (e.g. `--compact-after 1s`). */
  extraArgs?: string[];
  /** Called at the end of the outage, before the upstream comes back. */
  beforeUpstreamReturns?: () => void;
}

function args(s: Scenario, rate: number): string[] {
  return [
    "--db",
    s.db,
    "--sim-rate",
    String(rate),
    "--sim-sensors",
    "12",
    "--commit-interval",
    "100",
    "--forward",
    s.forward,
    ...(s.extraArgs ?? []),
  ];
}

async function loggedMore(p: LoggerProcess, db: string, n: number): Promise<void> {
  const from = maxReadingId(db);
  await waitFor(() => maxReadingId(db) >= from + n, 60_000, () => p.stderrLines.slice(-20).join("\n"));
}

/** Runs the scenario; the upstream is running when it returns, edgelog is stopped. */
export async function runOutageScenario(s: Scenario): Promise<void> {
  const running: LoggerProcess[] = [];
  const spawn = async (rate: number) => {
    const p = spawnLogger(args(s, rate));
    running.push(p);
    await p.waitUntilLogging();
    return p;
  };
  const stopLogger = async (p: LoggerProcess, signal: "SIGTERM" | "SIGKILL") => {
    p.kill(signal);
    const status = await p.exited();
    if (signal === "SIGTERM") assert.equal(status.code, 0, p.stderrLines.slice(-20).join("\n"));
  };
  try {
    let p = await spawn(s.rate);
    await waitFor(() => (cursorOf(s.db, s.name) ?? 0) >= s.step, 60_000, () => p.stderrLines.slice(-20).join("\n"));
    await s.upstream.stop(); // the outage begins
    await loggedMore(p, s.db, s.step);
    for (const signal of s.restarts) {
      await stopLogger(p, signal);
      p = await spawn(s.rate);
      await loggedMore(p, s.db, s.step);
    }
    const atOutageEnd = maxReadingId(s.db);
    s.beforeUpstreamReturns?.();
    await s.upstream.start(); // the outage ends
    await waitFor(
      () => (cursorOf(s.db, s.name) ?? 0) >= atOutageEnd,
      90_000,
      () => p.stderrLines.slice(-20).join("\n"),
    );
    await stopLogger(p, "SIGTERM");
    // Catch up with what was logged since, without logging more.
    p = await spawn(0);
    await waitFor(
      () => cursorOf(s.db, s.name) === maxReadingId(s.db),
      60_000,
      () => p.stderrLines.slice(-20).join("\n"),
    );
    await stopLogger(p, "SIGTERM");
  } finally {
    for (const p of running) {
      try {
        p.kill("SIGKILL");
      } catch { /* exited */ }
      await p.exited();
    }
  }
}

/** True when `a` and `b` are the same float after the upstream's storage rounding. */
export function sameValue(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}
