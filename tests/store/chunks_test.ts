import assert from "node:assert/strict";
import { join } from "node:path";
import type { Reading } from "../../lib/reading.ts";
import { OutboxReader, Reader, Store } from "../../lib/store/mod.ts";
import { DatabaseSync } from "node:sqlite";
import { Connection } from "../../lib/store/_connection.ts";
import { planCompaction } from "../../lib/store/_compaction_plan.ts";
import { compact } from "../../lib/store/chunks.ts";
import { tempDir, walSize, withDb } from "../_helpers/database.ts";
import { seededRandom } from "../_helpers/fuzz.ts";
import { ROOT } from "../_helpers/process.ts";
import { sourceFiles } from "../_helpers/source_files.ts";

const NOW = Date.UTC(2026, 5, 1);
const SEED = Number(Deno.env.get("EDGELOG_CHUNKS_SEED") ?? Math.floor(Math.random() * 2 ** 31));

/** Random readings as real logs have them: several sensors, quantised and odd values, ties, gaps, late arrivals. */
function randomReadings(random: () => number, n: number): Reading[] {
  const specials = [0, -0, 1e-300, -1e-300, 5e-324, 9007199254740991, -9007199254740991, 21.5, 0.1 + 0.2];
  const out: Reading[] = [];
  let ts = NOW - 3 * 86_400_000;
  for (let i = 0; i < n; i++) {
    const r = random();
    if (r < 0.1) ts += 0; // equal timestamps
    else if (r < 0.12) ts += Math.floor(random() * 10 * 365 * 86_400_000); // a large gap forward
    else ts += 1 + Math.floor(random() * 2000);
    const late = random() < 0.03 ? -Math.floor(random() * 3_600_000) : 0; // arrived late, out of order
    const value = random() < 0.1
      ? specials[Math.floor(random() * specials.length)]
      : random() < 0.5
      ? Math.round(random() * 10_000) / 100
      : (random() - 0.5) * 1e6 * random();
    out.push({ sensor: `s-${Math.floor(random() * 7)}`, ts: Math.min(ts + late, NOW - 1), value });
  }
  return out;
}

/** Everything a reader can see of the database, in the order it shows it. */
function snapshot(path: string) {
  using reader = Reader.open(path);
  const sensors = reader.sensors();
  const bits = (v: number) => Object.is(v, -0) ? "-0" : String(v);
  return {
    perSensor: [...reader.readings({})].map((r) => `${r.id} ${r.sensor} ${r.ts} ${bits(r.value)}`),
    byId: reader.pageById(0, {}, 1_000_000).map((r) => `${r[0]} ${r[1]} ${r[2]} ${bits(r[3])}`),
    range: [...reader.readings({ since: NOW - 2 * 86_400_000, until: NOW - 86_400_000 })].map((r) => r.id),
    buckets: [...reader.buckets({}, 3_600_000)].map((b) => JSON.stringify(b)),
    latest: [...reader.latestAll()].map(([s, l]) => `${s} ${l.ts} ${bits(l.value)}`).sort(),
    summaries: JSON.stringify([...reader.sensorSummaries()].sort()),
    count: reader.readingCount(),
    maxId: reader.maxId(),
    sensors: sensors.map((s) => s.name),
  };
}

Deno.test(`compaction changes nothing a reader sees, for random readings (seed ${SEED})`, async () => {
  const random = seededRandom(SEED);
  for (let trial = 0; trial < 6; trial++) {
    await using dir = await tempDir();
    const path = join(dir.path, "e.db");
    const store = Store.open(path, { durability: "normal" });
    const readings = randomReadings(random, 200 + Math.floor(random() * 3000));
    try {
      for (let i = 0; i < readings.length;) {
        const n = 1 + Math.floor(random() * 500);
        store.append(readings, i, Math.min(readings.length, i + n));
        i += n;
      }
      const before = snapshot(path);
      assert.equal(before.count, readings.length);
      // Compact part of the log, then everything, in steps of random size.
      const retention = store.retention({
        downsampleBucketMs: 60_000,
        compactAfterMs: Math.floor(random() * 2 * 86_400_000),
        compactMaxRows: 1 + Math.floor(random() * 1000),
        compactMinRows: 1 + Math.floor(random() * 2000),
        compactEarly: random() < 0.5, // the logger's steps: the hot table moves as a whole
        now: () => NOW,
      });
      while (retention.step() !== "idle");
      assert.deepEqual(snapshot(path), before, `trial ${trial}: partly compacted`);
      const all = store.retention({
        downsampleBucketMs: 60_000,
        compactAfterMs: 1000,
        compactMinRows: 1,
        now: () => NOW + 86_400_000,
      });
      while (all.step() !== "idle");
      assert.equal(withDb(path, (db) => db.prepare("SELECT count(*) AS n FROM readings").get()!.n), 0);
      assert.deepEqual(snapshot(path), before, `trial ${trial}: all compacted (seed ${SEED})`);
    } finally {
      store.close();
    }
  }
});

Deno.test(`steps that empty the hot table take the writer's readings without reading them back; readers see the same (seed ${SEED})`, async () => {
  const random = seededRandom(SEED + 1);
  for (let trial = 0; trial < 4; trial++) {
    await using dir = await tempDir();
    const readings = randomReadings(random, 2000 + Math.floor(random() * 4000));
    // The truth: the same readings, never compacted.
    const plain = Store.open(join(dir.path, "plain.db"), { durability: "normal" });
    try {
      plain.append(readings);
    } finally {
      plain.close();
    }
    const expected = snapshot(join(dir.path, "plain.db"));
    // The logger's way: commits of random size, whole-table steps in between.
    const path = join(dir.path, "e.db");
    const store = Store.open(path, { durability: "normal" });
    try {
      const retention = store.retention({
        downsampleBucketMs: 60_000,
        compactAfterMs: 600_000,
        compactMinRows: 1 + Math.floor(random() * 400),
        compactEarly: true,
        now: () => NOW,
      });
      for (let i = 0; i < readings.length;) {
        const n = 1 + Math.floor(random() * 200);
        store.append(readings, i, Math.min(readings.length, i + n));
        i += n;
        if (random() < 0.5) retention.step();
      }
      const unread = store.compactedUnread();
      assert.ok(
        unread > 0,
        `trial ${trial}: some steps took the writer's readings (${retention.counters.compacted} moved)`,
      );
      assert.ok(
        unread < retention.counters.compacted,
        `trial ${trial}: the first step read the table back: the writer had not seen it empty`,
      );
      assert.deepEqual(snapshot(path), expected, `trial ${trial}: partly compacted (seed ${SEED})`);
      while (retention.step() !== "idle");
      assert.deepEqual(snapshot(path), expected, `trial ${trial}: compacted (seed ${SEED})`);
    } finally {
      store.close();
    }
  }
});

Deno.test("a step does not take the writer's copy of readings that were deleted behind it: they stay deleted", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const store = Store.open(path, { durability: "normal" });
  try {
    const compaction = store.retention({
      downsampleBucketMs: 60_000,
      compactAfterMs: 600_000,
      compactMinRows: 100,
      compactEarly: true,
      now: () => NOW,
    });
    store.append(Array.from({ length: 100 }, (_, i) => ({ sensor: "a", ts: NOW - 100 + i, value: i })));
    assert.equal(compaction.step(), "compacted", "the first step empties the table: the writer's copy starts");
    // 150 readings; 40 in the middle (by id) are old and expire: the first and last ids stay.
    store.append(Array.from({ length: 150 }, (_, i) => ({
      sensor: "b",
      ts: i >= 40 && i < 80 ? NOW - 100_000_000 + i * 1000 : NOW - 1000 + i,
      value: i,
    })));
    const expiry = store.retention({ downsampleBucketMs: 60_000, retentionMs: 99_000_000, now: () => NOW });
    assert.equal(expiry.step(), "expired");
    assert.equal(expiry.counters.expired, 40);
    assert.equal(compaction.step(), "compacted");
    assert.equal(compaction.counters.compacted, 210);
    assert.equal(store.compactedUnread(), 0, "the table no longer held what the writer wrote: it was read back");
    // Seen empty again: the next step can take the writer's copy.
    store.append(Array.from({ length: 100 }, (_, i) => ({ sensor: "a", ts: NOW - 50 + i, value: -i })));
    assert.equal(compaction.step(), "compacted");
    assert.equal(store.compactedUnread(), 100);
  } finally {
    store.close();
  }
  using reader = Reader.open(path);
  const b = reader.sensors().filter((x) => x.name === "b");
  assert.deepEqual(
    [...reader.readings({ sensors: b })].map((r) => r.value),
    Array.from({ length: 150 }, (_, i) => i).filter((i) => i < 40 || i >= 80),
  );
  assert.equal(reader.readingCount(), 310);
  assert.deepEqual(reader.problems(true), []);
});

Deno.test("every module that updates or inserts hot readings keeps the writer's copy true: it drops it, or it is the writer", () => {
  // An update leaves the ids a step checks unchanged, so the copy must be dropped by hand; an insert
  // outside the writer would break its run of ids (caught), but say so here first.
  const writers = sourceFiles(join(ROOT, "lib"))
    .filter((path) => /\b(UPDATE|INSERT INTO)\s+readings\b(?!_)/.test(Deno.readTextFileSync(path)))
    .map((path) => path.slice(ROOT.length));
  assert.deepEqual(writers, ["lib/store/clock_log.ts", "lib/store/writer.ts"]);
  assert.match(
    Deno.readTextFileSync(join(ROOT, "lib/store/clock_log.ts")),
    /hotMirror\(conn\)\.drop\(\);\s*\n\s*const shift = conn\.prepare\("UPDATE readings/,
  );
  assert.match(Deno.readTextFileSync(join(ROOT, "lib/store/writer.ts")), /hotMirror\(this\.#conn\)\.committed\(/);
});

Deno.test("a full step moves the hot table as a whole, young readings too, and frees its pages without writing them", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const store = Store.open(path, { durability: "normal" });
  try {
    // 30,000 readings of 3 sensors, all younger than --compact-after.
    const readings = Array.from(
      { length: 30_000 },
      (_, i) => ({ sensor: `s-${i % 3}`, ts: NOW - 30_000 + i, value: i / 10 }),
    );
    store.append(readings);
    const before = snapshot(path);
    const hotPages = withDb(
      path,
      (db) => db.prepare("SELECT count(*) AS n FROM dbstat WHERE name = 'readings'").get()!.n as number,
    );
    store.checkpointTruncate();
    assert.equal(walSize(path), 0);
    let clock = NOW;
    const options = { downsampleBucketMs: 60_000, compactAfterMs: 600_000, compactMinRows: 20_000, now: () => clock };
    assert.equal(
      store.retention(options).step(),
      "idle",
      "not a full step of old readings: nothing moves without compactEarly",
    );
    const r = store.retention({ ...options, compactEarly: true });
    const store2 = Store.open(join(dir.path, "full.db"), { durability: "full" });
    try {
      assert.equal(store2.pragma("synchronous"), 2);
      store2.append(readings);
      const r2 = store2.retention({ ...options, compactEarly: true });
      assert.equal(r2.step(), "compacted");
      // The step itself commits unsynced (it only moves committed readings); the writer's commits stay FULL.
      assert.equal(store2.pragma("synchronous"), 2, "durability=full is back after a compaction step");
    } finally {
      store2.close();
    }
    assert.equal(r.step(), "compacted");
    assert.equal(r.counters.compacted, 30_000, "every hot reading moved, in one step");
    assert.equal(withDb(path, (db) => db.prepare("SELECT count(*) AS n FROM readings").get()!.n), 0);
    assert.deepEqual(snapshot(path), before);
    // Deleting a stretch would have written every page of the table into the WAL.
    const frames = (walSize(path) - 32) / (1024 + 24);
    assert.ok(hotPages > 500, `the hot table had ${hotPages} pages`);
    assert.ok(frames < hotPages / 4, `the step wrote ${frames} WAL frames for a hot table of ${hotPages} pages`);
    // Less than a step, but the oldest waited --compact-after plus 10 minutes: the table moves whole all the same.
    store.append([
      ...Array.from({ length: 50 }, (_, i) => ({ sensor: "s-0", ts: NOW - 7_200_000 + i, value: i })),
      ...Array.from({ length: 50 }, (_, i) => ({ sensor: "s-1", ts: NOW - 50 + i, value: i })),
    ]);
    assert.equal(r.step(), "idle", "a forced step comes at most once per --compact-after");
    clock += 600_000;
    assert.equal(r.step(), "compacted");
    assert.equal(r.counters.compacted, 30_100);
    assert.equal(withDb(path, (db) => db.prepare("SELECT count(*) AS n FROM readings").get()!.n), 0);
    assert.equal(r.step(), "idle");
  } finally {
    store.close();
  }
});

Deno.test("a whole-table step planned before more readings came deletes only its own stretch", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const store = Store.open(path, { durability: "normal" });
  store.append(Array.from({ length: 100 }, (_, i) => ({ sensor: "a", ts: NOW - 1000 + i, value: i })));
  store.close();
  const conn = new Connection(new DatabaseSync(path));
  try {
    const plan = planCompaction(conn, { cutoffTs: 0, forceBeforeTs: 0, maxRows: 1000, minRows: 1, earlyRows: 50 })!;
    assert.deepEqual(plan, { lo: 1, hi: 100, whole: true });
    conn.db.prepare("INSERT INTO readings(id, sensor_id, ts, value) VALUES (101, 1, ?, 101)").run(NOW);
    assert.equal(compact(conn, plan), 100);
    assert.deepEqual(conn.db.prepare("SELECT id FROM readings").all().map((r) => r.id), [101]);
  } finally {
    conn.db.close();
  }
  assert.deepEqual(
    withDb(path, (db) => ({ ...db.prepare("SELECT sum(count) AS n, max(step_end) AS e FROM chunks").get() })),
    {
      n: 100,
      e: 100,
    },
  );
});

Deno.test("ids continue after the hot table was emptied by compaction, also across a restart", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  let store = Store.open(path, { durability: "normal" });
  store.append(Array.from({ length: 100 }, (_, i) => ({ sensor: "a", ts: NOW - 3_600_000 + i, value: i })));
  const compactAll = (s: Store) => {
    const r = s.retention({ downsampleBucketMs: 60_000, compactAfterMs: 1000, compactMinRows: 1, now: () => NOW });
    while (r.step() !== "idle");
  };
  compactAll(store);
  store.close();
  store = Store.open(path, { durability: "normal" });
  try {
    store.append([{ sensor: "a", ts: NOW, value: 100 }]);
  } finally {
    store.close();
  }
  using reader = Reader.open(path);
  assert.deepEqual(reader.pageById(99, {}, 10).map((r) => r[0]), [100, 101]);
  assert.equal(reader.readingCount(), 101);
});

Deno.test("the outbox pages through compacted steps and the hot table in id order while compaction runs", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const store = Store.open(path, { durability: "normal" });
  const outbox = OutboxReader.open(path);
  try {
    const random = seededRandom(SEED);
    let taken = 0;
    const seen: number[] = [];
    let cursor = 0;
    for (let round = 0; round < 40; round++) {
      const batch = randomReadings(random, 1 + Math.floor(random() * 300));
      store.append(batch);
      taken += batch.length;
      const r = store.retention({
        downsampleBucketMs: 60_000,
        compactAfterMs: 1000,
        compactMaxRows: 1 + Math.floor(random() * 200),
        compactMinRows: 1,
        now: () => NOW,
      });
      for (let k = Math.floor(random() * 4); k > 0; k--) r.step();
      const page = outbox.after(cursor, 1 + Math.floor(random() * 250));
      for (const row of page) seen.push(row.id);
      if (page.length > 0) cursor = page.at(-1)!.id;
    }
    for (let page = outbox.after(cursor, 1000); page.length > 0; page = outbox.after(cursor, 1000)) {
      for (const row of page) seen.push(row.id);
      cursor = page.at(-1)!.id;
    }
    assert.deepEqual(seen, Array.from({ length: taken }, (_, i) => i + 1), "every id exactly once, in order");
    assert.equal(outbox.lag("x", 0).rows, taken);
  } finally {
    outbox.close();
    store.close();
  }
});
