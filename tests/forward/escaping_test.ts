import assert from "node:assert/strict";
import type { StoredReading } from "../../lib/store/mod.ts";
import { tempDir } from "../_helpers/database.ts";
import { waitFor } from "../_helpers/process.ts";
import { announceSkip, InfluxDB1, missing, VictoriaMetrics } from "../_helpers/upstreams.ts";
import { InfluxForwarder } from "../../lib/forward/influx.ts";
import { type InfluxTarget, parseForwardTarget } from "../../lib/forward/target.ts";

/** Sensor names that need every escaping rule, with units that need them too. */
const BASE_TS = Date.now() - 60_000;
const NAMES = ["space here", "comma,in", "eq=in", "back\\slash", 'quote"d', "ünïcödé", "a,b=c d\\e", "#hash"];

function rows(): StoredReading[] {
  return NAMES.map((sensor, i) => ({
    id: i + 1,
    sensor,
    unit: i % 2 ? "°C" : "m/s, avg",
    ts: BASE_TS + i,
    value: i + 0.25,
  }));
}

function target(url: string): InfluxTarget {
  return parseForwardTarget(url) as InfluxTarget;
}

Deno.test({
  name: "VictoriaMetrics parses every escaped sensor name and unit back to the original",
  ignore: announceSkip(missing("victoria-metrics", "victoria-metrics")),
  fn: async () => {
    await using dir = await tempDir();
    const vm = new VictoriaMetrics(dir.path);
    await vm.start();
    try {
      const forwarder = new InfluxForwarder(target(`${vm.url}/write`));
      await forwarder.send(rows());
      await forwarder.close();
      let got = new Map<string, number[]>();
      await waitFor(
        async () => (got = await vm.samples()).size === NAMES.length,
        20_000,
        () => [...got.keys()].join(" | "),
      );
      for (const r of rows()) assert.deepEqual(got.get(`${r.sensor}|${r.ts}`), [r.value], r.sensor);
    } finally {
      await vm.stop();
    }
  },
});

Deno.test({
  name: "InfluxDB 1.x parses every escaped sensor name and unit back to the original",
  ignore: announceSkip(missing("influxd", "influxdb")),
  fn: async () => {
    await using dir = await tempDir();
    const influx = new InfluxDB1(dir.path);
    await influx.start();
    try {
      const forwarder = new InfluxForwarder(target(`${influx.url}/write?db=edgelog`));
      await forwarder.send(rows());
      await forwarder.close();
      const got = await influx.points();
      for (const r of rows()) assert.equal(got.get(`${r.sensor}|${r.ts}`), r.value, r.sensor);
      const q = new URLSearchParams({ db: "edgelog", q: 'SHOW TAG VALUES FROM "edgelog" WITH KEY = "unit"' });
      const units = JSON.stringify(await (await fetch(`${influx.url}/query?${q}`)).json());
      assert.ok(units.includes("m/s, avg") && units.includes("°C"), units);
    } finally {
      await influx.stop();
    }
  },
});

Deno.test({
  name: "a path the server does not serve is a permanent error (VictoriaMetrics answers 400)",
  ignore: announceSkip(missing("victoria-metrics", "victoria-metrics")),
  fn: async () => {
    await using dir = await tempDir();
    const vm = new VictoriaMetrics(dir.path);
    await vm.start();
    try {
      const forwarder = new InfluxForwarder(target(`${vm.url}/no-such-path`));
      await assert.rejects(forwarder.send(rows()), (e: { permanent?: boolean; status?: number }) => {
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
      const t = target(`${vm.url}/influx/api/v2/write?org=acme&bucket=edge&token=t0k&gzip=true&measurement=room`);
      assert.equal(t.authorization, "Token t0k");
      const forwarder = new InfluxForwarder(t);
      await forwarder.send(rows());
      await forwarder.close();
      let got = new Map<string, number[]>();
      await waitFor(async () => (got = await vm.samples('{__name__="room_value"}')).size === NAMES.length, 20_000);
      for (const r of rows()) assert.deepEqual(got.get(`${r.sensor}|${r.ts}`), [r.value], r.sensor);
    } finally {
      await vm.stop();
    }
  },
});
