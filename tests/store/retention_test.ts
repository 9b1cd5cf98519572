import assert from "node:assert/strict";
import { join } from "node:path";
import { Reader, type Retention, Store } from "../../lib/store/mod.ts";
import { createSchema2Database, seedReadings, tempDir, withDb } from "../_helpers/database.ts";

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1);

function count(path: string, sql: string): number {
  return withDb(path, (db) => Number(Object.values(db.prepare(sql).get() as Record<string, number>)[0]));
}

/** Raw readings stored, hot or compacted (through the reader: the layout is not the test's business). */
function rawCount(path: string, until?: number): number {
  using reader = Reader.open(path);
  if (until === undefined) return reader.readingCount();
  let n = 0;
  for (const _ of reader.readings({ until })) n++;
  return n;
}

/** Steps until idle, at most `maxSteps`; returns the number of steps that did work. */
function drain(retention: Retention, maxSteps = 100_000): number {
  let steps = 0;
  while (retention.step() !== "idle") {
    if (++steps > maxSteps) throw new Error("retention never became idle");
  }
  return steps;
}

Deno.test("retention deletes readings older than the cutoff in small steps and keeps the rest", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  // 40 days of readings, 4 sensors, one per sensor every 10 minutes.
  await seedReadings(path, 40 * 144 * 4, { sensors: 4, startTs: NOW - 40 * DAY, stepMs: 600_000 });
  const store = Store.open(path, { durability: "normal" });
  try {
    const retention = store.retention({
      retentionMs: 30 * DAY,
      downsampleBucketMs: 60_000,
      now: () => NOW,
      rowsPerStep: 500,
    });
    const steps = drain(retention);
    assert.equal(retention.counters.expired, 10 * 144 * 4);
    assert.ok(steps >= Math.floor((10 * 144 * 4) / 500), `worked in small steps (${steps})`);
  } finally {
    store.close();
  }
  assert.equal(rawCount(path, NOW - 30 * DAY), 0);
  assert.equal(rawCount(path), 30 * 144 * 4);
});

Deno.test("max-db-size deletes the oldest readings until the data fits and the freed pages are reused", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  await seedReadings(path, 400_000, { sensors: 5, startTs: NOW - 80_000_000, stepMs: 1000 });
  const max = 4 * 1024 * 1024;
  const store = Store.open(path, { durability: "normal" });
  try {
    assert.ok(store.usage().usedBytes > 2 * max);
    const retention = store.retention({ maxDbSizeBytes: max, downsampleBucketMs: 60_000, now: () => NOW });
    drain(retention);
    assert.ok(store.usage().usedBytes <= max);
    const fileBefore = Deno.statSync(path).size + Deno.statSync(`${path}-wal`).size;
    // New readings fill freed pages: the file does not grow.
    const more = Array.from({ length: 20_000 }, (_, i) => ({ sensor: "s-1", ts: NOW + i, value: i }));
    store.append(more);
    store.checkpointTruncate();
    assert.ok(Deno.statSync(path).size <= fileBefore, "the database file did not grow");
  } finally {
    store.close();
  }
  // The oldest went first: what is left is the newest, contiguous in log order.
  using reader = Reader.open(path);
  const minId = reader.pageById(0, {}, 1)[0][0];
  const maxId = reader.maxId();
  const n = reader.readingCount();
  assert.equal(maxId - minId + 1, n);
  assert.ok(n > 20_000 && n < 400_000, String(n));
});

Deno.test("downsampling replaces old readings by buckets that query exactly like the raw readings", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const start = NOW - 10 * DAY;
  // 3 sensors, one reading each every 7 s for 10 days (~370k readings).
  await seedReadings(path, Math.floor((10 * DAY) / 7000) * 3, { sensors: 3, startTs: start, stepMs: 7000 });
  const total = rawCount(path);
  const hourly = (p: string) => {
    using reader = Reader.open(p);
    return [...reader.buckets({ until: NOW - 7 * DAY }, 3_600_000)];
  };
  const before = hourly(path);
  const store = Store.open(path, { durability: "normal" });
  try {
    const retention = store.retention({
      downsampleAfterMs: 7 * DAY,
      downsampleBucketMs: 60_000,
      now: () => NOW,
      rowsPerStep: 5000,
    });
    drain(retention);
    assert.ok(retention.counters.downsampled > 0);
  } finally {
    store.close();
  }
  assert.equal(rawCount(path, NOW - 7 * DAY), 0);
  assert.equal(
    rawCount(path) + count(path, "SELECT sum(count) FROM readings_downsampled"),
    total,
    "every reading is either still raw or counted in a bucket",
  );
  const after = hourly(path);
  assert.equal(after.length, before.length);
  for (const [i, b] of after.entries()) {
    const a = before[i];
    assert.deepEqual([b.sensor, b.ts, b.count, b.min, b.max, b.last], [a.sensor, a.ts, a.count, a.min, a.max, a.last]);
    assert.ok(Math.abs(b.avg - a.avg) < 1e-9);
  }
});

Deno.test("a late reading older than the downsample cutoff is merged into its existing bucket", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const t0 = NOW - 10 * DAY;
  const store = Store.open(path, { durability: "normal" });
  try {
    store.append([{ sensor: "a", ts: t0, value: 1 }, { sensor: "a", ts: t0 + 10_000, value: 5 }]);
    const retention = store.retention({ downsampleAfterMs: DAY, downsampleBucketMs: 60_000, now: () => NOW });
    drain(retention);
    store.append([{ sensor: "a", ts: t0 + 5_000, value: 9 }]);
    drain(retention);
  } finally {
    store.close();
  }
  const row = withDb(
    path,
    (db) => db.prepare("SELECT count, sum, min, max, last_ts, last FROM readings_downsampled").all(),
  );
  assert.equal(row.length, 1);
  assert.deepEqual({ ...row[0] }, { count: 3, sum: 15, min: 1, max: 9, last_ts: t0 + 10_000, last: 5 });
  assert.equal(rawCount(path), 0);
});

Deno.test("retention also expires downsampled buckets", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const store = Store.open(path, { durability: "normal" });
  try {
    store.append([{ sensor: "a", ts: NOW - 40 * DAY, value: 1 }, { sensor: "a", ts: NOW - 20 * DAY, value: 2 }]);
    drain(store.retention({ downsampleAfterMs: DAY, downsampleBucketMs: 60_000, now: () => NOW }));
    assert.equal(count(path, "SELECT count(*) FROM readings_downsampled"), 2);
    drain(store.retention({ retentionMs: 30 * DAY, downsampleBucketMs: 60_000, now: () => NOW }));
  } finally {
    store.close();
  }
  assert.equal(count(path, "SELECT count(*) FROM readings_downsampled"), 1);
});

Deno.test("retention is idle and cheap when nothing is old", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  await seedReadings(path, 10_000, { sensors: 2, startTs: NOW - 10_000_000 });
  const store = Store.open(path, { durability: "normal" });
  try {
    const retention = store.retention({
      retentionMs: 30 * DAY,
      maxDbSizeBytes: 1024 ** 3,
      downsampleAfterMs: 7 * DAY,
      downsampleBucketMs: 60_000,
      compactAfterMs: DAY,
      now: () => NOW,
    });
    assert.equal(retention.step(), "idle");
    assert.deepEqual(retention.counters, { expired: 0, evicted: 0, downsampled: 0, compacted: 0, errors: 0 });
  } finally {
    store.close();
  }
  assert.equal(rawCount(path), 10_000);
});

Deno.test("retention reports the forwarders whose unsent readings it deleted, and only those", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  // 10 days, one reading per hour: ids 1..240 in time order.
  await seedReadings(path, 240, { sensors: 1, startTs: NOW - 10 * DAY, stepMs: 3_600_000 });
  const store = Store.open(path, { durability: "normal" });
  try {
    store.openCursor("behind"); // cursor 0: has sent nothing
    store.openCursor("ahead");
    store.advanceCursor("ahead", 0, 200); // has sent everything retention will delete
    const reported: string[][] = [];
    const retention = store.retention({
      retentionMs: 5 * DAY,
      downsampleBucketMs: 60_000,
      now: () => NOW,
      onUnsentDeleted: (names) => reported.push(names),
    });
    drain(retention);
    assert.equal(retention.counters.expired, 120);
    assert.deepEqual(reported, [["behind"]]);
  } finally {
    store.close();
  }
});

Deno.test("the WAL between automatic checkpoints holds four refills of the hot table a step waits for, 4-16 MiB", async () => {
  await using dir = await tempDir();
  const readings = (sensors: number, ts: number) =>
    Array.from({ length: sensors }, (_, i) => ({ sensor: `s-${i}`, ts, value: i }));
  const walPages = (store: Store) => Number(store.pragma("wal_autocheckpoint"));
  const path = join(dir.path, "e.db");
  const store = Store.open(path, { durability: "full" });
  try {
    const options = { downsampleBucketMs: 60_000, compactAfterMs: DAY, compactEarly: true, now: () => NOW };
    // Before the first step every sensor counts: steps of 512 readings a sensor, at least 8,192,
    // at most 131,072, and 32 bytes of WAL a hot reading (1 KiB pages here).
    for (const [sensors, pages] of [[3, 4096], [100, 6400], [500, 16384], [2000, 16384]] as const) {
      store.append(readings(sensors, NOW - 1000));
      assert.equal(store.retention(options).step(), "idle");
      assert.equal(walPages(store), pages, `${sensors} sensors`);
    }
    // Every sensor moves in one step; then a step of 3 sensors' readings makes the next steps small again.
    const force = store.retention({ ...options, compactAfterMs: 0, compactMinRows: 1, now: () => NOW + DAY });
    while (force.step() === "compacted");
    assert.equal(store.retention(options).step(), "idle");
    assert.equal(walPages(store), 16384, "2000 sensors in the last step");
    store.append(readings(3, NOW));
    while (force.step() === "compacted");
    assert.equal(store.retention(options).step(), "idle");
    assert.equal(walPages(store), 4096, "3 sensors in the last step");
  } finally {
    store.close();
  }
  // The same bytes in pages of 4 KiB (a database edgelog 0.1 made).
  const old = join(dir.path, "old.db");
  createSchema2Database(old, 10);
  const upgraded = Store.open(old, { durability: "full" });
  try {
    upgraded.append(readings(500, NOW - 1000));
    upgraded.retention({ downsampleBucketMs: 60_000, compactEarly: true, now: () => NOW }).step();
    assert.equal(walPages(upgraded), 4096);
  } finally {
    upgraded.close();
  }
});
