/**
 * "Ingest is never slowed" by forwarding (README, Forwarding): through an outage of the upstream
 * and the catch-up after it, the logger at 20,000 readings/s with five seconds of buffer drops
 * nothing. A forwarder that held the writer up (sending or reading its outbox on the
 * writer's connection, or waiting for the upstream in the commit path) would fill that buffer.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { cursorOf, maxReadingId, tempDir } from "../_helpers/database.ts";
import { spawnLogger, waitFor } from "../_helpers/process.ts";

const RATE = 20_000;
/** Five seconds of readings: a loaded machine does not starve the logger that long; a forwarder in the ingest path does. */
const BUFFER = RATE * 5;
const OUTAGE_MS = 5_000;

Deno.test("an upstream outage and the catch-up after it never slow ingest: nothing dropped with five seconds of buffer", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  let failUntil = Infinity;
  let accepted = 0;
  let refused = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = await req.text();
    if (performance.now() < failUntil) {
      refused++;
      return new Response("down", { status: 500 });
    }
    accepted += body.split("\n").filter(Boolean).length;
    return new Response(null, { status: 204 });
  });
  const url = `http://127.0.0.1:${server.addr.port}/write`;
  const p = spawnLogger([
    "--db",
    db,
    "--sim-rate",
    String(RATE),
    "--buffer-size",
    String(BUFFER),
    "--stats-interval",
    "0.2",
    "--forward",
    `${url}?backoff-min=0.2&backoff-max=1&batch=10000`,
  ]);
  try {
    await p.waitUntilLogging();
    failUntil = performance.now() + OUTAGE_MS;
    await waitFor(() => performance.now() > failUntil, OUTAGE_MS + 30_000);
    // Catch-up: the forwarder sends the backlog while ingest goes on.
    const target = maxReadingId(db);
    await waitFor(() => (cursorOf(db, url) ?? 0) >= target, 60_000, () => p.stderrLines.slice(-5).join("\n"));
    p.kill("SIGTERM");
    const status = await Promise.race([
      p.exited(),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 30_000)),
    ]);
    assert.ok(status, "the logger exits within 30 s of SIGTERM");
    assert.equal(status.code, 0, p.stderrLines.join("\n"));
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
    await server.shutdown();
  }
  const final = p.finalRecord()!;
  const stats = p.records.filter((r) => r.message.startsWith("stats"));
  assert.ok(stats.length > 5, "stats all along");
  assert.deepEqual(stats.filter((r) => Number(r.dropped) > 0).map((r) => r.dropped), [], "nothing dropped meanwhile");
  assert.equal(final.dropped, 0, "nothing dropped");
  assert.ok(refused > 0, "the outage refused requests");
  assert.equal(final.stored, final.taken);
  assert.ok(accepted >= maxReadingId(db) / 2, `the upstream got the backlog: ${accepted} readings`);
  console.log(
    `${final.stored} readings logged at ${RATE}/s through a ${OUTAGE_MS} ms outage (${refused} refused requests) ` +
      `and the catch-up (${accepted} readings sent): 0 dropped with a buffer of ${BUFFER}`,
  );
});
