/**
 * Subcommands other than `run` (the logger itself). Each lives in its own file in this folder,
 * parses its own arguments (with `node:util` `parseArgs`) and returns an exit code; `main.ts`
 * dispatches to it by name. Register a command by adding it to {@link COMMANDS}.
 *
 * @module
 */

import { checkCommand } from "./check.ts";
import { exportCommand } from "./export.ts";
import { queryCommand } from "./query.ts";
import { sensorsCommand } from "./sensors.ts";
import { statsCommand } from "./stats.ts";
import { healthCommand } from "./health.ts";
import { REPLAY } from "./replay.ts";

/** A subcommand such as `query` or `export`. */
export interface Command {
  /** The word on the command line, e.g. `export`. */
  readonly name: string;
  /** One line for `edgelog --help`. */
  readonly summary: string;
  /**
   * Runs the command with the arguments after its name; returns the exit code. Throws
   * ConfigError for bad usage (exit 2), DatabaseError (exit 4), LockedError (exit 3).
   */
  run(args: readonly string[]): Promise<number>;
}

/** Every registered subcommand, in the order `--help` lists them. */
export const COMMANDS: readonly Command[] = [
  sensorsCommand,
  queryCommand,
  exportCommand,
  statsCommand,
  checkCommand,
  REPLAY,
  healthCommand,
];

/** The command named `name`, if registered. */
export function findCommand(name: string | undefined): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
