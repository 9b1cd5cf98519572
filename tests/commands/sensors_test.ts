import assert from "node:assert/strict";
import { join } from "node:path";
import { seedReadings, tempDir } from "../_helpers/database.ts";
import { runOnce } from "../_helpers/process.ts";

Deno.test("sensors lists every sensor with unit, count, first and last reading", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  const start = Date.UTC(2026, 0, 1);
  await seedReadings(db, 30, { sensors: 3, startTs: start, stepMs: 1000 });
  const { code, stdout, stderr } = await runOnce(["sensors", "--db", db, "--format", "ndjson"]);
  assert.equal(code, 0, stderr);
  const rows = stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(rows, [
    { sensor: "s-1", unit: "°C", count: 10, first_ts: start, last_ts: start + 9000 },
    { sensor: "s-2", unit: null, count: 10, first_ts: start, last_ts: start + 9000 },
    { sensor: "s-3", unit: "°C", count: 10, first_ts: start, last_ts: start + 9000 },
  ]);
  const csv = await runOnce(["sensors", "--db", db]);
  assert.equal(csv.stdout.split("\r\n")[0], "sensor,unit,count,first,last");
  assert.equal(csv.stdout.split("\r\n")[1], "s-1,°C,10,2026-01-01T00:00:00.000Z,2026-01-01T00:00:09.000Z");
});

Deno.test("sensors on a missing database exits 4 and creates nothing", async () => {
  await using dir = await tempDir();
  const { code, stderr } = await runOnce(["sensors", "--db", join(dir.path, "nope", "e.db")]);
  assert.equal(code, 4);
  assert.match(stderr, /does not exist; nothing was created/);
  assert.deepEqual([...Deno.readDirSync(dir.path)], []);
});

Deno.test("sensors reads the database named by EDGELOG_DB", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  await seedReadings(db, 4, { sensors: 2 });
  const { code, stdout } = await runOnce(["sensors", "--format", "json"], { env: { EDGELOG_DB: db } });
  assert.equal(code, 0);
  assert.equal(JSON.parse(stdout).length, 2);
});
