/**
 * The `sysfs` source: Linux temperatures and other hardware monitor values, sampled every
 * interval from `/sys/class/thermal/thermal_zone*` and `/sys/class/hwmon/hwmon*`.
 *
 * Names: `thermal_zoneN/TYPE` (from the zone's `type` file) and `CHIP/CHANNEL` for hwmon (e.g.
 * `coretemp/temp1`; `CHIP@hwmonN/…` when two chips share a name). Units follow the kernel's
 * sysfs ABI: temperatures are millidegrees Celsius, voltages millivolts, currents milliamperes,
 * power microwatts, fans RPM; they are stored as °C, V, A, W and rpm. Missing or unreadable files
 * are skipped with one warning each (not one per tick); the tree is scanned every tick, so
 * sensors that appear later are picked up.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { join } from "node:path";
import { logger } from "../log.ts";
import type { Emit } from "../pipeline.ts";
import type { Reading } from "../reading.ts";
import { checkReading } from "./_reading_parser.ts";
import type { Source } from "./source.ts";

/** Options of {@link SysfsSource}. */
export interface SysfsOptions {
  /** Root of the sysfs tree, `/sys` on a real system. */
  root: string;
  intervalMs: number;
  /** Wall clock in unix ms; injectable for tests. */
  now?: () => number;
  log?: Logger;
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
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #warned = new Set<string>();
  #emit: Emit | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | undefined;

  constructor(options: SysfsOptions) {
    this.#root = options.root;
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
    const all = await Promise.all(jobs);
    return all.filter((r): r is Reading => r !== undefined);
  }

  async #reading(name: string, path: string, divisor: number, unit: string, ts: number): Promise<Reading | undefined> {
    const raw = await this.#read(path);
    if (raw === undefined) return undefined;
    const text = raw.trim();
    if (!INTEGER.test(text)) {
      this.#warnOnce(path, `unexpected content ${JSON.stringify(text.slice(0, 40))}, expected an integer`);
      return undefined;
    }
    const r = checkReading(name, Number(text) / divisor, ts, unit, ts);
    if (!r.ok) {
      this.#warnOnce(path, `not usable as a reading: ${r.message}`);
      return undefined;
    }
    return r.reading;
  }

  async #list(dir: string): Promise<string[]> {
    const names: string[] = [];
    try {
      for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable) this.#explainPermission(dir);
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
