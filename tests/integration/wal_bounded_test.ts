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

const RATE = 100_000; // readings per second offered: unbounded, the WAL would grow by ~4 MB a second
const CHECKPOINT_INTERVAL_S = 1;
/**
 * edgelog's auto-checkpoint starts after 4 MiB of WAL with the simulated source's 3 sensors
 * (`AUTO_CHECKPOINT_BYTES`, whatever the page size; up to 16 MiB with hundreds of sensors, whose
 * compaction steps are larger); the WAL also holds the commit group that crossed it (at most
 * `batch-size` readings) and frames a reader's snapshot keeps from being overwritten. 8 MiB is
 * twice the auto-checkpoint size.
 */
const WAL_BOUND_BYTES = 8 * 1024 * 1024;

Deno.test("the -wal file stays bounded through several checkpoint intervals while three times its bound is written", async () => {
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
    // Until enough was written to overrun an unbounded WAL three times over, through at least
    // three periodic checkpoints: a slow machine makes this longer, not red.
    const t0 = performance.now();
    let rows = 0;
    let passive = 0;
    let lastScrape = 0;
    await waitFor(
      async () => {
        sizes.push(walSize(db));
        rows = countReadings(db); // a reader polling on its own connection, as dashboards and scripts do
        if (performance.now() - lastScrape > 500) {
          lastScrape = performance.now();
          const metrics = await (await fetch(`${base}/metrics`)).text();
          passive = Number(/^edgelog_checkpoints_total\{mode="passive",result="ok"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
        }
        return rows * 40 > 3 * WAL_BOUND_BYTES && passive >= 3;
      },
      180_000,
      () => `${rows} readings, ${passive} periodic checkpoints`,
    );
    const max = Math.max(...sizes);
    console.log(
      `${rows} readings in ${((performance.now() - t0) / 1000).toFixed(1)} s; -wal at most ` +
        `${(max / 1048576).toFixed(1)} MiB over ${sizes.length} samples; ${passive} periodic checkpoints`,
    );
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
