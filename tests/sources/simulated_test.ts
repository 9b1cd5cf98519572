import assert from "node:assert/strict";
import { type Reading, ReadingBatch } from "../../lib/reading.ts";
import { SimulatedSource } from "../../lib/sources/simulated.ts";

function fixture(rate: number, sensors: number) {
  let now = 1_700_000_000_000;
  let seed = 1;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const got: Reading[] = [];
  const src = new SimulatedSource({ ratePerSecond: rate, sensors, now: () => now, random, tickMs: 1_000_000 });
  src.start((rs) => {
    got.push(...rs);
    return rs.length;
  });
  return { src, got, advance: (ms: number) => (now += ms) };
}

Deno.test("the simulated source produces exactly its rate, spread over the elapsed time", () => {
  const { src, got, advance } = fixture(1000, 3);
  try {
    for (let i = 0; i < 100; i++) {
      advance(10);
      src.tick();
    }
    assert.equal(got.length, 1000, "1 s at 1000/s");
    assert.deepEqual(new Set(got.map((r) => r.sensor)), new Set(["temperature-1", "humidity-1", "pressure-1"]));
    for (let i = 1; i < got.length; i++) assert.ok(got[i].ts >= got[i - 1].ts, "timestamps never go backwards");
    assert.equal(got.at(-1)!.ts, 1_700_000_001_000);
  } finally {
    src.stop();
  }
});

Deno.test("simulated values stay within plausible ranges", () => {
  const { src, got, advance } = fixture(100_000, 6);
  try {
    for (let i = 0; i < 20; i++) {
      advance(100);
      src.tick();
    }
    const units = new Map(got.map((r) => [r.sensor, r.unit]));
    assert.equal(units.get("temperature-2"), "°C");
    for (const r of got) {
      if (r.sensor.startsWith("temperature")) assert.ok(r.value >= -20 && r.value <= 50);
      if (r.sensor.startsWith("humidity")) assert.ok(r.value >= 0 && r.value <= 100);
      if (r.sensor.startsWith("pressure")) assert.ok(r.value >= 950 && r.value <= 1050);
      assert.ok(Number.isFinite(r.value));
    }
  } finally {
    src.stop();
  }
});

Deno.test("after a long stall the source catches up at most one second of readings", () => {
  const { src, got, advance } = fixture(1000, 1);
  try {
    advance(60_000);
    src.tick();
    assert.equal(got.length, 1000);
    advance(10);
    src.tick();
    assert.equal(got.length, 1010, "then continues at its rate");
  } finally {
    src.stop();
  }
});

Deno.test("a stopped source emits nothing", () => {
  const { src, got, advance } = fixture(1000, 1);
  src.stop();
  advance(1000);
  assert.equal(src.tick(), 0);
  assert.equal(got.length, 0);
});

Deno.test("simulated readings have the resolution of real sensors: 0.01 °C, 0.1 %RH, 0.1 hPa", () => {
  const batch = new ReadingBatch(3000);
  const source = new SimulatedSource({
    ratePerSecond: 3000,
    sensors: 3,
    now: (() => {
      let t = 1_700_000_000_000;
      return () => (t += 1000);
    })(),
    sink: { buffer: batch, took: (n) => batch.length += n },
  });
  source.start(() => 0);
  source.tick();
  source.stop();
  assert.ok(batch.length > 100);
  const decimals = new Map<string, number>([["°C", 100], ["%", 10], ["hPa", 10]]);
  for (let i = 0; i < batch.length; i++) {
    const r = batch.at(i);
    const scale = decimals.get(r.unit!)!;
    assert.equal(Math.round(r.value * scale) / scale, r.value, `${r.sensor} ${r.value}`);
  }
});

Deno.test("no repeated timestamps per sensor while the clocks jitter, and a step of the wall clock spreads a tick over its monotonic length", () => {
  let mono = 5000, wall = 1_700_000_000_000, seed = 7;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const got: Reading[] = [];
  const src = new SimulatedSource({
    ratePerSecond: 3000,
    sensors: 3,
    now: () => mono,
    stamp: () => wall,
    random,
    tickMs: 1_000_000,
  });
  src.start((rs) => {
    got.push(...rs);
    return rs.length;
  });
  try {
    for (let i = 0; i < 200; i++) {
      mono += 10.37; // the two clocks read at slightly different moments
      wall += i % 3 === 0 ? 11 : 10;
      src.tick();
    }
    for (const sensor of ["temperature-1", "humidity-1", "pressure-1"]) {
      const ts = got.filter((r) => r.sensor === sensor).map((r) => r.ts);
      for (let i = 1; i < ts.length; i++) assert.ok(ts[i] > ts[i - 1], `${sensor}: ${ts[i - 1]} then ${ts[i]}`);
    }
    const before = got.length;
    mono += 10;
    wall += 86_400_000; // the wall clock steps a day forward
    src.tick();
    const tick = got.slice(before).map((r) => r.ts);
    assert.ok(tick.length > 0 && tick.at(-1)! - tick[0] <= 10, "the tick's readings span its 10 ms, not the day");
  } finally {
    src.stop();
  }
});
