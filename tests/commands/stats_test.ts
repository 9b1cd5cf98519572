import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { seedReadings, tempDir } from "../_helpers/database.ts";
import { runOnce } from "../_helpers/process.ts";
import { SCHEMA_VERSION } from "../../lib/store/mod.ts";

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
  assert.equal(s.schema_version, SCHEMA_VERSION);
  assert.equal(s.first_ts, start);
  assert.equal(s.last_ts, start + (100_000 / 5 - 1) * 1000);
  assert.equal(s.db_bytes, Deno.statSync(db).size);
  assert.equal(s.db_bytes, s.page_size * s.page_count);
  assert.equal(s.writer_pid, null);
  assert.ok(s.bytes_per_reading > 10 && s.bytes_per_reading < 100, String(s.bytes_per_reading));
  // Compacted, the same readings report the same counts and span in a fraction of the bytes.
  assert.equal((await runOnce(["compact", "--db", db, "--all"])).code, 0);
  const c = JSON.parse((await runOnce(["stats", "--db", db, "--json"])).stdout);
  assert.deepEqual([c.readings, c.sensors, c.first_ts, c.last_ts], [100_000, 5, s.first_ts, s.last_ts]);
  assert.ok(c.bytes_per_reading < 6, `compacted: ${c.bytes_per_reading} bytes per reading`);
});

Deno.test("stats for humans names the database, the counts and the WAL", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  await seedReadings(db, 10, { sensors: 2 });
  const { code, stdout } = await runOnce(["stats", "--db", db]);
  assert.equal(code, 0);
  assert.match(stdout, new RegExp(`^database +.*e\\.db \\(schema ${SCHEMA_VERSION}\\)$`, "m"));
  assert.match(stdout, /^readings +10 raw$/m);
  assert.match(stdout, /^logger +not running$/m);
  assert.match(stdout, /^WAL file +0 B/m);
});

Deno.test("stats shows each forwarder's lag in readings and seconds", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  const start = Date.now() - 100_000;
  await seedReadings(db, 100, { sensors: 1, startTs: start, stepMs: 1000 });
  const w = new DatabaseSync(db);
  w.exec("INSERT INTO forward_cursors(name, last_id) VALUES ('central', 40), ('mqtt', 100)");
  w.close();
  const { code, stdout, stderr } = await runOnce(["stats", "--db", db, "--json"]);
  assert.equal(code, 0, stderr);
  const lag = new Map(JSON.parse(stdout).forwarders.map((f: { name: string }) => [f.name, f]));
  assert.deepEqual({ ...(lag.get("central") as object), seconds: 0 }, {
    name: "central",
    cursor: 40,
    rows: 60,
    seconds: 0,
  });
  const seconds = (lag.get("central") as { seconds: number }).seconds;
  assert.ok(seconds >= 59 && seconds < 120, `oldest unsent reading is about 60 s old, got ${seconds}`);
  assert.deepEqual(lag.get("mqtt"), { name: "mqtt", cursor: 100, rows: 0, seconds: 0 });
  const human = await runOnce(["stats", "--db", db]);
  assert.match(human.stdout, /^forwarder +central: 60 readings behind \(\d+ s\), cursor at id 40$/m);
});
