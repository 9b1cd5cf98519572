/**
 * The `serial` source: lines from a serial device (`/dev/ttyUSB0`), as `exec` reads them
 * (`name value [unit]`, NDJSON) or NMEA 0183 from a GNSS receiver (GGA, RMC; checksum verified).
 *
 * Port settings: Deno has no termios API, so the source runs `stty -F DEVICE SPEED csN parity
 * stop raw -echo clocal -crtscts` before each open when `stty` is on the PATH; without it (a
 * `FROM scratch` image) the settings the host gave the device are used, and the source says so
 * once. When the device disappears (USB unplug: a read fails or ends) the source closes it and
 * opens it again with backoff until it is back.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { InvalidValue } from "../errors.ts";
import { logger } from "../log.ts";
import type { Emit } from "../pipeline.ts";
import type { Reading } from "../reading.ts";
import { LineSplitter } from "./_lines.ts";
import { parseNmea } from "./_nmea.ts";
import { checkReading, LIMITS, parseLine, type ParseResult, type SensorLimit } from "./_reading_parser.ts";
import type { Rejections } from "./_rejections.ts";
import type { Source } from "./source.ts";
import { Pause } from "./_pause.ts";

/** What `--source 'serial:DEVICE?OPTIONS'` says. */
export interface SerialSpec {
  device: string;
  baud: number;
  dataBits: 5 | 6 | 7 | 8;
  parity: "N" | "E" | "O";
  stopBits: 1 | 2;
  /** `auto`: `$…` NMEA, `{…` JSON, else `name value [unit]`. */
  format: "auto" | "nmea" | "ndjson" | "text";
  /** First part of NMEA sensor names (default `gps`). */
  prefix: string;
  /** `auto`: run stty when present; `off`: never touch the port settings. */
  stty: "auto" | "off";
}

const BAUDS = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600];
const KEYS = ["baud", "data", "parity", "stop", "format", "prefix", "stty"];

/**
 * Parses the options of `serial:DEVICE[?baud=9600&parity=N&…]`; throws {@link InvalidValue}.
 *
 * @example
 * ```ts
 * parseSerialSpec("/dev/ttyUSB0?baud=4800&format=nmea").baud; // 4800
 * ```
 */
export function parseSerialSpec(options: string): SerialSpec {
  const q = options.indexOf("?");
  const device = (q < 0 ? options : options.slice(0, q)).trim();
  if (!device.startsWith("/")) throw new InvalidValue(`serial needs the device's absolute path: serial:/dev/ttyUSB0`);
  const params = new URLSearchParams(q < 0 ? "" : options.slice(q + 1));
  const unknown = [...params.keys()].find((k) => !KEYS.includes(k));
  if (unknown !== undefined) throw new InvalidValue(`unknown option ${unknown}= (known: ${KEYS.join(", ")})`);
  const pick = <T extends string | number>(key: string, choices: readonly T[], fallback: T): T => {
    const raw = params.get(key);
    if (raw === null) return fallback;
    const found = choices.find((c) => String(c).toLowerCase() === raw.toLowerCase());
    if (found === undefined) throw new InvalidValue(`${key}=${raw}: expected one of ${choices.join(", ")}`);
    return found;
  };
  const prefix = params.get("prefix") ?? "gps";
  if (prefix === "" || prefix.length > 100) throw new InvalidValue("prefix= must be 1-100 characters");
  return {
    device,
    baud: pick("baud", BAUDS, 9600),
    dataBits: pick("data", [5, 6, 7, 8] as const, 8),
    parity: pick("parity", ["N", "E", "O"] as const, "N"),
    stopBits: pick("stop", [1, 2] as const, 1),
    format: pick("format", ["auto", "nmea", "ndjson", "text"] as const, "auto"),
    prefix,
    stty: pick("stty", ["auto", "off"] as const, "auto"),
  };
}

/** The `stty` arguments for a spec: raw 8N1-style framing, no echo, no modem control. */
export function sttyArgs(spec: SerialSpec): string[] {
  const parity = spec.parity === "N" ? ["-parenb"] : ["parenb", spec.parity === "O" ? "parodd" : "-parodd"];
  return [
    "-F",
    spec.device,
    String(spec.baud),
    `cs${spec.dataBits}`,
    ...parity,
    spec.stopBits === 2 ? "cstopb" : "-cstopb",
    "raw",
    "-echo",
    "clocal",
    "-crtscts",
  ];
}

/** Options of {@link SerialSource}. */
export interface SerialOptions {
  spec: SerialSpec;
  rejections: Rejections;
  sensorLimit?: SensorLimit;
  /** Reopen backoff, ms (defaults 1 s to 30 s). */
  backoff?: { minMs: number; maxMs: number };
  now?: () => number;
  log?: Logger;
}

/** Readings from a serial line. */
export class SerialSource implements Source {
  readonly name: string;
  readonly #o: SerialOptions;
  readonly #now: () => number;
  readonly #log: Logger;
  #file: Deno.FsFile | undefined;
  #stopping = false;
  readonly #pause = new Pause();
  #loop: Promise<void> | undefined;
  #warnedStty = false;
  #warnedPermission = false;

  constructor(options: SerialOptions) {
    this.#o = options;
    this.name = `serial ${options.spec.device}`;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? logger("sources");
  }

  /** Opens the device in the background, and again whenever it goes away. */
  start(emit: Emit): void {
    this.#loop = this.#run(emit);
  }

  async #run(emit: Emit): Promise<void> {
    const min = this.#o.backoff?.minMs ?? 1000;
    const max = this.#o.backoff?.maxMs ?? 30_000;
    let delay = min;
    let absentSince: number | undefined;
    while (!this.#stopping) {
      const problem = await this.#open();
      if (problem === undefined) {
        // Back only once bytes come: a path that opens but ends at once (a stale node) is still away.
        const ended = await this.#read(emit, () => {
          if (absentSince !== undefined) {
            this.#log.info("{source}: device is back after {seconds} s", {
              source: this.name,
              seconds: Math.round((performance.now() - absentSince) / 1000),
            });
          }
          absentSince = undefined;
          delay = min;
        });
        if (this.#stopping) break;
        if (absentSince === undefined) {
          absentSince = performance.now();
          this.#log.warn("{source}: {problem}; reopening until the device is back", {
            source: this.name,
            problem: ended,
          });
        }
      } else if (absentSince === undefined) {
        absentSince = performance.now();
        this.#log.warn("{source}: cannot open: {problem}; retrying", { source: this.name, problem });
      }
      await this.#sleep(delay);
      delay = Math.min(delay * 2, max);
    }
  }

  /** Applies the port settings and opens the device; the problem, or undefined when open. */
  async #open(): Promise<string | undefined> {
    const spec = this.#o.spec;
    if (spec.stty === "auto") await this.#stty();
    try {
      this.#file = await Deno.open(spec.device, { read: true });
      return undefined;
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable && !this.#warnedPermission) {
        this.#warnedPermission = true;
        this.#log.error(
          "{source}: Deno opens paths under /dev only with --allow-all, which `deno task start` and the compiled " +
            "binary have but this run does not; run it with --allow-all, or give the device another path " +
            "(docker --device {device}:/run/edgelog/tty0, systemd BindPaths={device}:/run/edgelog/tty0, or a bind " +
            "mount) and use that (see docs/SOURCES.md)",
          { source: this.name, device: spec.device },
        );
      }
      return (e as Error).message;
    }
  }

  async #stty(): Promise<void> {
    try {
      const out = await new Deno.Command("stty", { args: sttyArgs(this.#o.spec), stdout: "null", stderr: "piped" })
        .output();
      if (!out.success && !this.#warnedStty) {
        this.#warnedStty = true;
        this.#log.warn("{source}: stty could not set the port ({error}); using its current settings", {
          source: this.name,
          error: new TextDecoder().decode(out.stderr).trim().slice(0, 200),
        });
      }
    } catch (e) {
      if (this.#warnedStty) return;
      this.#warnedStty = true;
      this.#log.warn(
        "{source}: cannot run stty ({error}): the port keeps the settings the host gave it; set them there, e.g. " +
          "stty -F {device} {settings}",
        {
          source: this.name,
          error: (e as Error).message,
          device: this.#o.spec.device,
          settings: sttyArgs(this.#o.spec).slice(2).join(" "),
        },
      );
    }
  }

  /** Reads until the device fails, ends or the source stops; returns why it ended. `onData`: bytes came. */
  async #read(emit: Emit, onData: () => void): Promise<string> {
    const file = this.#file!;
    const spec = this.#o.spec;
    let batch: Reading[] = [];
    const take = (r: ParseResult, where: string) => {
      const admitted = this.#o.sensorLimit?.admit(r) ?? r;
      if (admitted.ok) batch.push(admitted.reading);
      else this.#o.rejections.reject(admitted.reason, admitted.message, where);
    };
    const lines = new LineSplitter(
      LIMITS.lineBytesMax,
      (line, lineNo) => {
        const now = this.#now();
        const where = `line ${lineNo}`;
        const format = spec.format === "auto" && line.includes("$") ? "nmea" : spec.format;
        if (format !== "nmea") return take(parseLine(line, format, now), where);
        const s = parseNmea(line, now, { prefix: spec.prefix });
        if (!s.ok) return this.#o.rejections.reject(s.reason, s.message, where);
        for (const x of s.readings) take(checkReading(x.sensor, x.value, s.ts, x.unit, now), where);
      },
      (reason, message, lineNo) => this.#o.rejections.reject(reason, message, `line ${lineNo}`),
    );
    const buf = new Uint8Array(4096);
    try {
      for (;;) {
        const n = await file.read(buf);
        if (n === null) return "the device ended (hung up)";
        if (n > 0) onData();
        lines.push(buf.subarray(0, n));
        if (batch.length > 0) {
          emit(batch);
          batch = [];
        }
      }
    } catch (e) {
      return `reading failed: ${(e as Error).message}`;
    } finally {
      this.#close();
    }
  }

  #close(): void {
    try {
      this.#file?.close();
    } catch { /* already closed */ }
    this.#file = undefined;
  }

  #sleep(ms: number): Promise<void> {
    return this.#stopping ? Promise.resolve() : this.#pause.sleep(ms);
  }

  /** Stops: closing the device ends a pending read at once. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#close();
    this.#pause.wake();
    await this.#loop;
  }
}
