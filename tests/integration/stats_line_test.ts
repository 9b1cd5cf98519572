import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../_helpers/database.ts";
import { type LogRecord, spawnLogger, waitFor } from "../_helpers/process.ts";

Deno.test("every periodic stats record adds up: taken = stored + pending, while readings arrive between commits", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  // A long commit interval leaves readings waiting at most stats ticks, as on a busy box.
  const logger = spawnLogger([
    ...["--db", db, "--sim-rate", "2000", "--sim-sensors", "4"],
    ...["--commit-interval", "700", "--stats-interval", "0.25"],
  ]);
  try {
    await logger.waitUntilLogging();
    const stats = () => logger.records.filter((r) => String(r.message).startsWith("stats:"));
    await waitFor(() => stats().length >= 8, 20_000, () => logger.stderrLines.join("\n"));
    const lines = stats() as (LogRecord & { taken: number; stored: number; pending: number })[];
    for (const r of lines) assert.equal(r.taken, r.stored + r.pending, r.message);
    assert.ok(lines.some((r) => r.pending > 0), "some record was written between two commits");
  } finally {
    logger.kill("SIGTERM");
    await logger.child.status;
  }
});
