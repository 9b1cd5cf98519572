/**
 * What the system says about its clocks. Its own answer to "is the clock synchronized?", where it
 * gives one: systemd-timesyncd
 * (`/run/systemd/timesync/synchronized` exists once it synchronized since boot), chrony (`chronyc
 * tracking`: leap status other than "Not synchronised"), or a file of the operator's choosing; and
 * which boot this is, with the time since it ({@link bootClock}).
 *
 * @module
 */

import { InvalidValue } from "./errors.ts";

/** systemd-timesyncd creates this file once the clock is synchronized (since boot). */
export const TIMESYNCD_FILE = "/run/systemd/timesync/synchronized";
/** The directory timesyncd keeps its state in while it runs (auto-detection). */
const TIMESYNCD_DIR = "/run/systemd/timesync";
/** chronyc must answer within this, ms. */
const CHRONYC_TIMEOUT_MS = 2000;
/** chronyc runs a process: ask at most this often, ms (the file check is cheap and asked each time). */
const CHRONYC_EVERY_MS = 10_000;

/** What `--clock-sync` may say. */
export type ClockSyncSetting = "auto" | "none" | "timesyncd" | "chrony" | `file:${string}`;

/** A source of the system's sync state. */
export interface SyncSource {
  /** For logs and status: `timesyncd`, `chrony`, `file:/path`. */
  readonly name: string;
  /** True when the system reports the clock synchronized; false otherwise (or when it cannot tell). */
  synchronized(): Promise<boolean>;
}

/**
 * Checks a `--clock-sync` value.
 *
 * @example
 * ```ts
 * parseClockSync("file:/run/edgelog/synced"); // "file:/run/edgelog/synced"
 * ```
 */
export function parseClockSync(raw: unknown): ClockSyncSetting {
  if (typeof raw !== "string") throw new InvalidValue(`expected auto, none, timesyncd, chrony or file:PATH`);
  const v = raw.trim();
  if (v === "auto" || v === "none" || v === "timesyncd" || v === "chrony") return v;
  if (v.startsWith("file:") && v.length > 5) return v as `file:${string}`;
  throw new InvalidValue(`expected auto, none, timesyncd, chrony or file:PATH, got ${JSON.stringify(raw)}`);
}

/** A file whose existence means synchronized (timesyncd's, or any the operator maintains). */
class FileSync implements SyncSource {
  readonly name: string;
  readonly #path: string;
  constructor(name: string, path: string) {
    this.name = name;
    this.#path = path;
  }
  async synchronized(): Promise<boolean> {
    try {
      await Deno.stat(this.#path);
      return true;
    } catch {
      return false;
    }
  }
}

/** `chronyc -n tracking`: synchronized unless the leap status says "Not synchronised". */
class ChronySync implements SyncSource {
  readonly name = "chrony";
  #askedAt = -Infinity;
  #last = false;
  async synchronized(): Promise<boolean> {
    if (performance.now() - this.#askedAt < CHRONYC_EVERY_MS) return this.#last;
    this.#askedAt = performance.now();
    try {
      const out = await new Deno.Command("chronyc", {
        args: ["-n", "tracking"],
        stdout: "piped",
        stderr: "null",
        signal: AbortSignal.timeout(CHRONYC_TIMEOUT_MS),
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      const leap = /^Leap status\s*:\s*(.+)$/m.exec(text)?.[1].trim();
      this.#last = out.success && leap !== undefined && !/not synchron/i.test(leap);
    } catch {
      this.#last = false;
    }
    return this.#last;
  }
}

/** The directory chronyd keeps its command socket in while it runs (auto-detection). */
const CHRONY_DIR = "/run/chrony";

/**
 * The sync source a setting names; `auto` picks timesyncd or chrony when one runs on this system
 * (by their runtime directories), else none.
 */
export function syncSourceOf(setting: ClockSyncSetting): SyncSource | undefined {
  if (setting === "none") return undefined;
  if (setting === "timesyncd") return new FileSync("timesyncd", TIMESYNCD_FILE);
  if (setting === "chrony") return new ChronySync();
  if (setting.startsWith("file:")) return new FileSync(setting, setting.slice(5));
  if (isDirectory(TIMESYNCD_DIR)) return new FileSync("timesyncd", TIMESYNCD_FILE);
  if (isDirectory(CHRONY_DIR)) return new ChronySync();
  return undefined;
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** Which boot this is, and the time since it (the kernel's `CLOCK_BOOTTIME`), ms. */
export interface BootTime {
  bootId: string;
  uptimeMs: number;
}

/**
 * The kernel's boot id and uptime (`/proc/sys/kernel/random/boot_id`, `/proc/uptime`, 10 ms
 * resolution): a monotonic clock that outlives the process, for re-stamping a segment of an
 * earlier run of the same boot. Undefined where they cannot be read.
 */
export function bootClock(): BootTime | undefined {
  try {
    const bootId = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
    const uptimeMs = Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]) * 1000;
    return bootId && Number.isFinite(uptimeMs) ? { bootId, uptimeMs } : undefined;
  } catch {
    return undefined;
  }
}
