/**
 * The sources of a run, built from the configuration. Adding a source kind means adding a file
 * in this folder and a case here; the pipeline never changes.
 *
 * @module
 */

import { ConfigError, type RunConfig, type SourceSpec } from "../config.ts";
import type { HttpServer } from "../http.ts";
import type { Pipeline } from "../pipeline.ts";
import type { SensorLimit } from "./_reading_parser.ts";
import { Rejections } from "./_rejections.ts";
import { ExecSource } from "./exec.ts";
import { HttpIngestSource } from "./http_ingest.ts";
import { SimulatedSource } from "./simulated.ts";
import type { Source } from "./source.ts";
import { StdinSource } from "./stdin.ts";
import { SysfsSource } from "./sysfs.ts";

export type { Source } from "./source.ts";

/** What a source may need from the running logger besides its own settings. */
export interface SourceContext {
  /** For push sources: back-pressure (`room`) and durable acknowledgement (`waitStored`). */
  pipeline: Pipeline;
  /** The shared HTTP listener, when `--listen` is set. */
  http?: HttpServer;
  /**
   * The `--max-sensors` limit for the push sources (stdin, exec, http), which name their own
   * sensors; the simulated and sysfs sensors are fixed by the configuration and not limited.
   */
  sensorLimit?: SensorLimit;
}

/**
 * Builds the configured sources (`--source`); the simulated sensor set when none is configured.
 *
 * @example
 * ```ts
 * const sources = createSources(config, { pipeline });
 * ```
 */
export function createSources(config: RunConfig, context: SourceContext): Source[] {
  return config.sources.map((spec) => createSource(spec, config, context));
}

function createSource(spec: SourceSpec, config: RunConfig, context: SourceContext): Source {
  const { pipeline } = context;
  switch (spec.kind) {
    case "simulated":
      return new SimulatedSource({
        ratePerSecond: config.simRate,
        sensors: config.simSensors,
        sink: pipeline.sinkFor("simulated"),
        onSkipped: (n) => pipeline.countSkipped("simulated", n),
      });
    case "sysfs":
      return new SysfsSource({ root: config.sysfsRoot, intervalMs: config.intervalMs });
    case "exec":
      return new ExecSource({
        spec: spec.exec!,
        intervalMs: config.intervalMs,
        rejections: rejectionsOf(`exec ${spec.exec!.argv[0]}`, pipeline),
        sensorLimit: context.sensorLimit,
      });
    case "stdin":
      return new StdinSource({
        room: () => pipeline.room,
        rejections: rejectionsOf("stdin", pipeline),
        sensorLimit: context.sensorLimit,
      });
    case "http":
      if (!context.http) throw new ConfigError(["--source http: needs the HTTP listener; add --listen HOST:PORT"]);
      return new HttpIngestSource({
        http: context.http,
        pipeline,
        rejections: rejectionsOf("http", pipeline),
        maxBodyBytes: config.httpMaxBodyBytes,
        sensorLimit: context.sensorLimit,
      });
  }
}

/** The refusals of `source`, counted in the pipeline under that source's name. */
export function rejectionsOf(source: string, pipeline: Pipeline): Rejections {
  return new Rejections(source, { reject: (reason, n = 1) => pipeline.countRejected(source, reason, n) });
}
