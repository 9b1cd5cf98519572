/**
 * The `sysfs` source: Linux temperatures and other hardware monitor values, sampled every
 * interval from `/sys/class/thermal/thermal_zone*`, `/sys/class/hwmon/hwmon*`, Industrial I/O
 * devices (`/sys/bus/iio/devices/iio:device*`: I2C/SPI temperature, humidity, pressure, light,
 * ADC… sensors) and 1-Wire thermometers (`/sys/bus/w1/devices/28-*`).
 *
 * Names: `thermal_zoneN/TYPE` (from the zone's `type` file) and `CHIP/CHANNEL` for hwmon (e.g.
 * `coretemp/temp1`; `CHIP@hwmonN/…` when two chips share a name). Units follow the kernel's
 * sysfs ABI: temperatures are millidegrees Celsius, voltages millivolts, currents milliamperes,
 * power microwatts, fans RPM; they are stored as °C, V, A, W and rpm. Missing or unreadable files
 * are skipped with one warning each (not one per tick); the tree is scanned every tick, so
 * sensors that appear later are picked up. IIO channels are named `DEVICE/CHANNEL` from the
 * device's `name` file (`bme280/temp`), 1-Wire thermometers `w1/ID` (`w1/28-0316a279a1ff`); the
 * `iio` and `w1` buses are optional, so their absence is not warned about.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { join } from "node:path";
import { logger } from "../log.ts";
import type { Emit } from "../pipeline.ts";
import type { Reading } from "../reading.ts";
import { checkReading } from "./_reading_parser.ts";
import type { Rejections } from "./_rejections.ts";
import type { Source } from "./source.ts";

/** Options of {@link SysfsSource}. */
export interface SysfsOptions {
  /** Root of the sysfs tree, `/sys` on a real system. */
  root: string;
  intervalMs: number;
  /** Where a 1-Wire read with a failed CRC is counted (`bad_crc`). */
  rejections?: Rejections;
  /** Wall clock in unix ms; injectable for tests. */
  now?: () => number;
  log?: Logger;
}

/**
 * IIO channel types read, with the divisor from the kernel's unit (after `_scale`/`_offset`) to
 * the stored one (Documentation/ABI/testing/sysfs-bus-iio).
 */
const IIO_KINDS: Readonly<Record<string, { divisor: number; unit: string }>> = {
  temp: { divisor: 1000, unit: "°C" },
  humidityrelative: { divisor: 1000, unit: "%" },
  pressure: { divisor: 1, unit: "kPa" },
  voltage: { divisor: 1000, unit: "V" },
  current: { divisor: 1000, unit: "A" },
  power: { divisor: 1000, unit: "W" },
  illuminance: { divisor: 1, unit: "lx" },
  resistance: { divisor: 1, unit: "Ω" },
  accel: { divisor: 1, unit: "m/s²" },
  anglvel: { divisor: 1, unit: "rad/s" },
};
const IIO_CHANNEL = /^in_(([a-z]+)[0-9a-z_-]*)_(input|raw)$/;
const NUMBER = /^-?\d+(\.\d+)?$/;
/** 1-Wire families of thermometers (w1_therm): DS18S20, DS1822, DS18B20, DS1825, DS28EA00. */
const W1_THERMOMETER = /^(10|22|28|3b|42)-[0-9a-f]{12}$/;

/**
 * The IIO channels of a device directory's files: `in_*_input`, or `in_*_raw` with the channel's
 * (or its type's shared) `_scale` and `_offset`, value = (raw + offset) × scale.
 *
 * @example
 * ```ts
 * iioChannels(["in_temp_raw", "in_temp_scale", "in_humidityrelative_input"]);
 * // [{ channel: "humidityrelative", file: "in_humidityrelative_input", … }, { channel: "temp", raw: true, scale: "in_temp_scale", … }]
 * ```
 */
export function iioChannels(files: readonly string[]): {
  channel: string;
  kind: string;
  file: string;
  raw: boolean;
  scale?: string;
  offset?: string;
}[] {
  const present = new Set(files);
  const out = [];
  for (const file of [...files].sort()) {
    const m = IIO_CHANNEL.exec(file);
    if (!m || !(m[2] in IIO_KINDS)) continue;
    const [, channel, kind, how] = m;
    if (how === "raw" && present.has(`in_${channel}_input`)) continue; // the driver scaled it already
    const shared = (suffix: string) => [`in_${channel}_${suffix}`, `in_${kind}_${suffix}`].find((f) => present.has(f));
    out.push({ channel, kind, file, raw: how === "raw", scale: shared("scale"), offset: shared("offset") });
  }
  return out;
}

/**
 * A 1-Wire `w1_slave` file (older kernels): the first line ends in `crc=XX YES` or `NO`, the
 * second in `t=MILLIDEGREES`.
 *
 * @example
 * ```ts
 * parseW1Slave("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"); // { ok: true, milli: 23125 }
 * ```
 */
export function parseW1Slave(text: string): { ok: true; milli: number } | { ok: false; crc: boolean } {
  const [first = "", second = ""] = text.split("\n");
  if (!/crc=[0-9a-f]{2} YES\s*$/i.test(first)) return { ok: false, crc: /crc=[0-9a-f]{2} NO\s*$/i.test(first) };
  const m = /t=(-?\d+)\s*$/.exec(second);
  return m ? { ok: true, milli: Number(m[1]) } : { ok: false, crc: false };
}

/** hwmon channel kinds: file prefix, divisor from the raw integer, stored unit. */
const HWMON_KINDS: Readonly<Record<string, { divisor: number; unit: string }>> = {
  temp: { divisor: 1000, unit: "°C" },
  in: { divisor: 1000, unit: "V" },
  curr: { divisor: 1000, unit: "A" },
  power: { divisor: 1_000_000, unit: "W" },
  fan: { divisor: 1, unit: "rpm" },
};
const HWMON_INPUT = /^(temp|in|curr|power|fan)(\d+)_input$/;
const INTEGER = /^-?\d+$/;
/** Distinct paths remembered as already warned about; beyond it warnings are no longer deduplicated. */
const MAX_WARNED = 10_000;

function numbered(prefix: string, names: string[]): string[] {
  const re = new RegExp(`^${prefix}(\\d+)$`);
  return names.filter((n) => re.test(n)).sort((a, b) => Number(re.exec(a)![1]) - Number(re.exec(b)![1]));
}

/** Sensors of the kernel's thermal and hwmon classes. */
export class SysfsSource implements Source {
  readonly name = "sysfs";
  readonly #root: string;
  readonly #rejections: Rejections | undefined;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #warned = new Set<string>();
  #emit: Emit | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | undefined;

  constructor(options: SysfsOptions) {
    this.#root = options.root;
    this.#rejections = options.rejections;
    this.#intervalMs = options.intervalMs;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? logger("sources");
  }

  /** Samples once at once, then every interval. */
  start(emit: Emit): void {
    this.#emit = emit;
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
  }

  #tick(): void {
    if (this.#running) return; // the previous sample is still reading (a slow driver)
    this.#running = this.sample().then((readings) => {
      if (readings.length > 0) this.#emit?.(readings);
    }).catch((e) => this.#warnOnce("sample", `sampling failed: ${String(e)}`)).finally(() => {
      this.#running = undefined;
    });
  }

  /** Reads every sensor once; public for tests. */
  async sample(): Promise<Reading[]> {
    const ts = this.#now();
    const jobs: Promise<Reading | undefined>[] = [];
    const thermal = join(this.#root, "class", "thermal");
    for (const zone of numbered("thermal_zone", await this.#list(thermal))) {
      const dir = join(thermal, zone);
      jobs.push((async () => {
        const type = (await this.#read(join(dir, "type"), true))?.trim();
        const name = type ? `${zone}/${type}` : zone;
        return this.#reading(name, join(dir, "temp"), 1000, "°C", ts);
      })());
    }
    const hwmon = join(this.#root, "class", "hwmon");
    const chips: { dir: string; hw: string; chip: string; files: string[] }[] = [];
    for (const hw of numbered("hwmon", await this.#list(hwmon))) {
      const dir = join(hwmon, hw);
      const chip = (await this.#read(join(dir, "name"), true))?.trim() || hw;
      chips.push({ dir, hw, chip, files: await this.#list(dir) });
    }
    for (const { dir, hw, chip, files } of chips) {
      const shared = chips.filter((c) => c.chip === chip).length > 1;
      const prefix = shared ? `${chip}@${hw}` : chip;
      for (const file of files.sort()) {
        const m = HWMON_INPUT.exec(file);
        if (!m) continue;
        const kind = HWMON_KINDS[m[1]];
        jobs.push(this.#reading(`${prefix}/${m[1]}${m[2]}`, join(dir, file), kind.divisor, kind.unit, ts));
      }
    }
    jobs.push(...await this.#iio(ts), ...await this.#w1(ts));
    const all = await Promise.all(jobs);
    return all.filter((r): r is Reading => r !== undefined);
  }

  async #iio(ts: number): Promise<Promise<Reading | undefined>[]> {
    const bus = join(this.#root, "bus", "iio", "devices");
    const devices = [];
    for (const dev of numbered("iio:device", await this.#list(bus, true))) {
      const dir = join(bus, dev);
      const name = (await this.#read(join(dir, "name"), true))?.trim() || dev;
      devices.push({ dir, dev, name, files: await this.#list(dir) });
    }
    const jobs: Promise<Reading | undefined>[] = [];
    for (const { dir, dev, name, files } of devices) {
      const prefix = devices.filter((d) => d.name === name).length > 1 ? `${name}@${dev}` : name;
      for (const c of iioChannels(files)) {
        const { divisor, unit } = IIO_KINDS[c.kind];
        const sensor = `${prefix}/${c.channel}`;
        if (!c.raw) {
          jobs.push(this.#reading(sensor, join(dir, c.file), divisor, unit, ts, NUMBER));
          continue;
        }
        jobs.push((async () => {
          const [scale, offset] = await Promise.all([
            c.scale ? this.#number(join(dir, c.scale)) : 1,
            c.offset ? this.#number(join(dir, c.offset)) : 0,
          ]);
          if (scale === undefined || offset === undefined) return undefined;
          const raw = await this.#number(join(dir, c.file));
          if (raw === undefined) return undefined;
          return this.#checked(sensor, join(dir, c.file), ((raw + offset) * scale) / divisor, unit, ts);
        })());
      }
    }
    return jobs;
  }

  async #w1(ts: number): Promise<Promise<Reading | undefined>[]> {
    const bus = join(this.#root, "bus", "w1", "devices");
    const jobs: Promise<Reading | undefined>[] = [];
    for (const id of (await this.#list(bus, true)).filter((n) => W1_THERMOMETER.test(n)).sort()) {
      const dir = join(bus, id);
      jobs.push((async () => {
        // Kernels since 5.x have `temperature`; older ones only `w1_slave` with its CRC line.
        const plain = await this.#read(join(dir, "temperature"), true);
        if (plain !== undefined) return this.#reading(`w1/${id}`, join(dir, "temperature"), 1000, "°C", ts);
        const path = join(dir, "w1_slave");
        const text = await this.#read(path);
        if (text === undefined) return undefined;
        const r = parseW1Slave(text);
        if (r.ok) return this.#checked(`w1/${id}`, path, r.milli / 1000, "°C", ts);
        if (r.crc) this.#rejections?.reject("bad_crc", "the bus read failed its CRC (crc=… NO)", path);
        else this.#warnOnce(path, `unexpected content ${JSON.stringify(text.slice(0, 80))}`);
        return undefined;
      })());
    }
    return jobs;
  }

  async #number(path: string): Promise<number | undefined> {
    const text = (await this.#read(path))?.trim();
    if (text === undefined) return undefined;
    if (NUMBER.test(text)) return Number(text);
    this.#warnOnce(path, `unexpected content ${JSON.stringify(text.slice(0, 40))}, expected a number`);
    return undefined;
  }

  async #reading(
    name: string,
    path: string,
    divisor: number,
    unit: string,
    ts: number,
    format = INTEGER,
  ): Promise<Reading | undefined> {
    const raw = await this.#read(path);
    if (raw === undefined) return undefined;
    const text = raw.trim();
    if (!format.test(text)) {
      this.#warnOnce(path, `unexpected content ${JSON.stringify(text.slice(0, 40))}, expected a number`);
      return undefined;
    }
    return this.#checked(name, path, Number(text) / divisor, unit, ts);
  }

  #checked(name: string, path: string, value: number, unit: string, ts: number): Reading | undefined {
    const r = checkReading(name, value, undefined, unit, ts);
    if (!r.ok) {
      this.#warnOnce(path, `not usable as a reading: ${r.message}`);
      return undefined;
    }
    return r.reading;
  }

  async #list(dir: string, optional = false): Promise<string[]> {
    const names: string[] = [];
    try {
      for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable) this.#explainPermission(dir);
      else if (optional && e instanceof Deno.errors.NotFound) return names;
      else this.#warnOnce(dir, `cannot list: ${(e as Error).message}`);
    }
    return names;
  }

  /**
   * Deno lets a program read paths under /sys only with --allow-all (denoland/deno#27564). The
   * start task and the compiled binary have it (docs/SECURITY.md); a hand-written `deno run` with
   * less lands here. The same tree bind-mounted elsewhere is readable with --allow-read.
   */
  #explainPermission(path: string): void {
    if (this.#warned.has("permission")) return;
    this.#warned.add("permission");
    this.#log.error(
      "sysfs: cannot read {path}: Deno allows reading /sys only with --allow-all, which `deno task start` and the " +
        "compiled binary have but this run does not; run it with --allow-all, or bind-mount /sys read-only elsewhere " +
        "(e.g. BindReadOnlyPaths=/sys:/run/edgelog/sys) and set --sysfs-root to it (see docs/SECURITY.md)",
      { path },
    );
  }

  /** The file's text, or undefined (warned once) when it is missing or unreadable. */
  async #read(path: string, optional = false): Promise<string | undefined> {
    try {
      return await Deno.readTextFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable) this.#explainPermission(path);
      else if (!(optional && e instanceof Deno.errors.NotFound)) {
        this.#warnOnce(path, `cannot read: ${(e as Error).message}`);
      }
      return undefined;
    }
  }

  #warnOnce(path: string, problem: string): void {
    if (this.#warned.has(path)) return;
    if (this.#warned.size < MAX_WARNED) this.#warned.add(path);
    this.#log.warn("sysfs: skipping {path}: {problem} (warned once)", { path, problem });
  }

  /** Stops sampling; a sample in progress finishes without emitting. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#emit = undefined;
    await this.#running;
  }
}
