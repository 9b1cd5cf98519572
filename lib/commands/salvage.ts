/**
 * `edgelog salvage DAMAGED --db PATH`: copies every reading that can still be read out of a
 * damaged database (one `--on-damage quarantine` moved aside, or any damaged edgelog file) into
 * a live one, keeping sensor names, units, timestamps and values (ids are new). The damaged file
 * is only read. It writes to PATH as the writer, so it needs the writer lock: exit 3 while a
 * logger runs on PATH (stop it, salvage, start it again; see README "Unattended").
 *
 * @module
 */

import { ConfigError, ExitCode } from "../errors.ts";
import type { Reading } from "../reading.ts";
import { salvageFile, Store } from "../store/mod.ts";
import { COMMON_HELP, parseCommand } from "./_args.ts";
import type { Command } from "./command.ts";

const USAGE = `Usage: edgelog salvage DAMAGED [--db FILE]

Copies every reading that can still be read out of the damaged database DAMAGED into the
database --db (created if missing), with new ids, keeping sensor names, units, timestamps and
values. DAMAGED is never modified. Rows on unreadable pages and chunks that fail their checksum
are skipped and counted. Needs the writer lock of --db: stop the logger first (exit 3 when one
is running), then start it again.
${COMMON_HELP}`;

/** Readings per transaction when writing what was found. */
const GROUP = 5000;

/** The `salvage` subcommand. */
export const salvageCommand: Command = {
  name: "salvage",
  summary: "copy the readings still readable in a damaged database into --db",
  run(args: readonly string[]): Promise<number> {
    // DAMAGED comes first, before the options (`--db PATH` takes a word of its own).
    const damaged = args[0]?.startsWith("-") ? undefined : args[0];
    const values = parseCommand("salvage", damaged === undefined ? args : args.slice(1), {}, USAGE);
    if (!values) return Promise.resolve(ExitCode.ok);
    if (damaged === undefined) {
      throw new ConfigError([
        "salvage: name the damaged database first, e.g. edgelog salvage data/edgelog.db.damaged-… --db data/edgelog.db",
      ]);
    }
    try {
      if (!Deno.statSync(damaged).isFile) throw new Error("not a regular file");
    } catch (e) {
      throw new ConfigError([`salvage: cannot read ${damaged}: ${(e as Error).message}`]);
    }
    const started = performance.now();
    const found = salvageFile(damaged);
    const store = Store.open(values.db, { durability: "full" });
    let unknownSensors = 0;
    try {
      const unknown = new Set<number>();
      let group: Reading[] = [];
      for (let i = 0; i < found.length; i++) {
        const sensorId = found.sensorIds[i];
        const sensor = found.sensors.get(sensorId);
        if (sensor === undefined) unknown.add(sensorId);
        group.push({
          sensor: sensor?.name ?? `salvaged-sensor-${sensorId}`,
          unit: sensor?.unit ?? undefined,
          ts: found.ts[i],
          value: found.values[i],
        });
        if (group.length === GROUP) {
          store.append(group);
          group = [];
        }
      }
      if (group.length > 0) store.append(group);
      unknownSensors = unknown.size;
      store.checkpointTruncate();
    } finally {
      store.close();
    }
    const r = found.report;
    const s = ((performance.now() - started) / 1000).toFixed(1);
    console.log(
      `salvaged ${found.length} readings of ${found.sensors.size} sensors from ${damaged} into ${store.path} in ${s} s\n` +
        `  ${r.hotRows} hot rows and ${r.chunkReadings} from compressed chunks read through SQLite` +
        `${r.sqliteReadable ? "" : " (SQLite could not open it)"}; ${r.pageScanOnly} more found page by page\n` +
        `  skipped: ${r.rangesSkipped} unreadable id ranges, ${r.chunksUndecodable} undecodable chunks` +
        (unknownSensors > 0 ? `; ${unknownSensors} sensor names lost (named salvaged-sensor-ID)` : "") +
        (r.errors.length > 0 ? `\n  first errors: ${r.errors.slice(0, 3).join(" | ")}` : ""),
    );
    return Promise.resolve(ExitCode.ok);
  },
};
