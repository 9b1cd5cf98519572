import assert from "node:assert/strict";
import { join } from "node:path";
import { countReadings, integrityCheck, tempDir, walSize } from "../_helpers/database.ts";
import { runOnce, spawnLogger, waitFor } from "../_helpers/process.ts";

Deno.test("every read command works while a logger writes, and the logger loses nothing", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "data", "edgelog.db");
  // 20,000/s: an export chases the writer up to the newest row, and on a loaded machine it must
  // still catch up (at 200,000/s it exported 6 GB under a load of 10 and never ended).
  const logger = spawnLogger(["--db", db, "--sim-rate", "20000", "--sim-sensors", "6", "--stats-interval", "1"]);
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
      // Streamed: on a slow machine the logger runs longer and the file can outgrow one string.
      let lines = 0;
      let dense = true;
      for await (const line of ndjsonLines(join(dir.path, "x.ndjson"))) {
        if ((JSON.parse(line).id as number) !== ++lines) dense = false;
      }
      assert.ok(lines >= storedBefore, `export saw ${lines} of at least ${storedBefore}`);
      assert.ok(dense, "ids are dense and in order: nothing skipped or repeated");

      const stats = await runOnce(["stats", "--db", db, "--json"]);
      assert.equal(stats.code, 0, stats.stderr);
      assert.equal(JSON.parse(stats.stdout).writer_pid, logger.pid);

      const check = await runOnce(["check", "--db", db, "--json"]);
      assert.equal(check.code, 0, check.stderr);
      assert.equal(JSON.parse(check.stdout).ok, true);
    }
    // The logger kept committing while it was read: its commits continued past what we read.
    const mark = countReadings(db);
    await waitFor(() => countReadings(db) > mark + 20_000, 60_000);
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

/** The non-empty lines of a file, read as a stream. */
async function* ndjsonLines(path: string): AsyncGenerator<string> {
  using file = await Deno.open(path);
  let rest = "";
  for await (const chunk of file.readable.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    for (const line of parts) if (line) yield line;
  }
  if (rest) yield rest;
}
