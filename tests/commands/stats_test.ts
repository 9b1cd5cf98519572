import assert from "node:assert/strict";
import { join } from "node:path";
import { runOnce, seedReadings, tempDir } from "../_helpers.ts";

Deno.test("stats --json reports counts, sizes, bytes per reading and the time span", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  const start = Date.UTC(2026, 0, 1);
  await seedReadings(db, 100_000, { sensors: 5, startTs: start, stepMs: 1000 });
  const { code, stdout, stderr } = await runOnce(["stats", "--db", db, "--json"]);
  assert.equal(code, 0, stderr);
  const s = JSON.parse(stdout);
  assert.equal(s.readings, 100_000);
  assert.equal(s.sensors, 5);
  assert.equal(s.schema_version, 2);
  assert.equal(s.first_ts, start);
  assert.equal(s.last_ts, start + (100_000 / 5 - 1) * 1000);
  assert.equal(s.db_bytes, Deno.statSync(db).size);
  assert.equal(s.db_bytes, s.page_size * s.page_count);
  assert.equal(s.writer_pid, null);
  assert.ok(s.bytes_per_reading > 10 && s.bytes_per_reading < 100, String(s.bytes_per_reading));
});

Deno.test("stats for humans names the database, the counts and the WAL", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  await seedReadings(db, 10, { sensors: 2 });
  const { code, stdout } = await runOnce(["stats", "--db", db]);
  assert.equal(code, 0);
  assert.match(stdout, /^database +.*e\.db \(schema 2\)$/m);
  assert.match(stdout, /^readings +10 raw$/m);
  assert.match(stdout, /^logger +not running$/m);
  assert.match(stdout, /^WAL file +0 B/m);
});
