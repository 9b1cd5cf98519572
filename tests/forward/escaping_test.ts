import assert from "node:assert/strict";
import type { StoredReading } from "../../lib/store/mod.ts";
import { tempDir } from "../_helpers/database.ts";
import { waitFor } from "../_helpers/process.ts";
import { announceSkip, InfluxDB1, missing, VictoriaMetrics } from "../_helpers/upstreams.ts";
import { InfluxForwarder } from "../../lib/forward/influx.ts";
import { type InfluxTarget, parseForwardTarget } from "../../lib/forward/target.ts";
import { carries, EDGE_NAMES, NAME_SEED, nameFactory } from "./_names.ts";

const seedNote = `(replay with EDGELOG_FUZZ_SEED=${NAME_SEED})`;
const BASE_TS = Date.now() - 60_000;

/** The edge names and random ones, each with a random unit or none; ts and value identify the row. */
function makeRows(count: number): StoredReading[] {
  const names = nameFactory();
  const sensors = [...EDGE_NAMES];
  while (sensors.length < count) sensors.push(names.sensor());
  return sensors.map((sensor, i) => ({
    id: i + 1,
    sensor,
    unit: i % 3 === 0 ? null : i % 3 === 1 ? names.unit() : "m/s, avg",
    ts: BASE_TS + i,
    value: i + 0.25,
  }));
}

const ROWS = makeRows(300);

function expected(dialect: string, template: boolean): { sent: StoredReading[]; refused: StoredReading[] } {
  const ok = (r: StoredReading) =>
    template
      ? carries(dialect, r.sensor, "measurement")
      : carries(dialect, r.sensor, "key") && (r.unit === null || carries(dialect, r.unit, "key"));
  return { sent: ROWS.filter(ok), refused: ROWS.filter((r) => !ok(r)) };
}

async function forward(url: string, rows: readonly StoredReading[]): Promise<InfluxForwarder> {
  const forwarder = new InfluxForwarder(parseForwardTarget(url) as InfluxTarget);
  for (let i = 0; i < rows.length; i += 100) await forwarder.send(rows.slice(i, i + 100));
  await forwarder.close();
  return forwarder;
}

type VmRow = { name: string; sensor?: string; unit?: string; value: number };

/** What VictoriaMetrics holds for constant tag `run`: ts → metric name, labels and value. */
async function vmRows(vm: VictoriaMetrics, run: string): Promise<Map<number, VmRow>> {
  await fetch(`${vm.url}/internal/force_flush`).then((r) => r.body?.cancel());
  const r = await fetch(`${vm.url}/api/v1/export`, {
    method: "POST",
    body: new URLSearchParams({ "match[]": `{run="${run}"}` }),
  });
  const out = new Map<number, VmRow>();
  for (const line of (await r.text()).split("\n")) {
    if (line.trim() === "") continue;
    const s = JSON.parse(line) as { metric: Record<string, string>; values: number[]; timestamps: number[] };
    s.timestamps.forEach((ts, i) =>
      out.set(ts, { name: s.metric.__name__, sensor: s.metric.sensor, unit: s.metric.unit, value: s.values[i] })
    );
  }
  return out;
}

type InfluxRow = { sensor?: string; unit?: string; value: number };

/** What InfluxDB holds in measurement `m`: ts → sensor, unit, value. */
async function influxRows(influx: InfluxDB1, m: string): Promise<Map<number, InfluxRow>> {
  const q = new URLSearchParams({ db: "edgelog", epoch: "ms", q: `SELECT "value", "sensor", "unit" FROM "${m}"` });
  const body = await (await fetch(`${influx.url}/query?${q}`)).json() as {
    results: { series?: { columns: string[]; values: unknown[][] }[] }[];
  };
  const out = new Map<number, InfluxRow>();
  for (const s of body.results[0]?.series ?? []) {
    const col = (name: string) => s.columns.indexOf(name);
    for (const row of s.values) {
      out.set(row[col("time")] as number, {
        sensor: (row[col("sensor")] ?? undefined) as string | undefined,
        unit: (row[col("unit")] ?? undefined) as string | undefined,
        value: Number(row[col("value")]),
      });
    }
  }
  return out;
}

async function influxMeasurements(influx: InfluxDB1): Promise<Set<string>> {
  const q = new URLSearchParams({ db: "edgelog", q: "SHOW MEASUREMENTS" });
  const body = await (await fetch(`${influx.url}/query?${q}`)).json() as {
    results: { series?: { values: string[][] }[] }[];
  };
  return new Set((body.results[0]?.series?.[0]?.values ?? []).map((v) => v[0]));
}

function assertRefused(forwarder: InfluxForwarder, refused: readonly StoredReading[]): void {
  assert.equal(forwarder.refused, refused.length, `refused ${seedNote}: ${refused.map((r) => r.sensor).join(" | ")}`);
}

Deno.test({
  name: "VictoriaMetrics gets every valid sensor name and unit back exactly, in its own dialect and the portable one",
  ignore: announceSkip(missing("victoria-metrics", "victoria-metrics")),
  fn: async (t) => {
    await using dir = await tempDir();
    const vm = new VictoriaMetrics(dir.path);
    await vm.start();
    try {
      for (const dialect of ["victoriametrics", "portable"]) {
        await t.step(`dialect=${dialect}, names as tag values`, async () => {
          const { sent, refused } = expected(dialect, false);
          if (dialect === "victoriametrics") assert.equal(refused.length, 0);
          const f = await forward(`${vm.url}/write?dialect=${dialect}&tags=run:${dialect}`, ROWS);
          assertRefused(f, refused);
          let got = new Map<number, VmRow>();
          await waitFor(async () => (got = await vmRows(vm, dialect)).size >= sent.length, 20_000);
          assert.equal(got.size, sent.length, seedNote);
          for (const r of sent) {
            const want = { name: "edgelog_value", sensor: r.sensor, unit: r.unit ?? undefined, value: r.value };
            assert.deepEqual(got.get(r.ts), want, `${JSON.stringify(r.sensor)} ${seedNote}`);
          }
        });
        await t.step(`dialect=${dialect}, names as measurements`, async () => {
          const { sent, refused } = expected(dialect, true);
          const run = `${dialect}-m`;
          const f = await forward(
            `${vm.url}/write?dialect=${dialect}&measurement={sensor}&field=v&sensor-tag=&unit-tag=&tags=run:${run}`,
            ROWS,
          );
          assertRefused(f, refused);
          let got = new Map<number, VmRow>();
          await waitFor(async () => (got = await vmRows(vm, run)).size >= sent.length, 20_000);
          for (const r of sent) assert.equal(got.get(r.ts)?.name, `${r.sensor}_v`, seedNote);
        });
      }
    } finally {
      await vm.stop();
    }
  },
});

Deno.test({
  name: "InfluxDB 1.x gets every valid sensor name and unit back exactly, in its own dialect and the portable one",
  ignore: announceSkip(missing("influxd", "influxdb")),
  fn: async (t) => {
    await using dir = await tempDir();
    const influx = new InfluxDB1(dir.path);
    await influx.start();
    try {
      for (const dialect of ["influxdb1", "portable"]) {
        await t.step(`dialect=${dialect}, names as tag values`, async () => {
          const { sent, refused } = expected(dialect, false);
          const f = await forward(`${influx.url}/write?db=edgelog&dialect=${dialect}&measurement=${dialect}`, ROWS);
          assertRefused(f, refused);
          const got = await influxRows(influx, dialect);
          assert.equal(got.size, sent.length, seedNote);
          for (const r of sent) {
            const want = { sensor: r.sensor, unit: r.unit ?? undefined, value: r.value };
            assert.deepEqual(got.get(r.ts), want, `${JSON.stringify(r.sensor)} ${seedNote}`);
          }
        });
      }
      await t.step("dialect=influxdb1, names as measurements", async () => {
        const { sent, refused } = expected("influxdb1", true);
        const before = await influxMeasurements(influx);
        const f = await forward(
          `${influx.url}/write?db=edgelog&dialect=influxdb1&measurement={sensor}&field=v&sensor-tag=&unit-tag=`,
          ROWS,
        );
        assertRefused(f, refused);
        const got = await influxMeasurements(influx);
        for (const m of before) got.delete(m);
        assert.deepEqual([...got].sort(), [...new Set(sent.map((r) => r.sensor))].sort(), seedNote);
      });
    } finally {
      await influx.stop();
    }
  },
});

Deno.test("the dialect comes from dialect=, else from VictoriaMetrics' own /influx/ paths, else portable", () => {
  const dialect = (url: string) => (parseForwardTarget(url) as InfluxTarget).dialect;
  assert.equal(dialect("http://vm:8428/write"), "portable");
  assert.equal(dialect("http://influx:8086/write?db=x"), "portable");
  assert.equal(dialect("http://vm:8428/influx/api/v2/write"), "victoriametrics");
  assert.equal(dialect("http://influx:8086/write?db=x&dialect=influxdb1"), "influxdb1");
  assert.throws(() => parseForwardTarget("http://vm/write?dialect=vm"), /dialect=vm: expected one of portable/);
  assert.throws(() => parseForwardTarget("http://vm/write?measurement=%23m"), /starts with # .*comment/);
  assert.throws(() => parseForwardTarget("http://vm/write?tags=site:a%5C"), /ends with a backslash/);
});

Deno.test({
  name: "a path the server does not serve is a permanent error (VictoriaMetrics answers 400)",
  ignore: announceSkip(missing("victoria-metrics", "victoria-metrics")),
  fn: async () => {
    await using dir = await tempDir();
    const vm = new VictoriaMetrics(dir.path);
    await vm.start();
    try {
      const forwarder = new InfluxForwarder(parseForwardTarget(`${vm.url}/no-such-path`) as InfluxTarget);
      await assert.rejects(forwarder.send(ROWS.slice(0, 5)), (e: { permanent?: boolean; status?: number }) => {
        assert.equal(e.permanent, true);
        assert.equal(e.status, 400);
        return true;
      });
    } finally {
      await vm.stop();
    }
  },
});

Deno.test({
  name: "the InfluxDB 2.x write path with org, bucket and a token works against VictoriaMetrics' /influx/api/v2/write",
  ignore: announceSkip(missing("victoria-metrics", "victoria-metrics")),
  fn: async () => {
    await using dir = await tempDir();
    const vm = new VictoriaMetrics(dir.path);
    await vm.start();
    try {
      const t = parseForwardTarget(
        `${vm.url}/influx/api/v2/write?org=acme&bucket=edge&token=t0k&gzip=true&measurement=room&tags=run:v2`,
      ) as InfluxTarget;
      assert.equal(t.authorization, "Token t0k");
      assert.equal(t.dialect, "victoriametrics");
      const forwarder = new InfluxForwarder(t);
      await forwarder.send(ROWS);
      await forwarder.close();
      let got = new Map<number, VmRow>();
      await waitFor(async () => (got = await vmRows(vm, "v2")).size === ROWS.length, 20_000);
      for (const r of ROWS) assert.equal(got.get(r.ts)?.sensor, r.sensor, seedNote);
    } finally {
      await vm.stop();
    }
  },
});
