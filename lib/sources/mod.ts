/**
 * The inputs of a run. Every source implements {@link Source} (`start(emit)`, `stop()`); adding
 * a kind means adding a file in this folder, a case in {@link createSources} and its options in
 * `spec.ts`: the pipeline never changes.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import type { Pipeline } from "../pipeline.ts";
import type { HttpServer } from "../serve/mod.ts";
import { REJECT_REASONS, SensorLimit } from "./_reading_parser.ts";
import { Rejections } from "./_rejections.ts";
import { ExecSource } from "./exec.ts";
import { HttpIngestSource } from "./http_ingest.ts";
import { MqttSource } from "./mqtt.ts";
import { SerialSource } from "./serial.ts";
import { ModbusSource } from "./modbus.ts";
import { SimulatedSource } from "./simulated.ts";
import type { Source } from "./source.ts";
import type { SourceSpec } from "./spec.ts";
import { StdinSource } from "./stdin.ts";
import { SysfsSource } from "./sysfs.ts";

export type { Source } from "./source.ts";
export type { ExecSpec } from "./exec.ts";
export {
  DEFAULT_SOURCES,
  parseSourceList,
  parseSourceSpec,
  SOURCE_KINDS,
  type SourceKind,
  type SourceSpec,
} from "./spec.ts";

/** The settings the sources read (a part of the logger's configuration). */
export interface SourceSettings {
  /** The inputs (`--source`). */
  sources: readonly SourceSpec[];
  /** Readings per second of the simulated sensors, all together. */
  simRate: number;
  simSensors: number;
  /** Period of polled sources (sysfs, exec), ms. */
  intervalMs: number;
  /** Root of the sysfs tree the `sysfs` source reads. */
  sysfsRoot: string;
  /** Largest HTTP ingest body accepted, bytes. */
  httpMaxBodyBytes: number;
  /** Most distinct sensors the push sources (stdin, exec, http, mqtt) may create. */
  maxSensors: number;
  /** The database path: with the host name it seeds the stable MQTT client id. */
  db?: string;
}

/** What a source may need from the running logger besides its own settings. */
export interface SourceContext {
  /** For push sources: back-pressure (`room`) and durable acknowledgement (`waitStored`). */
  pipeline: Pipeline;
  /** The shared HTTP listener, when `--listen` is set. */
  http?: HttpServer;
  /**
   * Sensors already in the database: they count towards `maxSensors` and always pass it. The
   * simulated and sysfs sensors are fixed by the configuration and not limited.
   */
  knownSensors?: readonly string[];
  /**
   * The clock that stamps readings taken without a timestamp of their own (`ClockGuard.now`:
   * provisional stamps while the wall clock is not trusted); `Date.now` by default.
   */
  now?: () => number;
}

/**
 * Builds the configured sources (`--source`).
 *
 * @example
 * ```ts
 * const sources = createSources(config, { pipeline, knownSensors: store.sensorNames() });
 * for (const source of sources) await source.start(pipeline.emitFor(source.name));
 * ```
 */
export function createSources(settings: SourceSettings, context: SourceContext): Source[] {
  const sensorLimit = new SensorLimit(settings.maxSensors, context.knownSensors ?? []);
  return settings.sources.map((spec) => createSource(spec, settings, context, sensorLimit));
}

function createSource(
  spec: SourceSpec,
  settings: SourceSettings,
  context: SourceContext,
  sensorLimit: SensorLimit,
): Source {
  const { pipeline, now } = context;
  switch (spec.kind) {
    case "simulated":
      return new SimulatedSource({
        ratePerSecond: settings.simRate,
        sensors: settings.simSensors,
        sink: pipeline.sinkFor("simulated"),
        stamp: now,
        onSkipped: (n) => pipeline.countSkipped("simulated", n),
      });
    case "sysfs":
      return new SysfsSource({
        root: settings.sysfsRoot,
        intervalMs: settings.intervalMs,
        rejections: rejectionsOf("sysfs", pipeline),
        now,
      });
    case "exec":
      return new ExecSource({
        spec: spec.exec!,
        intervalMs: settings.intervalMs,
        rejections: rejectionsOf(`exec ${spec.exec!.argv[0]}`, pipeline),
        now,
        sensorLimit,
      });
    case "stdin":
      return new StdinSource({
        room: () => pipeline.room,
        rejections: rejectionsOf("stdin", pipeline),
        now,
        sensorLimit,
      });
    case "http":
      if (!context.http) throw new ConfigError(["--source http: needs the HTTP listener; add --listen HOST:PORT"]);
      return new HttpIngestSource({
        http: context.http,
        pipeline,
        rejections: rejectionsOf("http", pipeline),
        now,
        maxBodyBytes: settings.httpMaxBodyBytes,
        sensorLimit,
      });
    case "mqtt":
      return new MqttSource({
        spec: spec.mqtt!,
        pipeline,
        rejections: rejectionsOf(`mqtt ${spec.mqtt!.display}`, pipeline),
        now,
        sensorLimit,
        host: hostName(),
        dbPath: settings.db ?? "edgelog.db",
      });
    case "serial":
      return new SerialSource({
        spec: spec.serial!,
        rejections: rejectionsOf(`serial ${spec.serial!.device}`, pipeline),
        now,
        sensorLimit,
      });
    case "modbus":
      return new ModbusSource({
        spec: spec.modbus!,
        intervalMs: settings.intervalMs,
        rejections: rejectionsOf(spec.modbus!.display, pipeline),
        now,
      });
  }
}

/** The host name, part of the MQTT client id's seed (needs `--allow-sys=hostname`). */
function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "edgelog";
  }
}

/** The refusals of `source`, counted in the pipeline under that source's name. */
export function rejectionsOf(source: string, pipeline: Pipeline): Rejections {
  // Every reason at 0 from the start, so a rate over the metric works from the first scrape.
  for (const reason of REJECT_REASONS) pipeline.countRejected(source, reason, 0);
  return new Rejections(source, { reject: (reason, n = 1) => pipeline.countRejected(source, reason, n) });
}
