import assert from "node:assert/strict";
import { join } from "node:path";
import { countReadings, integrityCheck, tempDir, walSize } from "../_helpers/database.ts";
import { runOnce, spawnLogger, waitFor } from "../_helpers/process.ts";

Deno.test("every read command works while a logger writes at full rate, and the logger loses nothing", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "data", "edgelog.db");
  const logger = spawnLogger(["--db", db, "--sim-rate", "200000", "--sim-sensors", "6", "--stats-interval", "1"]);
  try {
    await logger.waitUntilLogging();
    await waitFor(() => countReadings(db) >= 50_000, 30_000, () => logger.stderrLines.join("\n"));
    for (let round = 0; round < 2; round++) {
      const storedBefore = countReadings(db);
      const sensors = await runOnce(["sensors", "--db", db, "--format", "json"]);
      assert.equal(sensors.code, 0, sensors.stderr);
      assert.equal(JSON.parse(sensors.stdout).length, 6);

      const query = await runOnce([
        "query",
        "--db",
        db,
        "--sensor",
        "temperature-*",
        "--since",
        "-10s",
        "--every",
        "1s",
      ]);
      assert.equal(query.code, 0, query.stderr);
      assert.ok(query.stdout.split("\r\n").length > 2);

      const exported = await runOnce(["export", "--db", db, "--format", "ndjson", "--out", join(dir.path, "x.ndjson")]);
      assert.equal(exported.code, 0, exported.stderr);
      const lines = Deno.readTextFileSync(join(dir.path, "x.ndjson")).trimEnd().split("\n");
      assert.ok(lines.length >= storedBefore, `export saw ${lines.length} of at least ${storedBefore}`);
      const ids = lines.map((l) => JSON.parse(l).id as number);
      assert.ok(ids.every((id, i) => id === i + 1), "ids are dense and in order: nothing skipped or repeated");

      const stats = await runOnce(["stats", "--db", db, "--json"]);
      assert.equal(stats.code, 0, stats.stderr);
      assert.equal(JSON.parse(stats.stdout).writer_pid, logger.pid);

      const check = await runOnce(["check", "--db", db, "--json"]);
      assert.equal(check.code, 0, check.stderr);
      assert.equal(JSON.parse(check.stdout).ok, true);
    }
    // The logger kept committing while it was read: its commits continued past what we read.
    const mark = countReadings(db);
    await waitFor(() => countReadings(db) > mark + 50_000, 30_000);
  } finally {
    logger.kill("SIGTERM");
  }
  const status = await logger.exited();
  assert.equal(status.code, 0, logger.stderrLines.join("\n"));
  const final = logger.finalRecord()!;
  assert.equal(final.stored, final.taken);
  assert.equal(countReadings(db), final.stored);
  assert.equal(integrityCheck(db), "ok");
  assert.equal(walSize(db), 0);
});
