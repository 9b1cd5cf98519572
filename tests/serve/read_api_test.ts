import assert from "node:assert/strict";
import { join } from "node:path";
import { ReadApi, ReadApiError, ReadApiWorker } from "../../lib/serve/read_api.ts";
import { Store } from "../../lib/store/mod.ts";
import { tempDir } from "../_helpers/database.ts";

const NOW = 1_800_000_000_000;

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

Deno.test("the read API reads since and until as unix ms, ISO 8601, now or relative, and every as a duration", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const store = Store.open(path, { durability: "normal" });
  const api = new ReadApi(path, () => NOW);
  try {
    store.append([{ sensor: "t", ts: NOW - 3_600_000, value: 1 }, { sensor: "t", ts: Date.UTC(2024, 0, 1), value: 2 }]);
    assert.deepEqual(api.readings(new URLSearchParams("sensor=t&since=-1h&until=now")).value, [1]);
    assert.deepEqual(api.readings(new URLSearchParams("sensor=t&since=1700000000000&until=-2h")).value, [2]);
    const iso = api.readings(new URLSearchParams("sensor=t&since=2024-01-01T00:00:00Z&until=2024-01-01T00:00:01Z"));
    assert.deepEqual(iso.value, [2]);
    assert.equal(api.readings(new URLSearchParams("sensor=t&since=-1h&every=500ms")).every_ms, 500);
    assert.equal(api.readings(new URLSearchParams("sensor=t&since=-1h&every=1.5s")).every_ms, 1500);
    assert.throws(
      () => api.readings(new URLSearchParams("sensor=t&every=0s")),
      (e) => e instanceof ReadApiError && e.status === 400 && /^every: expected/.test(e.message),
    );
    assert.throws(
      () => api.readings(new URLSearchParams("sensor=t&since=yesterday")),
      (e) => e instanceof ReadApiError && e.status === 400 && /^since: expected/.test(e.message),
    );
  } finally {
    api.close();
    store.close();
  }
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
