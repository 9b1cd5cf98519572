import assert from "node:assert/strict";
import { LOOP_STALL_INTERVAL_MS, LoopStallMonitor } from "../lib/loop_stall.ts";

Deno.test("a tick on time counts as no stall, a late one by its lateness", () => {
  let now = 1000;
  const m = new LoopStallMonitor(50, () => now);
  m.start();
  now += 50;
  m.tick();
  now += 20; // the next one was due at 1100 in the real schedule; tick() measures against the first due time
  m.tick();
  assert.equal(m.maxMs, 20);
  assert.equal(m.stalls.count, 2);
  assert.deepEqual(m.stalls.cumulative().slice(0, 2), [1, 2], "0 ms in the 10 ms bucket, 20 ms in the 25 ms one");
  m.stop();
});

Deno.test("a loop held for 300 ms shows as a stall of about that length", async () => {
  const m = new LoopStallMonitor();
  m.start();
  try {
    await new Promise((r) => setTimeout(r, 2 * LOOP_STALL_INTERVAL_MS));
    const until = performance.now() + 300;
    while (performance.now() < until) { /* hold the loop */ }
    await new Promise((r) => setTimeout(r, 2 * LOOP_STALL_INTERVAL_MS));
    assert.ok(m.maxMs >= 300 - LOOP_STALL_INTERVAL_MS, `max stall ${m.maxMs} ms`);
    assert.ok(m.stalls.count >= 3);
  } finally {
    m.stop();
  }
});
