import assert from "node:assert/strict";
import { join } from "node:path";
import { evaluateHealth, MAX_COMMIT_ERRORS_IN_ROW } from "../lib/health.ts";
import { Histogram } from "../lib/histogram.ts";
import { escapeLabelValue, Exposition, formatValue } from "../lib/metrics.ts";
import { type Counters, Pipeline } from "../lib/pipeline.ts";
import { parseDuration, parseTime, ReadApi, ReadApiError, ReadApiWorker } from "../lib/read_api.ts";
import { Store } from "../lib/store.ts";
import { hasCommand, run, tempDir } from "./_helpers.ts";

const NOW = 1_800_000_000_000;

function counters(over: Partial<Counters> = {}): Counters {
  // A fresh pipeline's counters, so the fixture follows the real shape.
  const fresh = new Pipeline({ appendBatch() {} }, { commitIntervalMs: 250, batchSize: 10, bufferSize: 10 }).counters;
  return { ...fresh, ...over };
}

const health = (c: Counters, fatalError?: unknown, startedAt = NOW - 60_000) =>
  evaluateHealth({ counters: c, fatalError, commitIntervalMs: 250, now: NOW, startedAt });

Deno.test("an idle logger whose writer ticks with nothing to commit is healthy", () => {
  const h = health(counters({ lastFlushOkAt: NOW - 200, lastCommitAt: NOW - 3_600_000 }));
  assert.equal(h.status, "ok");
  assert.equal(h.last_commit_age_s, 3600);
});

Deno.test("a writer that has not flushed within the threshold is unhealthy", () => {
  const h = health(counters({ lastFlushOkAt: NOW - 6_000 }));
  assert.equal(h.status, "unhealthy");
  assert.match(h.reason!, /not committed for 6 s/);
});

Deno.test("a logger that just started and has not flushed yet is healthy", () => {
  assert.equal(health(counters(), undefined, NOW - 100).status, "ok");
});

Deno.test("commit errors in a row make the writer unhealthy before it goes stale", () => {
  const c = counters({ lastFlushOkAt: NOW - 800, commitErrorsInRow: MAX_COMMIT_ERRORS_IN_ROW, pending: 42 });
  const h = health(c);
  assert.equal(h.status, "unhealthy");
  assert.match(h.reason!, /3 commits failed in a row.*42 readings waiting/);
  assert.equal(health({ ...c, commitErrorsInRow: 1 }).status, "ok");
});

Deno.test("a fatal writer error makes the writer unhealthy", () => {
  assert.equal(health(counters({ lastFlushOkAt: NOW }), new Error("corrupt")).status, "unhealthy");
});

Deno.test("a histogram counts observations cumulatively per bound", () => {
  const h = new Histogram([0.001, 0.01, 0.1]);
  for (const v of [0.0005, 0.001, 0.004, 0.05, 3]) h.observe(v);
  assert.deepEqual(h.cumulative(), [2, 3, 4]);
  assert.equal(h.count, 5);
  assert.ok(Math.abs(h.sum - 3.0555) < 1e-12);
  assert.throws(() => new Histogram([1, 1]), RangeError);
});

Deno.test("label values escape backslash, double quote and line feed as the text format requires", () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(0.25), "0.25");
});

Deno.test("an exposition with awkward label values passes promtool", { ignore: !hasCommand("promtool") }, async () => {
  const out = new Exposition();
  out.family("edgelog_test_total", "counter", "A help text with a \\ backslash\nand a line feed.")
    .sample(3, { source: 'we"ird\\name\nhere', reason: "ünïcode ✓" });
  const h = new Histogram([0.5, 1]);
  h.observe(0.7);
  out.histogram("edgelog_test_seconds", "Durations.", h);
  const check = await run("promtool", ["check", "metrics"], out.text());
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.match(out.text(), /^edgelog_test_seconds_bucket\{le="\+Inf"\} 1$/m);
  assert.match(out.text(), /^edgelog_test_total\{source="we\\"ird\\\\name\\nhere",reason="ünïcode ✓"\} 3$/m);
});

Deno.test("the pipeline records commit latency, batch sizes, per-source counts and idle flushes", async () => {
  await using dir = await tempDir();
  const store = Store.open(join(dir.path, "e.db"), { durability: "normal" });
  try {
    const pipeline = new Pipeline(store, { commitIntervalMs: 1000, batchSize: 100, bufferSize: 250 });
    const emit = pipeline.emitFor("sim");
    const readings = Array.from({ length: 300 }, (_, i) => ({ sensor: "s", ts: NOW + i, value: i }));
    assert.equal(emit(readings), 250);
    pipeline.countRejected("sim", "not a number", 2);
    assert.equal(pipeline.flush(), true);
    assert.equal(pipeline.commitSeconds.count, 3, "one latency observation per commit");
    assert.deepEqual(pipeline.batchSizes.cumulative().slice(0, 4), [0, 0, 1, 3], "batches of 100, 100, 50");
    const sim = pipeline.sources.get("sim")!;
    assert.deepEqual([sim.taken, sim.dropped, sim.rejected.get("not a number")], [250, 50, 2]);
    assert.equal(pipeline.counters.rejected, 2);
    const before = pipeline.counters.lastFlushOkAt;
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(pipeline.flush(), true, "nothing pending");
    assert.ok(pipeline.counters.lastFlushOkAt > before, "an idle flush still counts as a live writer");
    pipeline.close();
  } finally {
    store.close();
  }
});

Deno.test("the read API lists sensors and returns raw and downsampled readings", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const store = Store.open(path, { durability: "normal" });
  const api = new ReadApi(path, () => NOW);
  try {
    const readings = [];
    for (let i = 0; i < 60; i++) readings.push({ sensor: "t", ts: NOW - 60_000 + i * 1000, value: i, unit: "°C" });
    readings.push({ sensor: "h", ts: NOW - 10, value: 50, unit: "%" });
    store.append(readings);
    assert.deepEqual(api.sensors(), [
      { name: "h", unit: "%", last_ts: NOW - 10, last_value: 50 },
      { name: "t", unit: "°C", last_ts: NOW - 1000, last_value: 59 },
    ]);
    const raw = api.readings(new URLSearchParams("sensor=t&since=-10s"));
    assert.deepEqual(raw.value, [50, 51, 52, 53, 54, 55, 56, 57, 58, 59]);
    assert.equal(raw.every_ms, null);
    const limited = api.readings(new URLSearchParams("sensor=t&since=-1h&limit=5"));
    assert.equal(limited.t.length, 5);
    assert.equal(limited.truncated, true);
    const buckets = api.readings(new URLSearchParams(`sensor=t&since=${NOW - 60_000}&until=now&every=20s`));
    assert.deepEqual(buckets.t, [NOW - 60_000, NOW - 40_000, NOW - 20_000]);
    assert.deepEqual(buckets.value, [9.5, 29.5, 49.5]);
    assert.deepEqual(buckets.min, [0, 20, 40]);
    assert.deepEqual(buckets.max, [19, 39, 59]);
    assert.deepEqual(buckets.count, [20, 20, 20]);
    // A second writer-side commit while the reader is open is not blocked.
    store.append([{ sensor: "t", ts: NOW, value: 60 }]);
    assert.equal(api.readings(new URLSearchParams("sensor=t&since=-1s")).value.at(-1), 60);
    assert.throws(() => api.readings(new URLSearchParams("since=-1h")), ReadApiError);
    assert.throws(() => api.readings(new URLSearchParams("sensor=nope")), (e) => (e as ReadApiError).status === 404);
    assert.throws(() => api.readings(new URLSearchParams("sensor=t&since=0&every=1ms")), /too fine/);
  } finally {
    api.close();
    store.close();
  }
});

Deno.test("times and durations parse as unix ms, ISO 8601, now and relative", () => {
  assert.equal(parseTime("-1h", "since", NOW), NOW - 3_600_000);
  assert.equal(parseTime("now", "until", NOW), NOW);
  assert.equal(parseTime("1700000000000", "since", NOW), 1_700_000_000_000);
  assert.equal(parseTime("2024-01-01T00:00:00Z", "since", NOW), Date.UTC(2024, 0, 1));
  assert.equal(parseDuration("500ms", "every"), 500);
  assert.equal(parseDuration("1.5s", "every"), 1500);
  assert.throws(() => parseDuration("0s", "every"), ReadApiError);
  assert.throws(() => parseTime("yesterday", "since", NOW), /since: expected/);
});

Deno.test("the read worker answers like the read API and refuses requests once closed", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const store = Store.open(path, { durability: "normal" });
  const reads = await ReadApiWorker.open(path);
  try {
    store.append([{ sensor: "t", ts: Date.now() - 1000, value: 7, unit: "°C" }]);
    assert.deepEqual((await reads.sensors()).map((s) => [s.name, s.last_value]), [["t", 7]]);
    assert.deepEqual((await reads.readings(new URLSearchParams("sensor=t&since=-1m"))).value, [7]);
    await assert.rejects(reads.readings(new URLSearchParams("sensor=x")), (e) => (e as ReadApiError).status === 404);
  } finally {
    await reads.close();
    store.close();
  }
  await assert.rejects(reads.sensors(), (e) => (e as ReadApiError).status === 503);
});
