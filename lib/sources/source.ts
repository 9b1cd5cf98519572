/**
 * The one interface every input implements. A source pushes readings through `emit` and never
 * commits, batches or retries: the pipeline owns all of that.
 *
 * @module
 */

import type { Emit } from "../pipeline.ts";

/** An input of readings (simulated sensors, sysfs, a command, stdin, HTTP…). */
export interface Source {
  /** Short name used in logs and counters, e.g. `simulated`. */
  readonly name: string;
  /** Starts producing readings into `emit`. */
  start(emit: Emit): void | Promise<void>;
  /** Stops producing; after it resolves the source calls `emit` no more. */
  stop(): void | Promise<void>;
  /**
   * Resolves when the source has ended on its own (e.g. end of stdin); a logger whose sources
   * have all ended stops gracefully. Absent for sources that run until stopped.
   */
  readonly ended?: Promise<void>;
}
