import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { ReadingBatch } from "../../lib/reading.ts";
import { Reader, SCHEMA_VERSION, Store } from "../../lib/store/mod.ts";
import { integrityCheck, tempDir, withDb } from "../_helpers/database.ts";

const T0 = Date.UTC(2026, 10, 27, 12);

/** A batch of `n` readings of `sensor` from `ts0`, 1 s apart, each marked with `segment` (0: none). */
function batch(n: number, ts0: number, segments: number[] | number, sensor = "s"): ReadingBatch {
  const b = ReadingBatch.of(Array.from({ length: n }, (_, i) => ({ sensor, ts: ts0 + i * 1000, value: i })));
  b.everProvisional = true;
  for (let i = 0; i < n; i++) b.segment[i] = Array.isArray(segments) ? segments[i] : segments;
  return b;
}

function segment(id: number) {
  return { id, kind: "start" as const, reason: "test", wallAtStart: 0, wallAnchor: T0, monoAnchor: 1 };
}

Deno.test("provisional readings are recorded as runs of ids, one per stretch across commits, clients' own left out", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const store = Store.open(path, { durability: "normal" });
  try {
    store.clock.beginSegment(segment(1));
    store.appendBatch(batch(5, T0, 1)); // ids 1-5
    store.appendBatch(batch(5, T0 + 5000, 1)); // ids 6-10: the same stretch
    store.appendBatch(batch(4, T0 + 10_000, [1, 0, 0, 1])); // 11, then a client's 12-13, then 14
    assert.equal(store.clock.heldFrom(1), 1);
    const runs = withDb(path, (db) => db.prepare("SELECT first_id, last_id FROM clock_provisional ORDER BY 1").all());
    assert.deepEqual(runs.map((r) => [r.first_id, r.last_id]), [[1, 11], [14, 14]]);
    const n = store.clock.restamp(1, 60_000, T0 + 99_000);
    assert.equal(n, 12);
    assert.equal(store.clock.heldFrom(1), undefined, "nothing held once re-stamped");
  } finally {
    store.close();
  }
  using reader = Reader.open(path);
  const rows = [...reader.readings({})];
  for (const r of rows) {
    const shifted = r.id <= 11 || r.id === 14;
    const original = T0 + (r.id <= 5 ? r.id - 1 : r.id <= 10 ? r.id - 1 : r.id - 1) * 1000;
    assert.equal(r.ts, original + (shifted ? 60_000 : 0), `reading ${r.id}`);
  }
  const status = reader.stampStatus();
  assert.equal(status(3), "restamped");
  assert.equal(status(12), undefined);
  const summary = reader.clockSummary()!;
  assert.deepEqual([summary.restamped, summary.provisional, summary.segments], [12, 0, 1]);
  assert.equal(summary.last?.correctionMs, 60_000);
});

Deno.test("a re-stamp reaches readings already compacted into chunks, and keeps each chunk in time order", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const store = Store.open(path, { durability: "normal" });
  try {
    store.clock.beginSegment(segment(3));
    // A trusted reading later than the provisional ones: after the re-stamp it comes first.
    store.appendBatch(batch(1, T0 + 500_000, 0, "a"));
    store.appendBatch(batch(200, T0, 3, "a")); // ids 2-201
    const compaction = store.retention({
      downsampleBucketMs: 60_000,
      compactMinRows: 1,
      compactAfterMs: 1000,
      now: () => T0 + 10_000_000,
    });
    while (compaction.step() !== "idle");
    assert.equal(compaction.counters.compacted, 201);
    assert.equal(store.clock.restamp(3, 1_000_000, T0), 200);
  } finally {
    store.close();
  }
  using reader = Reader.open(path);
  const rows = [...reader.readings({})];
  assert.equal(rows.length, 201);
  assert.equal(rows[0].id, 1, "the trusted reading now comes first in time");
  for (const r of rows.slice(1)) assert.equal(r.ts, T0 + (r.id - 2) * 1000 + 1_000_000);
  assert.deepEqual(reader.problems(true), []);
  assert.equal(integrityCheck(path), "ok");
});

Deno.test("a re-stamp of hot readings reaches the chunks of the next step, which reads them back instead of taking the writer's copy", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const store = Store.open(path, { durability: "normal" });
  try {
    const compaction = store.retention({
      downsampleBucketMs: 60_000,
      compactMinRows: 1,
      compactEarly: true,
      compactAfterMs: 600_000,
      now: () => T0 + 10_000_000,
    });
    store.appendBatch(batch(100, T0 - 200_000, 0, "a")); // ids 1-100, trusted
    assert.equal(compaction.step(), "compacted", "the table was seen empty: the writer's copy starts");
    store.clock.beginSegment(segment(3));
    store.appendBatch(batch(200, T0, 3, "a")); // ids 101-300
    store.appendBatch(batch(50, T0, 3, "b")); // ids 301-350
    assert.equal(store.clock.restamp(3, 1_000_000, T0), 250);
    assert.equal(compaction.step(), "compacted");
    assert.equal(compaction.counters.compacted, 350);
    assert.equal(store.compactedUnread(), 0, "the re-stamp dropped the writer's copy");
    store.appendBatch(batch(10, T0 + 2_000_000, 0, "b"));
    assert.equal(compaction.step(), "compacted");
    assert.equal(store.compactedUnread(), 10, "emptied again, the copy is trusted again");
  } finally {
    store.close();
  }
  using reader = Reader.open(path);
  const rows = [...reader.readings({})].filter((r) => r.id > 100 && r.id <= 350);
  assert.equal(rows.length, 250);
  for (const r of rows) {
    const first = r.id <= 300 ? 101 : 301;
    assert.equal(r.ts, T0 + (r.id - first) * 1000 + 1_000_000, `reading ${r.id} re-stamped`);
  }
  assert.deepEqual(reader.problems(true), []);
});

Deno.test("segments of an earlier run are adopted in the same boot (held, to re-stamp) and abandoned after a reboot", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  let store = Store.open(path, { durability: "normal" });
  store.clock.beginSegment({ ...segment(1), bootId: "boot-a", uptimeAnchor: 5000 });
  store.appendBatch(batch(7, T0, 1)); // ids 1-7
  store.clock.beginSegment({ ...segment(2), bootId: "boot-b", uptimeAnchor: 9000 });
  store.appendBatch(batch(3, T0 + 7000, 2)); // ids 8-10
  store.close();
  store = Store.open(path, { durability: "normal" });
  try {
    assert.equal(store.clock.nextSegmentId(), 3);
    const { adopted, abandoned } = store.clock.adoptEarlier("boot-b", T0);
    assert.deepEqual(adopted, [{ id: 2, wallAnchor: T0, uptimeAnchor: 9000 }]);
    assert.equal(abandoned, 7, "boot-a is gone: its readings stay provisional");
    assert.equal(store.clock.heldFrom(2), 8, "forwarders hold the adopted segment's readings");
    assert.deepEqual(store.clock.adoptEarlier("boot-b", T0).abandoned, 0, "abandoned once");
    assert.equal(store.clock.floor(), T0 + 9000);
    assert.equal(store.clock.restamp(2, 1000, T0), 3);
  } finally {
    store.close();
  }
  using reader = Reader.open(path);
  const summary = reader.clockSummary()!;
  assert.deepEqual([summary.provisional, summary.restamped, summary.abandonedSegments], [7, 3, 1]);
  assert.equal(reader.stampStatus()(4), "provisional");
  assert.equal(reader.stampStatus()(9), "restamped");
});

Deno.test("a schema 3 database upgrades to 4 in place: its readings stay, the clock tables come", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "old.db");
  // A schema 3 file: what this build writes, without what version 4 added.
  let store = Store.open(path, { durability: "normal" });
  store.append(Array.from({ length: 100 }, (_, i) => ({ sensor: "t", ts: T0 + i, value: i })));
  store.close();
  const db = new DatabaseSync(path);
  db.exec("DROP TABLE clock_segments; DROP TABLE clock_provisional; PRAGMA user_version = 3;");
  db.close();
  {
    using reader = Reader.open(path);
    assert.equal(reader.schemaVersion, 3);
    assert.equal(reader.clockSummary(), undefined, "an old file reads as it is");
    assert.equal(reader.stampStatus()(1), undefined);
  }
  store = Store.open(path, { durability: "normal" });
  try {
    assert.equal(store.migratedFrom, 3);
    assert.equal(store.pragma("user_version"), SCHEMA_VERSION);
    assert.equal(store.clock.nextSegmentId(), 1);
  } finally {
    store.close();
  }
  using reader = Reader.open(path);
  assert.equal(reader.readingCount(), 100);
  assert.deepEqual(reader.clockSummary()?.segments, 0);
  assert.equal(integrityCheck(path), "ok");
});
