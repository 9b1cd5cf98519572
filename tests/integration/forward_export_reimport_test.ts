import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/mod.ts";
import { tempDir } from "../_helpers/database.ts";
import { run, runOnce, waitFor } from "../_helpers/process.ts";
import { announceSkip, InfluxDB1, missing, VictoriaMetrics } from "../_helpers/upstreams.ts";
import { carries, NAME_SEED, namedReadings } from "../forward/_names.ts";

const seedNote = `(replay with EDGELOG_FUZZ_SEED=${NAME_SEED})`;
const T0 = Date.now() - 60_000;

const READINGS = namedReadings(250, T0);

/** A database with {@link READINGS} (one unit per sensor, as the store keeps it). */
function database(dir: string): string {
  const db = join(dir, "e.db");
  const store = Store.open(db, { durability: "normal" });
  try {
    store.append(READINGS);
  } finally {
    store.close();
  }
  return db;
}

function carried(dialect: string) {
  return READINGS.filter((r) => carries(dialect, r.sensor, "key") && (!r.unit || carries(dialect, r.unit, "key")));
}

async function exportLines(db: string, dialect: string): Promise<{ file: string; stderr: string }> {
  const file = `${db}.${dialect}.lp`;
  const out = await runOnce([
    ...["export", "--db", db, "--format", "line", "--dialect", dialect, "--measurement", dialect, "--out", file],
  ]);
  assert.equal(out.code, 0, out.stderr);
  const refused = READINGS.length - carried(dialect).length;
  assert.equal((out.stderr.match(/left out/g) ?? []).length, refused, `${out.stderr} ${seedNote}`);
  return { file, stderr: out.stderr };
}

Deno.test({
  name: "export --format line re-imported with influx -import gives InfluxDB 1.x every name and unit exactly",
  ignore: announceSkip(missing("influxd", "influxdb") ?? missing("influx", "influxdb-client")),
  fn: async () => {
    await using dir = await tempDir();
    const db = database(dir.path);
    const influx = new InfluxDB1(dir.path);
    await influx.start();
    try {
      for (const dialect of ["influxdb1", "portable"]) {
        const { file } = await exportLines(db, dialect);
        // influx -import wants its own header before the lines: the database they go to.
        const lines = await Deno.readTextFile(file);
        const importFile = `${file}.import`;
        await Deno.writeTextFile(importFile, `# DML\n# CONTEXT-DATABASE: edgelog\n${lines}`);
        const imported = await run("influx", [
          ...["-host", "127.0.0.1", "-port", String(influx.port), "-import", "-path", importFile, "-precision", "ns"],
        ]);
        assert.equal(imported.code, 0, imported.stderr + imported.stdout);
        assert.doesNotMatch(imported.stdout + imported.stderr, /[1-9]\d* points were not inserted|error/i);
        const q = new URLSearchParams({
          db: "edgelog",
          epoch: "ms",
          q: `SELECT "value", "sensor", "unit" FROM "${dialect}" ORDER BY time`,
        });
        const body = await (await fetch(`${influx.url}/query?${q}`)).json();
        const got = (body.results[0].series?.[0].values ?? []) as unknown[][];
        const want = carried(dialect).map((r) => [r.ts, r.value, r.sensor, r.unit ?? null]);
        assert.deepEqual(got, want, `dialect ${dialect} ${seedNote}`);
      }
    } finally {
      await influx.stop();
    }
  },
});

Deno.test({
  name: "export --format line posted to VictoriaMetrics' /write gives it every name and unit exactly",
  ignore: announceSkip(missing("victoria-metrics", "victoria-metrics")),
  fn: async () => {
    await using dir = await tempDir();
    const db = database(dir.path);
    const vm = new VictoriaMetrics(dir.path);
    await vm.start();
    try {
      for (const dialect of ["victoriametrics", "portable"]) {
        const { file } = await exportLines(db, dialect);
        const res = await fetch(`${vm.url}/write`, {
          method: "POST",
          body: await Deno.readFile(file),
        });
        assert.equal(res.status, 204, await res.text());
        const want = carried(dialect);
        let got = new Map<string, number[]>();
        const match = `{__name__="${dialect}_value"}`;
        await waitFor(async () => (got = await vm.samples(match)).size >= want.length, 20_000);
        assert.equal(got.size, want.length, seedNote);
        for (const r of want) assert.deepEqual(got.get(`${r.sensor}|${r.ts}`), [r.value], `${r.sensor} ${seedNote}`);
      }
    } finally {
      await vm.stop();
    }
  },
});
