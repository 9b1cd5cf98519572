/**
 * Scenario 13: SIGKILL at random moments while the logger upgrades an old database and compacts
 * it. Every step is one transaction, so afterwards every reading is there exactly once: the ids
 * are 1..N without a gap or a repeat, the values are the ones written, and the file is intact.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { createSchema2Database, integrityCheck, tempDir } from "../_helpers/database.ts";
import { spawnLogger, waitFor } from "../_helpers/process.ts";
import { assertExactlyOnce, exitedWithin, FaultRandom, faultTrials, printFigures } from "./_faults.ts";

const ROWS = 300_000;
const SENSORS = 7;

/** Every reading exactly once: ids 1..ROWS in order, each with the sensor and value the seed gave it. */
function assertAllOnce(db: string, what: string): { hot: number; compacted: number } {
  const { rows, hot, compacted } = assertExactlyOnce(db, what, ([id, sensor, , value]) => {
    assert.equal(sensor, ((id - 1) % SENSORS) + 1, `${what}: reading ${id} changed sensor`);
    assert.equal(value, ((id - 1) % 1000) / 10, `${what}: reading ${id} changed value`);
  });
  assert.equal(rows, ROWS, `${what}: ${rows} readings instead of ${ROWS}`);
  return { hot, compacted };
}

function removeIfThere(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

function countHot(db: string): number {
  const r = new Deno.Command("sqlite3", { args: ["-readonly", db, "SELECT count(*) FROM readings"] }).outputSync();
  return Number(new TextDecoder().decode(r.stdout).trim());
}

Deno.test("SIGKILL during the schema upgrade and compaction leaves every reading exactly once", async () => {
  const trials = faultTrials(6);
  const random = new FaultRandom();
  await using dir = await tempDir("edgelog-fault-compact-");
  const template = join(dir.path, "schema2.db");
  createSchema2Database(template, ROWS, { sensors: SENSORS, startTs: Date.now() - 86_400_000, stepMs: 1000 });
  const db = join(dir.path, "edgelog.db");
  const args = ["--db", db, "--sim-rate", "0", "--compact-after", "1s", "--commit-interval", "100"];
  const states: string[] = [];
  for (let i = 0; i < trials; i++) {
    // Each trial starts from the old file, and is killed twice: once early, once later.
    // (The previous trial's -wal belongs to another file: it must not be replayed onto this one.)
    for (const suffix of ["-wal", "-shm"]) removeIfThere(db + suffix);
    Deno.copyFileSync(template, db);
    for (const delayMs of [random.int(0, 900), random.int(0, 1500)]) {
      const p = spawnLogger(args);
      await new Promise((r) => setTimeout(r, delayMs));
      p.kill("SIGKILL");
      await exitedWithin(p, 10_000);
      assert.equal(integrityCheck(db), "ok", `trial ${i}: integrity after a kill at ${delayMs} ms`);
      const { hot } = assertAllOnce(db, `trial ${i}, killed ${delayMs} ms after start`);
      states.push(`${delayMs} ms: ${hot === ROWS ? "none" : ROWS - hot} compacted`);
    }
  }
  // Then the logger finishes the job and stops cleanly; nothing was lost or doubled on the way.
  const p = spawnLogger(args);
  await p.waitUntilLogging();
  await waitFor(() => countHot(db) === 0, 60_000, () => `the logger did not compact everything: ${countHot(db)} hot`);
  p.kill("SIGTERM");
  assert.equal((await exitedWithin(p, 10_000)).code, 0);
  assert.deepEqual(assertAllOnce(db, "after the last stop"), { hot: 0, compacted: ROWS });
  assert.equal(integrityCheck(db), "ok");
  printFigures([{
    scenario: "13. SIGKILL during upgrade + compaction (300k readings, schema 2)",
    trials: `${trials}×2 kills`,
    lost: "0 (ids 1..N exactly once after every kill)",
    exits: states.join("; "),
    stopMs: "-",
    notes: "fresh schema-2 file per trial; kills 0–900 ms, then 0–1500 ms after spawn",
  }], random.seed);
});
