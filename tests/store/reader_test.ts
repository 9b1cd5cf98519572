import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Reader, Store } from "../../lib/store/mod.ts";
import { seedReadings, tempDir } from "../_helpers/database.ts";
import { ConfigError, DatabaseError } from "../../lib/errors.ts";

const NOW = Date.UTC(2026, 0, 31, 12, 0, 0);

Deno.test("Reader.open never creates a missing database", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "missing.db");
  assert.throws(
    () => Reader.open(path),
    (e: unknown) => e instanceof DatabaseError && /does not exist/.test(e.message),
  );
  assert.deepEqual([...Deno.readDirSync(dir.path)], []);
});

Deno.test("Reader.open refuses a SQLite file of another application without changing it", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "other.db");
  const db = new DatabaseSync(path);
  db.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1)");
  db.close();
  const before = Deno.readFileSync(path);
  assert.throws(
    () => Reader.open(path),
    (e: unknown) => e instanceof DatabaseError && /not an edgelog database/.test(e.message),
  );
  assert.deepEqual(Deno.readFileSync(path), before);
});

Deno.test("resolveSensors matches names and globs, and names every pattern that matches nothing", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  await seedReadings(path, 120, { sensors: 12 });
  using reader = Reader.open(path);
  assert.deepEqual(reader.resolveSensors(["s-1"], "--sensor").map((s) => s.name), ["s-1"]);
  assert.deepEqual(reader.resolveSensors(["s-1?"], "--sensor").map((s) => s.name), ["s-10", "s-11", "s-12"]);
  assert.equal(reader.resolveSensors([], "--sensor").length, 12);
  assert.throws(() => reader.resolveSensors(["nope", "x*", "s-2"], "--sensor"), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.problems.length, 2);
    assert.match(e.problems[0], /--sensor: no sensor matches "nope"; known sensors: s-1, s-10/);
    return true;
  });
});

Deno.test("readings returns one sensor's range in time order across pages", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const start = Date.UTC(2026, 0, 1);
  await seedReadings(path, 50_000, { sensors: 2, startTs: start, stepMs: 1000 });
  using reader = Reader.open(path);
  const sensors = reader.resolveSensors(["s-2"], "--sensor");
  const rows = [...reader.readings({ sensors, since: start + 1000, until: start + 20_001_000 })];
  assert.equal(rows.length, 20_000);
  assert.equal(rows[0].ts, start + 1000);
  assert.ok(rows.every((r, i) => r.sensor === "s-2" && (i === 0 || r.ts > rows[i - 1].ts)));
  assert.equal([...reader.readings({ sensors }, 7)].length, 7);
});

Deno.test("buckets compute avg, min, max, count and last per sensor and bucket", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const start = Date.UTC(2026, 0, 1);
  // 1 sensor, one reading per second, value (i mod 1000)/10: within a minute i = 60k..60k+59.
  await seedReadings(path, 3600, { sensors: 1, startTs: start, stepMs: 1000 });
  using reader = Reader.open(path);
  const buckets = [...reader.buckets({}, 60_000)];
  assert.equal(buckets.length, 60);
  for (const [k, b] of buckets.entries()) {
    const values = Array.from({ length: 60 }, (_, j) => ((k * 60 + j) % 1000) / 10);
    assert.equal(b.ts, start + k * 60_000);
    assert.equal(b.count, 60);
    assert.equal(b.min, Math.min(...values));
    assert.equal(b.max, Math.max(...values));
    assert.ok(Math.abs(b.avg - values.reduce((a, v) => a + v, 0) / 60) < 1e-9);
    assert.equal(b.last, values[59]);
  }
  // A range that starts mid-bucket covers only the readings in it; many windows are walked.
  const part = [...reader.buckets({ since: start + 30_000, until: start + 90_000 }, 60_000)];
  assert.deepEqual(part.map((b) => [b.ts, b.count]), [[start, 30], [start + 60_000, 30]]);
  const fine = [...reader.buckets({}, 1000)];
  assert.equal(fine.length, 3600);
});

Deno.test("readings pages through many readings with the same timestamp without repeating or skipping", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const store = Store.open(path, { durability: "normal" });
  try {
    // 5000 readings at one instant, then 10 later ones: pages of 2000 split the tie.
    store.append(Array.from({ length: 5000 }, (_, i) => ({ sensor: "a", ts: NOW, value: i })));
    store.append(Array.from({ length: 10 }, (_, i) => ({ sensor: "a", ts: NOW + 1 + i, value: 5000 + i })));
  } finally {
    store.close();
  }
  using reader = Reader.open(path);
  const values = [...reader.readings({})].map((r) => r.value);
  assert.deepEqual(values, Array.from({ length: 5010 }, (_, i) => i));
  const since = [...reader.readings({ since: NOW + 5 })].map((r) => r.value);
  assert.deepEqual(since, [5004, 5005, 5006, 5007, 5008, 5009]);
});
