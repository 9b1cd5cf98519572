/**
 * Scenario 2: SIGKILL at random moments. The database is never corrupt, every row seen committed
 * before the kill survives, the next start recovers the WAL and appends, and what is lost is at
 * most the readings of the last commit window (measured as the gap between the kill and the
 * newest committed reading).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { countReadings, integrityCheck, spawnLogger, tempDir, waitFor } from "../_helpers.ts";
import {
  assertGraceful,
  exitedWithin,
  FaultRandom,
  faultTrials,
  killQuietly,
  medianMax,
  printFigures,
  readingsSummary,
  stderrTail,
} from "./_faults.ts";

const RATE = 20_000; // readings per second
const COMMIT_INTERVAL_MS = 250;
/** Scheduling slack on a shared 2-core machine: timer lateness, the commit itself, the kill. */
const SLACK_MS = 2_000;

Deno.test("SIGKILL at random moments never corrupts, keeps every committed row, and the next start appends", async () => {
  const trials = faultTrials(12);
  const random = new FaultRandom();
  const gaps: number[] = [];
  const lostEstimates: number[] = [];
  const recoveryStops: number[] = [];
  for (let i = 0; i < trials; i++) {
    await using dir = await tempDir("edgelog-fault-kill-");
    const db = join(dir.path, "edgelog.db");
    const args = ["--db", db, "--sim-rate", String(RATE), "--commit-interval", String(COMMIT_INTERVAL_MS)];
    const p = spawnLogger(args);
    let committedSeen = 0;
    let killAt = 0;
    try {
      await p.waitUntilLogging();
      await waitFor(() => countReadings(db) > 0, 20_000, () => stderrTail(p));
      await new Promise((r) => setTimeout(r, random.int(0, 1500)));
      committedSeen = countReadings(db); // a reader saw these committed: they must survive
      killAt = Date.now();
      p.kill("SIGKILL");
      const status = await exitedWithin(p, 20_000);
      assert.equal(status.signal, "SIGKILL");
    } finally {
      await killQuietly(p);
    }

    assert.equal(integrityCheck(db), "ok", "never a corrupt database");
    const after = readingsSummary(db);
    assert.ok(after.rows >= committedSeen, `rows seen committed survive (${after.rows} >= ${committedSeen})`);
    assert.equal(after.rows, after.maxId, "ids are contiguous: no committed row is missing in the middle");
    // The loss window: time between the newest committed reading and the kill.
    const gapMs = killAt - after.maxTs;
    const expected = Math.floor(((killAt - after.minTs) * RATE) / 1000);
    const lostEstimate = Math.max(0, expected - after.rows);
    assert.ok(
      gapMs <= COMMIT_INTERVAL_MS + SLACK_MS,
      `newest committed reading ${gapMs} ms before the kill: more than one commit window (${COMMIT_INTERVAL_MS} ms) + ${SLACK_MS} ms slack`,
    );
    assert.ok(
      after.rows >= expected - (RATE * (COMMIT_INTERVAL_MS + SLACK_MS)) / 1000,
      `rows on disk ${after.rows} vs ${expected} generated until the kill`,
    );
    gaps.push(gapMs);
    lostEstimates.push(lostEstimate);

    // The next start recovers the WAL and appends to what survived.
    const next = spawnLogger(["--db", db, "--sim-rate", "5000"]);
    try {
      await next.waitUntilLogging();
      await waitFor(() => countReadings(db) > after.rows, 20_000, () => stderrTail(next));
      const t0 = performance.now();
      next.kill("SIGTERM");
      const status = await exitedWithin(next, 20_000);
      recoveryStops.push(performance.now() - t0);
      await assertGraceful(next, status, db, after.rows);
    } finally {
      await killQuietly(next);
    }
  }
  const gap = medianMax(gaps);
  const lost = medianMax(lostEstimates);
  const stop = medianMax(recoveryStops);
  printFigures([{
    scenario: `2. SIGKILL at random moments (sim-rate ${RATE}/s, commit-interval ${COMMIT_INTERVAL_MS} ms)`,
    trials,
    lost: `median ${lost.median}, worst ${lost.max} (≈ rate × gap)`,
    exits: `SIGKILL×${trials}; recovery runs 0×${trials}`,
    stopMs: `${stop.median} / ${stop.max} (recovery runs)`,
    notes:
      `newest committed reading before the kill: median ${gap.median} ms, worst ${gap.max} ms; integrity ok, ids contiguous`,
  }], random.seed);
});
