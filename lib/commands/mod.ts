/**
 * Subcommands other than `run` (the logger itself). Each lives in its own file in this folder,
 * parses its arguments through the one parser in `_args.ts` and returns an exit code; `main.ts`
 * dispatches to it by name. Register a command by adding it to {@link COMMANDS}.
 *
 * @module
 */

import { withHelpHint } from "./_args.ts";
import { checkCommand } from "./check.ts";
import type { Command } from "./command.ts";
import { compactCommand } from "./compact.ts";
import { exportCommand } from "./export.ts";
import { queryCommand } from "./query.ts";
import { sensorsCommand } from "./sensors.ts";
import { statsCommand } from "./stats.ts";
import { healthCommand } from "./health.ts";
import { replayCommand } from "./replay.ts";
import { salvageCommand } from "./salvage.ts";

export type { Command } from "./command.ts";

/** Every registered subcommand, in the order `--help` lists them. */
export const COMMANDS: readonly Command[] = [
  sensorsCommand,
  queryCommand,
  exportCommand,
  statsCommand,
  checkCommand,
  compactCommand,
  salvageCommand,
  replayCommand,
  healthCommand,
].map(withHelpHint);

/** The command named `name`, if registered. */
export function findCommand(name: string | undefined): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
