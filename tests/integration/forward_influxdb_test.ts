import assert from "node:assert/strict";
import { join } from "node:path";
import { countReadings, readingsByKey, tempDir } from "../_helpers/database.ts";
import { waitFor } from "../_helpers/process.ts";
import { announceSkip, InfluxDB1, missing } from "../_helpers/upstreams.ts";
import { runOutageScenario, sameValue } from "./_forward_scenario.ts";

const skip = missing("influxd", "influxdb");

Deno.test({
  name: "every reading reaches InfluxDB 1.x across an outage with edgelog killed by SIGKILL during it",
  ignore: announceSkip(skip),
  fn: async () => {
    await using dir = await tempDir();
    const db = join(dir.path, "edgelog.db");
    const influx = new InfluxDB1(dir.path);
    await influx.start();
    try {
      await runOutageScenario({
        db,
        forward: `${influx.url}/write?db=edgelog&backoff-min=0.2&backoff-max=1&gzip=true`,
        name: `${influx.url}/write`,
        upstream: influx,
        restarts: ["SIGKILL"],
        step: 2000,
        rate: 2000,
      });
      const stored = readingsByKey(db);
      assert.equal(stored.size, countReadings(db), "precondition: (sensor, ts) is unique in the database");
      let received = new Map<string, number>();
      await waitFor(async () => (received = await influx.points()).size >= stored.size, 20_000).catch(() => {});
      for (const [key, want] of stored) {
        const got = received.get(key);
        assert.ok(got !== undefined, `InfluxDB lacks ${key}`);
        assert.ok(sameValue(got, want), `${key}: InfluxDB has ${got}, edgelog stored ${want}`);
      }
      assert.equal(received.size, stored.size, "InfluxDB holds nothing edgelog did not store");
    } finally {
      await influx.stop();
    }
  },
});
