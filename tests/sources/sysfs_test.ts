import assert from "node:assert/strict";
import type { Logger } from "@logtape/logtape";
import { Rejections } from "../../lib/sources/_rejections.ts";
import { iioChannels, parseW1Slave, SysfsSource } from "../../lib/sources/sysfs.ts";
import { tempDir } from "../_helpers/database.ts";
import { FAKE_IIO_W1, FAKE_IIO_W1_READINGS, FAKE_SYSFS, writeFakeSysfs } from "../_helpers/sysfs.ts";

const TS = Date.UTC(2026, 0, 1);

function warnings(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { log: { warn: (_m: string, p: Record<string, unknown>) => lines.push(p) } as unknown as Logger, lines };
}

Deno.test("sysfs reads thermal zones and hwmon channels with the right names and units", async () => {
  await using dir = await tempDir();
  await writeFakeSysfs(dir.path, FAKE_SYSFS);
  const source = new SysfsSource({ root: dir.path, intervalMs: 1000, now: () => TS, log: warnings().log });
  const readings = await source.sample();
  const got = Object.fromEntries(readings.map((r) => [r.sensor, [r.value, r.unit]]));
  assert.deepEqual(got, {
    "thermal_zone0/acpitz": [27.8, "°C"],
    "thermal_zone1/x86_pkg_temp": [45, "°C"],
    "coretemp/temp1": [46, "°C"],
    "coretemp/temp2": [-1.5, "°C"],
    "nvme@hwmon1/temp1": [38.85, "°C"],
    "nvme@hwmon2/in0": [12.096, "V"],
    "nvme@hwmon2/fan1": [1200, "rpm"],
    "nvme@hwmon2/power1": [4.5, "W"],
    "nvme@hwmon2/curr1": [0.25, "A"],
  });
  assert.ok(readings.every((r) => r.ts === TS));
});

Deno.test("unreadable or garbled files are skipped with one warning each, not one per sample", async () => {
  await using dir = await tempDir();
  await writeFakeSysfs(dir.path, {
    ...FAKE_SYSFS,
    "class/hwmon/hwmon0/temp3_input": "N/A\n",
    "class/thermal/thermal_zone2/type": "broken\n",
  });
  // temp of zone 2 is a directory: reading it fails like an unreadable file does.
  await Deno.mkdir(`${dir.path}/class/thermal/thermal_zone2/temp`);
  const { log, lines } = warnings();
  const source = new SysfsSource({ root: dir.path, intervalMs: 1000, now: () => TS, log });
  for (let i = 0; i < 3; i++) assert.equal((await source.sample()).length, 9);
  assert.equal(lines.length, 2, JSON.stringify(lines));
  assert.ok(lines.some((l) => String(l.path).endsWith("temp3_input")));
  assert.ok(lines.some((l) => String(l.path).endsWith("thermal_zone2/temp")));
});

Deno.test("a missing sysfs root yields no readings and one warning per class directory", async () => {
  await using dir = await tempDir();
  const { log, lines } = warnings();
  const source = new SysfsSource({ root: `${dir.path}/nope`, intervalMs: 1000, now: () => TS, log });
  assert.deepEqual(await source.sample(), []);
  assert.deepEqual(await source.sample(), []);
  assert.equal(lines.length, 2);
});

Deno.test("sysfs samples at start and then every interval until stopped", async () => {
  await using dir = await tempDir();
  await writeFakeSysfs(dir.path, FAKE_SYSFS);
  const source = new SysfsSource({ root: dir.path, intervalMs: 20, log: warnings().log });
  let emits = 0;
  source.start(() => (emits++, 0));
  const deadline = Date.now() + 10_000;
  while (emits < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await source.stop();
  const after = emits;
  assert.ok(after >= 3);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(emits, after, "nothing emitted after stop");
});

Deno.test("IIO channels (processed, raw with scale and offset) and 1-Wire thermometers are read per the kernel ABI", async () => {
  await using dir = await tempDir();
  await writeFakeSysfs(dir.path, { ...FAKE_SYSFS, ...FAKE_IIO_W1 });
  const bad: string[] = [];
  const rejections = new Rejections("sysfs", { reject: (reason) => bad.push(reason) }, { log: warnings().log });
  const { log, lines } = warnings();
  const source = new SysfsSource({ root: dir.path, intervalMs: 1000, now: () => TS, log, rejections });
  const readings = await source.sample();
  const got = Object.fromEntries(
    readings.filter((r) => !r.sensor.includes("thermal") && !/^(coretemp|nvme)/.test(r.sensor))
      .map((r) => [r.sensor, [Number(r.value.toPrecision(12)), r.unit]]),
  );
  assert.deepEqual(got, FAKE_IIO_W1_READINGS);
  assert.deepEqual(bad, ["bad_crc"]);
  assert.deepEqual(lines, []);
});

Deno.test("parseW1Slave reads t= only under a YES CRC line; iioChannels prefers _input over _raw", () => {
  assert.deepEqual(parseW1Slave("aa : crc=57 YES\naa t=-1250\n"), { ok: true, milli: -1250 });
  assert.deepEqual(parseW1Slave("aa : crc=57 NO\naa t=1250\n"), { ok: false, crc: true });
  assert.deepEqual(parseW1Slave(""), { ok: false, crc: false });
  assert.deepEqual(parseW1Slave("aa : crc=57 YES\n"), { ok: false, crc: false });
  assert.deepEqual(
    iioChannels(["in_temp_raw", "in_temp_input", "in_temp_scale", "in_accel_x_raw", "in_accel_scale", "in_foo_raw"])
      .map((c) => [c.channel, c.file, c.scale ?? null]),
    [["accel_x", "in_accel_x_raw", "in_accel_scale"], ["temp", "in_temp_input", "in_temp_scale"]],
  );
});
