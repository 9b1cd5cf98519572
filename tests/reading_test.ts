import assert from "node:assert/strict";
import { type Reading, ReadingBatch, SensorTable } from "../lib/reading.ts";
import { type BatchWriter, Pipeline } from "../lib/pipeline.ts";
import { SimulatedSource } from "../lib/sources/simulated.ts";

Deno.test("a batch keeps readings as columns and gives them back unchanged", () => {
  const rs: Reading[] = [
    { sensor: "a", ts: 1_700_000_000_001, value: 1.5, unit: "°C" },
    { sensor: "b", ts: 1_700_000_000_002, value: -2.25 },
    { sensor: "a", ts: 1_700_000_000_003, value: 3 },
  ];
  const b = ReadingBatch.of(rs);
  assert.equal(b.length, 3);
  assert.equal(b.sensors.size, 2);
  assert.deepEqual([0, 1, 2].map((i) => b.at(i)), [rs[0], rs[1], { ...rs[2], unit: "°C" }]);
  b.shift(1);
  assert.deepEqual([0, 1].map((i) => b.at(i).ts), [1_700_000_000_002, 1_700_000_000_003]);
  b.shift(5);
  assert.equal(b.length, 0);
  assert.throws(() => new ReadingBatch(2).push(rs, 0, 3), RangeError, "a typed array would drop the third silently");
});

Deno.test("the sensor table fills a missing unit from a later reading, and never changes a given one", () => {
  const t = new SensorTable();
  assert.equal(t.intern("x"), 0);
  assert.equal(t.intern("y", "%"), 1);
  assert.equal(t.intern("x", "hPa"), 0);
  assert.equal(t.intern("y", "°C"), 1);
  assert.deepEqual(t.units, ["hPa", "%"]);
});

Deno.test("the simulated source writes straight into the pipeline's buffer, never past its room", () => {
  const groups: Reading[][] = [];
  const writer: BatchWriter = {
    appendBatch(batch, from = 0, to = batch.length) {
      groups.push(Array.from({ length: to - from }, (_, i) => batch.at(from + i)));
    },
  };
  const p = new Pipeline(writer, { commitIntervalMs: 1000, batchSize: 1000, bufferSize: 700 });
  let now = 1_700_000_000_000;
  const src = new SimulatedSource({
    ratePerSecond: 1000,
    sensors: 3,
    now: () => now,
    tickMs: 1_000_000,
    sink: p.sinkFor("simulated"),
    onSkipped: (n) => p.countSkipped("simulated", n),
  });
  src.start(p.emitFor("simulated"));
  try {
    now += 500;
    assert.equal(src.tick(), 500);
    now += 500;
    assert.equal(src.tick(), 200, "only the 200 free places are sampled");
    assert.equal(p.counters.taken, 700);
    assert.equal(p.counters.dropped, 300);
    assert.deepEqual(p.sources.get("simulated"), { taken: 700, dropped: 300, rejected: new Map() });
    assert.equal(p.flush(), true);
    const stored = groups.flat();
    assert.equal(stored.length, 700);
    assert.deepEqual(stored.slice(0, 3).map((r) => r.sensor), ["temperature-1", "humidity-1", "pressure-1"]);
    assert.deepEqual(stored.slice(0, 3).map((r) => r.unit), ["°C", "%", "hPa"]);
    for (let i = 1; i < stored.length; i++) assert.ok(stored[i].ts >= stored[i - 1].ts);
    assert.equal(stored.at(-1)!.ts, 1_700_000_001_000);
  } finally {
    src.stop();
  }
});

Deno.test("a column sink refuses to take more readings than there is room for", () => {
  const p = new Pipeline({ appendBatch() {} }, { commitIntervalMs: 1000, batchSize: 10, bufferSize: 5 });
  const sink = p.sinkFor("x");
  assert.throws(() => sink.took(6), RangeError);
  sink.took(5);
  assert.equal(p.counters.taken, 5);
  assert.equal(p.room, 0);
});
