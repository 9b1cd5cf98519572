/**
 * Scenario 8: many start/stop cycles on one database, alternating SIGTERM and SIGKILL. Every
 * row seen committed is present at the end, ids stay contiguous, integrity is ok.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { countReadings, integrityCheck, tempDir, walSize } from "../_helpers/database.ts";
import { spawnLogger, waitFor } from "../_helpers/process.ts";
import {
  assertGraceful,
  envCount,
  exitedWithin,
  exitSummary,
  FaultRandom,
  killQuietly,
  medianMax,
  printFigures,
  readingsSummary,
  stderrTail,
} from "./_faults.ts";

Deno.test("start/stop cycles alternating SIGTERM and SIGKILL keep every committed row", async () => {
  const cycles = envCount("EDGELOG_FAULT_CYCLES", 30);
  const random = new FaultRandom();
  await using dir = await tempDir("edgelog-fault-cycles-");
  const db = join(dir.path, "edgelog.db");
  let floor = 0; // rows known to be committed
  const codes: (number | string)[] = [];
  const stops: number[] = [];
  for (let i = 0; i < cycles; i++) {
    // Alternate, and end with a graceful stop so the last recovery is checked too.
    const signal: Deno.Signal = i % 2 === 0 || i === cycles - 1 ? "SIGTERM" : "SIGKILL";
    const p = spawnLogger(["--db", db, "--sim-rate", "20000"]);
    try {
      await p.waitUntilLogging();
      await waitFor(() => countReadings(db) > floor, 20_000, () => stderrTail(p));
      await new Promise((r) => setTimeout(r, random.int(0, 400)));
      const seen = countReadings(db);
      const t0 = performance.now();
      p.kill(signal);
      const status = await exitedWithin(p, 20_000);
      if (signal === "SIGTERM") {
        stops.push(performance.now() - t0);
        codes.push(status.code);
        const final = await assertGraceful(p, status, db, floor);
        floor += final.stored;
      } else {
        codes.push(status.signal ?? status.code);
        assert.equal(status.signal, "SIGKILL");
        const rows = countReadings(db);
        assert.ok(rows >= seen, `cycle ${i}: rows seen committed survive the kill (${rows} >= ${seen})`);
        floor = rows;
      }
    } finally {
      await killQuietly(p);
    }
  }
  const end = readingsSummary(db);
  assert.ok(end.rows >= floor);
  assert.equal(end.rows, end.maxId, "ids contiguous 1..n: no committed row went missing");
  assert.equal(integrityCheck(db), "ok");
  assert.equal(walSize(db), 0, "the last cycle stopped gracefully: WAL empty");
  const stop = medianMax(stops);
  printFigures([{
    scenario: "8. restart cycles on one database, alternating SIGTERM / SIGKILL",
    trials: cycles,
    lost: "0 committed",
    exits: exitSummary(codes),
    stopMs: `${stop.median} / ${stop.max} (SIGTERM cycles)`,
    notes: `${end.rows} rows at the end, ids contiguous, integrity ok`,
  }], random.seed);
});
