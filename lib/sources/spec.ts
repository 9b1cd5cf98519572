/**
 * What `--source KIND[:OPTIONS]` may say: the kinds of input and their options, checked when
 * the configuration is read so that a typo is exit code 2 before anything starts.
 *
 * @module
 */

import { InvalidValue } from "../errors.ts";
import { type ExecSpec, parseExecSpec } from "./exec.ts";
import { type MqttSourceSpec, parseMqttSourceSpec } from "./mqtt.ts";
import { parseSerialSpec, type SerialSpec } from "./serial.ts";
import { type ModbusSpec, parseModbusSpec } from "./modbus.ts";

/** Kinds of input `--source` accepts. */
export const SOURCE_KINDS = ["simulated", "sysfs", "exec", "stdin", "http", "mqtt", "serial", "modbus"] as const;
/** One kind of input. */
export type SourceKind = typeof SOURCE_KINDS[number];

/** One `--source KIND[:OPTIONS]`: the kind and its options text (meaning depends on the kind). */
export interface SourceSpec {
  kind: SourceKind;
  /** Everything after the first `:`, or "" (e.g. the command line of `exec`). */
  options: string;
  /** For `exec`: the parsed command and its settings. */
  exec?: ExecSpec;
  /** For `mqtt` (`mqtt://…` or `mqtts://…`): broker, topic filter and options. */
  mqtt?: MqttSourceSpec;
  /** For `serial`: the device, its port settings and the line format. */
  serial?: SerialSpec;
  /** For `modbus`: transport, address, timeouts and the planned requests of its register map. */
  modbus?: ModbusSpec;
}

/** The input when none is configured. */
export const DEFAULT_SOURCES: readonly SourceSpec[] = Object.freeze([{ kind: "simulated", options: "" }]);

/** Kinds that may be given once only (they share one listener, one stdin, one tree). */
const UNIQUE_KINDS: readonly SourceKind[] = ["stdin", "http", "simulated", "sysfs"];

/**
 * Parses one `KIND[:OPTIONS]` into a {@link SourceSpec}; throws {@link InvalidValue}.
 *
 * @example
 * ```ts
 * parseSourceSpec("exec:./read-sensors --json").exec?.argv; // ["./read-sensors", "--json"]
 * ```
 */
export function parseSourceSpec(raw: string): SourceSpec {
  const colon = raw.indexOf(":");
  const kind = (colon < 0 ? raw : raw.slice(0, colon)).trim().toLowerCase();
  if (kind === "mqtt" || kind === "mqtts") {
    const url = raw.trim();
    return { kind: "mqtt", options: url, mqtt: parseMqttSourceSpec(url) };
  }
  const options = colon < 0 ? "" : raw.slice(colon + 1).trim();
  if (!(SOURCE_KINDS as readonly string[]).includes(kind)) {
    throw new InvalidValue(`unknown source kind ${JSON.stringify(kind)}; expected one of ${SOURCE_KINDS.join(", ")}`);
  }
  if (kind === "serial") return { kind, options, serial: parseSerialSpec(options) };
  if (kind === "modbus") return { kind, options, modbus: parseModbusSpec(options) };
  if (kind === "exec" && options === "") {
    throw new InvalidValue(`exec needs a command: --source 'exec:COMMAND ARGS…'`);
  }
  if (kind !== "exec" && options !== "") {
    throw new InvalidValue(`source ${kind} takes no options, got ${JSON.stringify(options)}`);
  }
  if (kind === "exec") return { kind, options, exec: parseExecSpec(options) };
  return { kind: kind as SourceKind, options };
}

/**
 * Parses every `--source`, reporting each bad one, and checks the kinds given once only; the
 * simulated sensors when the list is empty. Throws {@link InvalidValue}.
 *
 * @example
 * ```ts
 * parseSourceList(["sysfs", "stdin"]).map((s) => s.kind); // ["sysfs", "stdin"]
 * ```
 */
export function parseSourceList(items: readonly string[]): SourceSpec[] {
  const specs: SourceSpec[] = [];
  const problems: string[] = [];
  for (const item of items) {
    try {
      specs.push(parseSourceSpec(item));
    } catch (e) {
      if (!(e instanceof InvalidValue)) throw e;
      problems.push(items.length > 1 ? `${JSON.stringify(item)}: ${e.message}` : e.message);
    }
  }
  if (problems.length > 0) throw new InvalidValue(problems.join("; "));
  const subscriptions = specs.filter((s) => s.mqtt).map((s) => `${s.mqtt!.brokerUrl}/${s.mqtt!.topicFilter}`)
    .concat(specs.filter((s) => s.serial).map((s) => `serial:${s.serial!.device}`))
    .concat(specs.filter((s) => s.modbus?.serial).map((s) => `serial:${s.modbus!.serial!.device}`));
  const twice = subscriptions.find((x, i) => subscriptions.indexOf(x) !== i);
  if (twice !== undefined) throw new InvalidValue(`source ${twice} is given twice`);
  for (const unique of UNIQUE_KINDS) {
    if (specs.filter((s) => s.kind === unique).length > 1) {
      throw new InvalidValue(`source ${unique} may be given only once`);
    }
  }
  return specs.length > 0 ? specs : [...DEFAULT_SOURCES];
}
