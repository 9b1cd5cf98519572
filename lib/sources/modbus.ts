/**
 * The `modbus` source: polls PLCs, meters and inverters every interval over Modbus TCP, RTU on a
 * serial line, or RTU over TCP (serial gateways), reading what a JSON register map names.
 * Adjacent registers are read in one request (at most 125 registers or 2000 bits).
 *
 * Faults cost only their own slave: a slave that does not answer within `timeout`, or answers an
 * exception, loses its readings of this poll (the rest of its requests are skipped so a dead slave
 * costs one timeout per poll), is counted (`timeout`, `exception`, …) and logged at most once per
 * 10 s per slave with the exception's name; the other slaves are read as usual. A lost TCP
 * connection is opened again at the next poll.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { InvalidValue } from "../errors.ts";
import { logger } from "../log.ts";
import type { Emit } from "../pipeline.ts";
import type { Reading } from "../reading.ts";
import { parseDurationMs } from "../units.ts";
import {
  decodeReadings,
  parseReadResponse,
  parseRegisterMap,
  type PlannedRequest,
  planRequests,
  RegisterMapError,
} from "./_modbus_codec.ts";
import { connectWithin, type Link, openSerialLink, type Outcome, RtuLink, TcpLink } from "./_modbus_links.ts";
import { checkReading, type RejectReason } from "./_reading_parser.ts";
import type { Rejections } from "./_rejections.ts";
import { parseSerialSpec, type SerialSpec } from "./serial.ts";
import type { Source } from "./source.ts";
import { Pause } from "./_pause.ts";

/** What `--source 'modbus:tcp://host:502?map=FILE'` (or `rtu:///dev/…`, `rtu+tcp://…`) says. */
export interface ModbusSpec {
  transport: "tcp" | "rtu" | "rtu+tcp";
  /** TCP host and port (tcp, rtu+tcp). */
  host?: string;
  port?: number;
  /** The serial line (rtu). */
  serial?: SerialSpec;
  /** The map file and the requests planned from it. */
  mapPath: string;
  plan: PlannedRequest[];
  /** Overrides `--interval`, ms. */
  intervalMs?: number;
  /** Longest wait for one response, ms. */
  timeoutMs: number;
  /** For logs and counters: the transport and address, without the options. */
  display: string;
}

const KEYS = ["map", "interval", "timeout", "max-gap", "max-registers", "baud", "parity", "stop", "stty"];

/**
 * Parses `tcp://host[:502]?map=FILE…`, `rtu:///dev/ttyUSB0?baud=9600&parity=E&stop=1&map=FILE…` or
 * `rtu+tcp://gateway:4001?map=FILE…` and reads the map; throws {@link InvalidValue}.
 *
 * @example
 * ```ts
 * parseModbusSpec("tcp://10.0.0.5?map=/etc/edgelog/plc1.json&timeout=500ms").plan.length;
 * ```
 */
export function parseModbusSpec(
  options: string,
  readTextFile: (path: string) => string = Deno.readTextFileSync,
): ModbusSpec {
  const m = /^(tcp|rtu|rtu\+tcp):\/\/([^?]*)(?:\?(.*))?$/.exec(options.trim());
  if (!m) {
    throw new InvalidValue(
      "expected modbus:tcp://HOST[:PORT]?map=FILE, modbus:rtu:///dev/DEVICE?map=FILE " +
        "or modbus:rtu+tcp://HOST:PORT?map=FILE",
    );
  }
  const [, transport, where, query = ""] = m;
  const params = new URLSearchParams(query);
  const unknown = [...params.keys()].find((k) => !KEYS.includes(k));
  if (unknown !== undefined) throw new InvalidValue(`unknown option ${unknown}= (known: ${KEYS.join(", ")})`);
  const mapPath = params.get("map");
  if (!mapPath) throw new InvalidValue("map= is required: the JSON register map (docs/SOURCES.md)");
  let text: string;
  try {
    text = readTextFile(mapPath);
  } catch (e) {
    throw new InvalidValue(`map=${mapPath}: cannot read it (${(e as Error).message})`);
  }
  let plan: PlannedRequest[];
  try {
    plan = planRequests(parseRegisterMap(text), {
      maxGap: whole(params.get("max-gap"), "max-gap", 0, 0, 125),
      maxRegisters: whole(params.get("max-registers"), "max-registers", 125, 4, 125),
    });
  } catch (e) {
    if (e instanceof RegisterMapError) throw new InvalidValue(`map=${mapPath}: ${e.message}`);
    throw e;
  }
  const spec: ModbusSpec = {
    transport: transport as ModbusSpec["transport"],
    mapPath,
    plan,
    timeoutMs: duration(params.get("timeout"), "timeout", 1000, 10, 60_000),
    display: `modbus ${transport}://${where}`,
  };
  const interval = params.get("interval");
  if (interval !== null) spec.intervalMs = duration(interval, "interval", 0, 10, 86_400_000);
  if (transport === "rtu") {
    const serial = new URLSearchParams();
    for (const k of ["baud", "parity", "stop", "stty"]) if (params.has(k)) serial.set(k, params.get(k)!);
    if (!serial.has("parity")) serial.set("parity", "E"); // the RTU default (serial line spec §2.5.1)
    spec.serial = parseSerialSpec(`${where}?${serial}`);
    if (plan.some((r) => r.slave === 0)) throw new InvalidValue(`map=${mapPath}: slave 0 is broadcast on RTU`);
  } else {
    const hp = /^(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(where);
    if (!hp) throw new InvalidValue(`expected HOST[:PORT] after ${transport}://, got ${JSON.stringify(where)}`);
    spec.host = hp[1].replace(/^\[(.*)\]$/, "$1");
    spec.port = whole(hp[2] ?? null, "port", transport === "tcp" ? 502 : 4001, 1, 65535);
    if (params.has("baud") || params.has("parity") || params.has("stop")) {
      throw new InvalidValue("baud=, parity= and stop= apply to modbus:rtu:// only (a gateway sets its own line)");
    }
  }
  return spec;
}

function whole(raw: string | null, key: string, fallback: number, min: number, max: number): number {
  if (raw === null) return fallback;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= min && n <= max)) throw new InvalidValue(`${key}=${raw}: expected a whole number from ${min} to ${max}`);
  return n;
}

function duration(raw: string | null, key: string, fallback: number, min: number, max: number): number {
  if (raw === null) return fallback;
  let ms: number;
  try {
    ms = parseDurationMs(raw, "ms");
  } catch (e) {
    throw new InvalidValue(`${key}=${raw}: ${(e as Error).message}`);
  }
  if (ms < min || ms > max) throw new InvalidValue(`${key}=${raw}: must be between ${min} ms and ${max} ms`);
  return ms;
}

/** Longest wait before a slave that stopped answering is asked again, ms. */
const SILENT_RETRY_MAX_MS = 60_000;

/** Options of {@link ModbusSource}. */
export interface ModbusOptions {
  spec: ModbusSpec;
  /** Period between polls unless the spec has its own, ms. */
  intervalMs: number;
  rejections: Rejections;
  now?: () => number;
  log?: Logger;
  /** Least time between two log lines about one slave, ms (default 10 000). */
  slaveLogIntervalMs?: number;
}

/** Readings from Modbus slaves. */
export class ModbusSource implements Source {
  readonly name: string;
  readonly #o: ModbusOptions;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #lastLog = new Map<number, number>();
  /** Slaves that did not answer: consecutive silent polls and when to ask again (performance.now ms). */
  readonly #silent = new Map<number, { polls: number; retryAt: number }>();
  #link: Link | undefined;
  #stopping = false;
  readonly #pause = new Pause();
  #loop: Promise<void> | undefined;

  constructor(options: ModbusOptions) {
    this.#o = options;
    this.name = options.spec.display;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? logger("sources");
  }

  /** Polls at once, then every interval. */
  start(emit: Emit): void {
    this.#loop = this.#run(emit);
  }

  async #run(emit: Emit): Promise<void> {
    const interval = this.#o.spec.intervalMs ?? this.#o.intervalMs;
    while (!this.#stopping) {
      const t0 = performance.now();
      const readings = await this.poll();
      if (readings.length > 0 && !this.#stopping) emit(readings);
      await this.#sleep(t0 + interval - performance.now());
    }
  }

  /** Reads every planned request once; public for tests. */
  async poll(): Promise<Reading[]> {
    const readings: Reading[] = [];
    const failed = new Set<number>();
    const plan = this.#o.spec.plan;
    const interval = this.#o.spec.intervalMs ?? this.#o.intervalMs;
    for (const [i, request] of plan.entries()) {
      if (this.#stopping) break;
      if (failed.has(request.slave)) continue;
      const silent = this.#silent.get(request.slave);
      if (silent && performance.now() < silent.retryAt) {
        // Asked again only now and then: a dead slave's timeout would otherwise delay every poll.
        failed.add(request.slave);
        const lost = plan.slice(i).filter((r) => r.slave === request.slave).reduce((n, r) => n + r.entries.length, 0);
        this.#o.rejections.count("slave_silent", lost);
        continue;
      }
      const outcome = await this.#read(request);
      if (this.#stopping) break; // the link was closed under the request: not the slave's fault
      if (outcome.ok || outcome.reason !== "timeout") this.#silent.delete(request.slave);
      if (!outcome.ok) {
        failed.add(request.slave);
        if (outcome.reason === "timeout") {
          const polls = (silent?.polls ?? 0) + 1;
          const wait = Math.min(interval * 2 ** (polls - 1), SILENT_RETRY_MAX_MS);
          this.#silent.set(request.slave, { polls, retryAt: performance.now() + wait });
        }
        // This request's readings and those of the slave's requests skipped after it.
        const lost = plan.slice(i).filter((r) => r.slave === request.slave).reduce((n, r) => n + r.entries.length, 0);
        this.#fault(request, outcome.reason, outcome.message, lost);
        continue;
      }
      const ts = this.#now();
      const decoded = decodeReadings(request, outcome.values);
      for (const r of decoded.rejected) this.#o.rejections.reject(r.reason, r.message, r.sensor);
      for (const x of decoded.readings) {
        const r = checkReading(x.sensor, x.value, undefined, x.unit, ts);
        if (r.ok) readings.push(r.reading);
        else this.#o.rejections.reject(r.reason, r.message, x.sensor);
      }
    }
    return readings;
  }

  async #read(request: PlannedRequest): Promise<Outcome> {
    try {
      this.#link ??= await this.#open();
    } catch (e) {
      return { ok: false, reason: "unreachable", message: (e as Error).message };
    }
    const answer = await this.#link.exchange(request, this.#o.spec.timeoutMs);
    if (!("pdu" in answer)) {
      if (answer.reason === "disconnected") this.#dropLink();
      return answer;
    }
    const r = parseReadResponse(answer.pdu, request);
    if (!r.ok) {
      return { ok: false, reason: r.reason, message: r.exception ? `exception ${r.exception}` : r.message };
    }
    return { ok: true, values: r.values };
  }

  #fault(request: PlannedRequest, reason: RejectReason, message: string, lost: number): void {
    // Counted per reading lost, logged here per slave rather than per reason.
    this.#o.rejections.count(reason, lost);
    const now = performance.now();
    const last = this.#lastLog.get(request.slave) ?? -Infinity;
    if (now - last < (this.#o.slaveLogIntervalMs ?? 10_000)) return;
    this.#lastLog.set(request.slave, now);
    this.#log.warn("{source}: slave {slave}: {problem} ({reason}, FC {fc} at {address}); its {lost} readings skipped", {
      source: this.name,
      slave: request.slave,
      problem: message,
      reason,
      fc: request.fc,
      address: request.address,
      lost,
    });
  }

  async #open(): Promise<Link> {
    const s = this.#o.spec;
    if (s.transport === "rtu") return await openSerialLink(s.serial!, this.#log, this.name);
    const conn = await connectWithin(s.host!, s.port!, s.timeoutMs);
    return s.transport === "tcp" ? new TcpLink(conn) : new RtuLink(conn, 9600);
  }

  #dropLink(): void {
    this.#link?.close();
    this.#link = undefined;
  }

  #sleep(ms: number): Promise<void> {
    return this.#stopping ? Promise.resolve() : this.#pause.sleep(ms);
  }

  /** Stops polling; a request in flight is abandoned when the link closes. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#pause.wake();
    this.#dropLink();
    await this.#loop;
  }
}
