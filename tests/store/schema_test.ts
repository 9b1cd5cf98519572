import assert from "node:assert/strict";
import { join } from "node:path";
import { Reader, SCHEMA_VERSION, Store } from "../../lib/store/mod.ts";
import { createSchema2Database, integrityCheck, tempDir, withDb } from "../_helpers/database.ts";

Deno.test("a schema 2 database upgrades in place: every reading stays, the per-sensor index goes, chunks come", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "old.db");
  const start = Date.UTC(2026, 0, 1);
  createSchema2Database(path, 50_000, { sensors: 5, startTs: start });
  const before = (() => {
    using reader = Reader.open(path); // an old file reads as it is, without being changed
    assert.equal(reader.schemaVersion, 2);
    return [...reader.readings({})].map((r) => `${r.id} ${r.sensor} ${r.ts} ${r.value}`);
  })();
  assert.equal(before.length, 50_000);
  const store = Store.open(path, { durability: "normal" });
  try {
    assert.equal(store.migratedFrom, 2);
    assert.equal(store.pragma("user_version"), SCHEMA_VERSION);
    const index = withDb(
      path,
      (db) => db.prepare("SELECT name FROM sqlite_schema WHERE name = 'readings_sensor_ts'").get(),
    );
    assert.equal(index, undefined, "the per-sensor index of the hot table is gone");
    store.append([{ sensor: "s-1", ts: Date.now(), value: 1 }]);
    const compaction = store.retention({ downsampleBucketMs: 60_000, compactMinRows: 1, compactMaxRows: 7000 });
    while (compaction.step() !== "idle");
    assert.equal(compaction.counters.compacted, 50_000, "the old readings moved into chunks; the new one is hot");
  } finally {
    store.close();
  }
  using reader = Reader.open(path);
  const after = [...reader.readings({})].filter((r) => r.id <= 50_000).map((r) =>
    `${r.id} ${r.sensor} ${r.ts} ${r.value}`
  );
  assert.deepEqual(after, before, "the same readings, in the same order");
  assert.equal(reader.readingCount(), 50_001);
  assert.equal(reader.maxId(), 50_001, "the new reading continues the old ids");
  assert.equal(integrityCheck(path), "ok");
});
