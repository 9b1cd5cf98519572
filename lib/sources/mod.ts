/**
 * The sources of a run, built from the configuration. Adding a source kind means adding a file
 * in this folder and a case here; the pipeline never changes.
 *
 * @module
 */

import type { RunConfig } from "../config.ts";
import type { HttpServer } from "../http.ts";
import type { Pipeline } from "../pipeline.ts";
import { SimulatedSource } from "./simulated.ts";
import type { Source } from "./source.ts";

export type { Source } from "./source.ts";

/** What a source may need from the running logger besides its own settings. */
export interface SourceContext {
  /** For push sources: back-pressure (`room`) and durable acknowledgement (`waitStored`). */
  pipeline: Pipeline;
  /** The shared HTTP listener, when `--listen` is set. */
  http?: HttpServer;
}

/**
 * Builds the configured sources; the simulated sensor set when none is configured.
 *
 * @example
 * ```ts
 * const sources = createSources(config, { pipeline });
 * ```
 */
export function createSources(config: RunConfig, context: SourceContext): Source[] {
  const { pipeline } = context;
  return [
    new SimulatedSource({
      ratePerSecond: config.simRate,
      sensors: config.simSensors,
      room: () => pipeline.room,
      onSkipped: (n) => pipeline.countSkipped(n),
    }),
  ];
}
