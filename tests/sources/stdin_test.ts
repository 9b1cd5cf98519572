import assert from "node:assert/strict";
import { Rejections } from "../../lib/sources/_rejections.ts";
import { StdinSource } from "../../lib/sources/stdin.ts";
import type { Reading } from "../../lib/reading.ts";
import { waitFor } from "../_helpers/process.ts";

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(enc.encode(c));
      controller.close();
    },
  });
}

Deno.test("stdin emits the valid lines, counts the bad ones and ends at end of input", async () => {
  const rejected: Record<string, number> = {};
  const got: Reading[] = [];
  const source = new StdinSource({
    readable: streamOf(['{"sensor":"a","value":1}\n{"sen', 'sor":"b","value":2}\nnope\n{"sensor":"c","value":3}']),
    room: () => 1000,
    rejections: new Rejections("stdin", { reject: (r, n = 1) => rejected[r] = (rejected[r] ?? 0) + n }),
    now: () => Date.UTC(2026, 0, 1),
  });
  source.start((readings) => (got.push(...readings), readings.length));
  await source.ended;
  await source.stop();
  assert.deepEqual(got.map((r) => r.sensor), ["a", "b", "c"]);
  assert.deepEqual(rejected, { invalid_json: 1 });
});

Deno.test("stdin waits for room in the buffer instead of dropping readings", async () => {
  const lines = Array.from({ length: 50 }, (_, i) => `{"sensor":"s","value":${i}}\n`);
  let room = 0;
  const got: Reading[] = [];
  const source = new StdinSource({
    readable: streamOf([lines.join("")]),
    room: () => room,
    rejections: new Rejections("stdin", { reject: () => {} }),
  });
  source.start((readings) => {
    assert.ok(readings.length <= room, "never more than the room offered");
    room -= readings.length;
    got.push(...readings);
    return readings.length;
  });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(got.length, 0, "nothing emitted while the buffer is full");
  room = 20;
  await waitFor(() => got.length === 20);
  room = 100;
  await source.ended;
  assert.deepEqual(got.map((r) => r.value), lines.map((_, i) => i));
});
