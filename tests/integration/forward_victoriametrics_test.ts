import assert from "node:assert/strict";
import { join } from "node:path";
import { countReadings, readingsByKey, tempDir, withDb } from "../_helpers/database.ts";
import { waitFor } from "../_helpers/process.ts";
import { Reader } from "../../lib/store/mod.ts";
import { announceSkip, missing, VictoriaMetrics } from "../_helpers/upstreams.ts";
import { runOutageScenario, sameValue, type Scenario } from "./_forward_scenario.ts";

const skip = missing("victoria-metrics", "victoria-metrics");

/** Every reading stored in `db` is in VictoriaMetrics with its value, and nothing else is. */
async function assertAllDelivered(db: string, vm: VictoriaMetrics): Promise<void> {
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
    using reader = Reader.open(db);
    const missing = new Set(missingKeys);
    const ids = [...reader.readings({})].filter((r) => missing.has(`${r.sensor}|${r.ts}`)).map((r) => r.id);
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
}

/**
 * The outage scenario against a real VictoriaMetrics with `scenario`'s restarts and pace, then
 * every reading checked there; `beforeUpstreamReturns` sees the database at the end of the outage.
 */
async function outageToVictoriaMetrics(
  scenario: Pick<Scenario, "restarts" | "step" | "rate" | "extraArgs">,
  beforeUpstreamReturns?: (db: string) => void,
): Promise<void> {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const vm = new VictoriaMetrics(dir.path);
  await vm.start();
  try {
    await runOutageScenario({
      ...scenario,
      db,
      forward: `${vm.url}/write?backoff-min=0.2&backoff-max=1&batch=2000`,
      name: `${vm.url}/write`,
      upstream: vm,
      beforeUpstreamReturns: () => beforeUpstreamReturns?.(db),
    });
    await assertAllDelivered(db, vm);
  } finally {
    await vm.stop();
  }
}

Deno.test({
  name: "every reading reaches VictoriaMetrics across an outage with edgelog restarted by SIGTERM and SIGKILL",
  ignore: announceSkip(skip),
  fn: () => outageToVictoriaMetrics({ restarts: ["SIGTERM", "SIGKILL"], step: 4000, rate: 4000 }),
});

Deno.test({
  name: "every reading reaches VictoriaMetrics after an outage longer than --compact-after (sent from chunks)",
  ignore: announceSkip(skip),
  fn: async () => {
    let compacted = 0;
    await outageToVictoriaMetrics(
      { restarts: ["SIGKILL", "SIGTERM"], step: 6000, rate: 3000, extraArgs: ["--compact-after", "1s"] },
      (db) => {
        compacted = withDb(db, (d) => Number(d.prepare("SELECT coalesce(sum(count), 0) AS n FROM chunks").get()!.n));
      },
    );
    assert.ok(compacted > 6000, `readings were compacted before they were sent (${compacted})`);
  },
});
