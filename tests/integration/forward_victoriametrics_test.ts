import assert from "node:assert/strict";
import { join } from "node:path";
import { countReadings, readingsByKey, tempDir, withDb } from "../_helpers/database.ts";
import { waitFor } from "../_helpers/process.ts";
import { announceSkip, missing, VictoriaMetrics } from "../_helpers/upstreams.ts";
import { runOutageScenario, sameValue } from "./_forward_scenario.ts";

const skip = missing("victoria-metrics", "victoria-metrics");

Deno.test({
  name: "every reading reaches VictoriaMetrics across an outage with edgelog restarted by SIGTERM and SIGKILL",
  ignore: announceSkip(skip),
  fn: async () => {
    await using dir = await tempDir();
    const db = join(dir.path, "edgelog.db");
    const vm = new VictoriaMetrics(dir.path);
    await vm.start();
    try {
      await runOutageScenario({
        db,
        forward: `${vm.url}/write?backoff-min=0.2&backoff-max=1&batch=2000`,
        name: `${vm.url}/write`,
        upstream: vm,
        restarts: ["SIGTERM", "SIGKILL"],
        step: 4000,
        rate: 4000,
      });
      const stored = readingsByKey(db);
      assert.equal(stored.size, countReadings(db), "precondition: (sensor, ts) is unique in the database");
      // Acknowledged samples become visible to the export API after VictoriaMetrics' flush.
      let received = new Map<string, number[]>();
      let missingKeys: string[] = [];
      await waitFor(async () => {
        received = await vm.samples();
        missingKeys = [...stored.keys()].filter((k) => !received.has(k));
        return missingKeys.length === 0;
      }, 30_000).catch(() => {});
      if (missingKeys.length > 0) {
        const ids = withDb(db, (d) =>
          missingKeys.map((k) => {
            const [sensor, ts] = k.split("|");
            return Number(
              (d.prepare(
                "SELECT r.id AS id FROM readings r JOIN sensors s ON s.id = r.sensor_id WHERE s.name = ? AND r.ts = ?",
              ).get(sensor, Number(ts)) as { id: number }).id,
            );
          }));
        console.error(
          `missing ids ${Math.min(...ids)}..${Math.max(...ids)} (${ids.length}), max id ${countReadings(db)}`,
        );
      }
      assert.equal(missingKeys.length, 0, `missing in VictoriaMetrics: ${missingKeys.slice(0, 5).join(", ")}`);
      for (const [key, values] of received) {
        const want = stored.get(key);
        assert.ok(want !== undefined, `VictoriaMetrics has ${key}, which edgelog never stored`);
        assert.ok(values.every((v) => sameValue(v, want)), `${key}: ${values.join(", ")} but stored ${want}`);
      }
      assert.equal(received.size, stored.size);
    } finally {
      await vm.stop();
    }
  },
});
