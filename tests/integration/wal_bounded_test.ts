/**
 * Contract item 5: the `-wal` file stays bounded during long runs. The logger writes at a high
 * rate through several checkpoint intervals while a reader polls on its own connection; the
 * `-wal` size is sampled all along and must stay under the bound its configuration implies.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { countReadings, tempDir, walSize } from "../_helpers/database.ts";
import { listenerUrl } from "../_helpers/network.ts";
import { spawnLogger, waitFor } from "../_helpers/process.ts";

const RATE = 100_000; // readings per second: unbounded, the WAL would grow by ~4 MB a second
const RUN_MS = 8_000;
const CHECKPOINT_INTERVAL_S = 1;
/**
 * SQLite's auto-checkpoint starts at 1000 WAL pages (4 MiB); the WAL also holds the commit group
 * that crossed it (at most `batch-size` readings) and frames a reader's snapshot keeps from being
 * overwritten. 8 MiB is twice the auto-checkpoint size.
 */
const WAL_BOUND_BYTES = 8 * 1024 * 1024;

Deno.test("the -wal file stays bounded through several checkpoint intervals at 100,000 readings/s", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const p = spawnLogger([
    "--db",
    db,
    "--sim-rate",
    String(RATE),
    "--checkpoint-interval",
    String(CHECKPOINT_INTERVAL_S),
    "--listen",
    "127.0.0.1:0",
  ]);
  const sizes: number[] = [];
  try {
    const base = await listenerUrl(p);
    await p.waitUntilLogging();
    const until = performance.now() + RUN_MS;
    await waitFor(() => {
      sizes.push(walSize(db));
      countReadings(db); // a reader polling on its own connection, as dashboards and scripts do
      return performance.now() >= until;
    }, RUN_MS + 30_000);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const passive = Number(/^edgelog_checkpoints_total\{mode="passive",result="ok"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
    assert.ok(passive >= 3, `several periodic checkpoints ran: ${passive}`);
    const rows = countReadings(db);
    const max = Math.max(...sizes);
    console.log(
      `${rows} readings in ${RUN_MS / 1000} s; -wal at most ${(max / 1048576).toFixed(1)} MiB over ${sizes.length} ` +
        `samples; ${passive} periodic checkpoints`,
    );
    assert.ok(rows * 40 > 3 * WAL_BOUND_BYTES, `enough written to overrun an unbounded WAL: ${rows} readings`);
    assert.ok(max <= WAL_BOUND_BYTES, `the -wal file reached ${max} bytes (bound ${WAL_BOUND_BYTES})`);
    p.kill("SIGTERM");
    assert.equal((await p.exited()).code, 0, p.stderrLines.join("\n"));
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
});
