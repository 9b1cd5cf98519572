/**
 * `edgelog replay --forward NAME --from-id N`: moves forwarder NAME's durable cursor back so
 * readings from id N on are sent again, by the running logger within a moment or by the next
 * start. Without `--forward` it lists the forwarders with their lag.
 *
 * @module
 */

import { ConfigError, ExitCode } from "../errors.ts";
import { parseForwardTarget } from "../forward/mod.ts";
import { Reader, rewindCursor } from "../store/mod.ts";
import { COMMON_HELP, parseCommand } from "./_args.ts";
import type { Command } from "./command.ts";

const USAGE = `Usage: edgelog replay [--db FILE] --forward NAME --from-id N
       edgelog replay [--db FILE]          (lists the forwarders and their lag)

Sends readings again: moves the durable cursor of forwarder NAME back so every reading from
id N on is forwarded again (at-least-once: the upstream may get some twice). A running edgelog
picks the change up with its next batch; otherwise the next start does.

  --forward NAME         the forwarder: its name= or its --forward URL; required to replay
  --from-id N            first reading id to send again (1 = everything); required to replay
${COMMON_HELP}`;

/** Runs `edgelog replay` and returns the exit code; throws ConfigError or DatabaseError. */
export function replay(args: readonly string[]): number {
  const values = parseCommand("replay", args, { forward: { type: "string" }, "from-id": { type: "string" } }, USAGE);
  if (!values) return ExitCode.ok;
  using reader = Reader.open(values.db);
  const lags = reader.forwardLags();
  if (values.forward === undefined) {
    if (values["from-id"] !== undefined) throw new ConfigError(["replay: --from-id needs --forward NAME"]);
    for (const l of lags) {
      console.log(`${l.name}\tcursor ${l.cursor}\tbehind ${l.rows} readings, ${l.seconds.toFixed(1)} s`);
    }
    if (lags.length === 0) console.log("no forwarders have run on this database");
    return ExitCode.ok;
  }
  const raw = values["from-id"];
  const fromId = raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(fromId) || fromId < 1) {
    throw new ConfigError([`replay: --from-id must be a whole number ≥ 1, got ${JSON.stringify(raw ?? null)}`]);
  }
  let name = values.forward;
  if (!lags.some((l) => l.name === name)) {
    try {
      name = parseForwardTarget(name).name;
    } catch { /* not a URL: reported below */ }
  }
  const previous = lags.some((l) => l.name === name) ? rewindCursor(reader.path, name, fromId - 1) : undefined;
  if (previous === undefined) {
    const known = lags.map((l) => l.name).join(", ") || "none";
    throw new ConfigError([`replay: no forwarder named ${values.forward} in ${reader.path} (known: ${known})`]);
  }
  console.log(
    `${name}: cursor moved from ${previous} to ${fromId - 1}; readings from id ${fromId} on will be sent again`,
  );
  return ExitCode.ok;
}

/** The `replay` subcommand. */
export const replayCommand: Command = {
  name: "replay",
  summary: "send readings again: edgelog replay --forward NAME --from-id N",
  run: (args) => Promise.resolve().then(() => replay(args)),
};
