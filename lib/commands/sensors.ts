/**
 * `edgelog sensors`: the sensors known, with unit, count, first and last reading.
 *
 * @module
 */

import { Reader } from "../store/mod.ts";
import { choiceOption, COMMON_HELP, parseCommand } from "./_args.ts";
import { Output } from "./_output.ts";
import { formatRows, isoTime } from "./_table.ts";
import type { Command } from "./command.ts";

const USAGE = `Usage: edgelog sensors [--db FILE] [--format table|csv|ndjson|json]

The sensors known, with unit, number of raw readings, first and last reading time.

  --format FORMAT        table (default on a terminal), csv (default otherwise), ndjson, json
${COMMON_HELP}`;

/** The `sensors` subcommand. */
export const sensorsCommand: Command = {
  name: "sensors",
  summary: "list the sensors with unit, count, first and last reading",
  run(args: readonly string[]): Promise<number> {
    const values = parseCommand("sensors", args, { format: { type: "string" } }, USAGE);
    if (!values) return Promise.resolve(0);
    const out = Output.stdout();
    const format = choiceOption(values.format, "--format", ["table", "csv", "ndjson", "json"] as const) ??
      (out.isTerminal ? "table" : "csv");
    using reader = Reader.open(values.db);
    const summaries = reader.sensorSummaries();
    const rows = reader.sensors().map((s) => {
      const summary = summaries.get(s.id);
      return {
        sensor: s,
        count: summary?.count ?? 0,
        firstTs: summary?.firstTs ?? null,
        lastTs: summary?.lastTs ?? null,
      };
    });
    const header = ["sensor", "unit", "count", "first", "last"];
    const cells = rows.map((r) => [r.sensor.name, r.sensor.unit, r.count, isoTime(r.firstTs), isoTime(r.lastTs)]);
    if (format === "table" || format === "csv") {
      out.write(formatRows(format, header, cells));
    } else {
      const objects = rows.map((r) => ({
        sensor: r.sensor.name,
        unit: r.sensor.unit,
        count: r.count,
        first_ts: r.firstTs,
        last_ts: r.lastTs,
      }));
      out.write(
        format === "json"
          ? JSON.stringify(objects, null, 2) + "\n"
          : objects.map((o) => JSON.stringify(o) + "\n").join(""),
      );
    }
    out.close();
    return Promise.resolve(0);
  },
};
