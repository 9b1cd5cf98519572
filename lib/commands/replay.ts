/**
 * `edgelog replay --forward NAME --from-id N`: moves forwarder NAME's durable cursor back so
 * readings from id N on are sent again, by the running logger within a moment or by the next
 * start. Without `--forward` it lists the forwarders with their lag.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { ConfigError } from "../config.ts";
import { DatabaseError, ExitCode } from "../errors.ts";
import { forwardLag } from "../forward/outbox.ts";
import { parseForwardTarget } from "../forward/target.ts";
import type { Command } from "./mod.ts";

const HELP = `Usage: edgelog replay [--db FILE] --forward NAME --from-id N
       edgelog replay [--db FILE]          (lists the forwarders and their lag)

Sends readings again: moves the durable cursor of forwarder NAME back so every reading from
id N on is forwarded again (at-least-once: the upstream may get some twice). A running edgelog
picks the change up with its next batch; otherwise the next start does.

  --db FILE        database (default ./data/edgelog.db, env EDGELOG_DB)
  --forward NAME   the forwarder: its name= or its --forward URL
  --from-id N      first reading id to send again (1 = everything)
`;

function openDatabase(path: string): DatabaseSync {
  try {
    if (!Deno.statSync(path).isFile) throw new DatabaseError(`${path} is not a database file`);
  } catch (e) {
    if (e instanceof DatabaseError) throw e;
    throw new DatabaseError(`no database at ${path} (${(e as Error).message}); pass --db`);
  }
  const db = new DatabaseSync(path, { timeout: 5000 });
  const table = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'forward_cursors'").get();
  if (!table) {
    db.close();
    throw new DatabaseError(`${path} is not an edgelog database (no forward_cursors table)`);
  }
  return db;
}

/** Runs `edgelog replay` and returns the exit code; throws ConfigError or DatabaseError. */
export function replay(args: readonly string[]): number {
  let values;
  try {
    values = parseArgs({
      args: [...args],
      options: {
        db: { type: "string" },
        forward: { type: "string" },
        "from-id": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }).values;
  } catch (e) {
    throw new ConfigError([`replay: ${(e as Error).message}; see 'edgelog replay --help'`]);
  }
  if (values.help) {
    console.log(HELP);
    return ExitCode.ok;
  }
  const path = resolve(values.db ?? Deno.env.get("EDGELOG_DB") ?? "./data/edgelog.db");
  const db = openDatabase(path);
  try {
    const lags = forwardLag(db);
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
    const lag = lags.find((l) => l.name === name);
    if (!lag) {
      const known = lags.map((l) => l.name).join(", ") || "none";
      throw new ConfigError([`replay: no forwarder named ${values.forward} in ${path} (known: ${known})`]);
    }
    db.prepare("UPDATE forward_cursors SET last_id = ? WHERE name = ?").run(fromId - 1, name);
    console.log(
      `${name}: cursor moved from ${lag.cursor} to ${fromId - 1}; readings from id ${fromId} on will be sent again`,
    );
    return ExitCode.ok;
  } finally {
    db.close();
  }
}

/** The `replay` subcommand. */
export const REPLAY: Command = {
  name: "replay",
  summary: "send readings again: edgelog replay --forward NAME --from-id N",
  run: (args) => Promise.resolve().then(() => replay(args)),
};
