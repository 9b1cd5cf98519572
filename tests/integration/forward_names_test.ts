import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/mod.ts";
import { cursorOf, maxReadingId, tempDir } from "../_helpers/database.ts";
import { spawnLogger, waitFor } from "../_helpers/process.ts";
import { announceSkip, InfluxDB1, missing, VictoriaMetrics } from "../_helpers/upstreams.ts";
import { carries, NAME_SEED, namedReadings } from "../forward/_names.ts";

const seedNote = `(replay with EDGELOG_FUZZ_SEED=${NAME_SEED})`;
const T0 = Date.now() - 60_000;
const READINGS = namedReadings(200, T0);

Deno.test({
  name:
    "edgelog --forward delivers every valid name exactly to VictoriaMetrics and InfluxDB 1.x, and names what it cannot",
  ignore: announceSkip(missing("victoria-metrics", "victoria-metrics") ?? missing("influxd", "influxdb")),
  fn: async () => {
    await using dir = await tempDir();
    const db = join(dir.path, "edgelog.db");
    const store = Store.open(db, { durability: "normal" });
    store.append(READINGS);
    store.close();
    const vm = new VictoriaMetrics(dir.path);
    const influx = new InfluxDB1(dir.path);
    await Promise.all([vm.start(), influx.start()]);
    const logger = spawnLogger([
      ...["--db", db, "--sim-rate", "0", "--log-format", "json"],
      ...["--forward", `${vm.url}/write?dialect=victoriametrics&name=vm`],
      ...["--forward", `${influx.url}/write?db=edgelog&dialect=influxdb1&name=influx`],
    ]);
    try {
      await logger.waitUntilLogging();
      const last = maxReadingId(db);
      await waitFor(
        () => cursorOf(db, "vm") === last && cursorOf(db, "influx") === last,
        30_000,
        () => logger.stderrLines.slice(-10).join("\n"),
      );

      let got = new Map<string, number[]>();
      await waitFor(async () => (got = await vm.samples()).size >= READINGS.length, 20_000);
      for (const r of READINGS) assert.deepEqual(got.get(`${r.sensor}|${r.ts}`), [r.value], `${r.sensor} ${seedNote}`);

      const carried = READINGS.filter((r) =>
        carries("influxdb1", r.sensor, "key") && (!r.unit || carries("influxdb1", r.unit, "key"))
      );
      const points = await influx.points();
      assert.equal(points.size, carried.length, seedNote);
      for (const r of carried) assert.equal(points.get(`${r.sensor}|${r.ts}`), r.value, `${r.sensor} ${seedNote}`);
      const warned = logger.records.filter((r) => /are not sent/.test(r.message)).map((r) => r.sensor);
      assert.deepEqual(
        warned.sort(),
        READINGS.filter((r) => !carried.includes(r)).map((r) => r.sensor).sort(),
        "one warning per sensor InfluxDB 1.x cannot get exactly",
      );
    } finally {
      logger.kill("SIGTERM");
      await logger.child.status;
      await Promise.all([vm.stop(), influx.stop()]);
    }
  },
});
