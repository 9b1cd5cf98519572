/**
 * `edgelog check`: is the database healthy? `quick_check` (or `integrity_check` with `--full`),
 * WAL state and schema version; exit code 0 when healthy, 4 otherwise.
 *
 * @module
 */

import { ExitCode } from "../errors.ts";
import { fileSize, Reader, writerPid } from "../read.ts";
import { SCHEMA_VERSION } from "../store.ts";
import { COMMON_HELP, parseCommand } from "./_args.ts";
import type { Command } from "./mod.ts";

const USAGE = `Usage: edgelog check [--full] [--json] [--db FILE]

Checks a database read-only: PRAGMA quick_check (O(N), skips index contents) or, with --full,
PRAGMA integrity_check, and PRAGMA foreign_key_check (every reading names a known sensor);
reports the WAL and schema version. Safe while a logger writes.

  --full                 run integrity_check (slower, also verifies indexes)
  --json                 one JSON object instead of lines for humans
${COMMON_HELP}

Exit codes: 0 healthy, 2 bad option, 4 missing, unreadable or damaged.`;

/** Rows whose `sensor_id` names no sensor (`PRAGMA foreign_key_check`), as text; at most 100. */
function foreignKeyProblems(reader: Reader): string[] {
  const rows = reader.db.prepare("PRAGMA foreign_key_check").all() as {
    table: string;
    rowid: number;
    parent: string;
  }[];
  const shown = rows.slice(0, 100).map((r) => `${r.table} row ${r.rowid} refers to a missing row of ${r.parent}`);
  if (rows.length > 100) shown.push(`… and ${rows.length - 100} more rows with a missing ${rows[0].parent} row`);
  return shown;
}

/** The `check` subcommand. */
export const checkCommand: Command = {
  name: "check",
  summary: "check the database (quick_check, --full integrity_check), WAL and schema; exit 0 or 4",
  run(args: readonly string[]): Promise<number> {
    const values = parseCommand("check", args, { full: { type: "boolean" }, json: { type: "boolean" } }, USAGE);
    if (!values) return Promise.resolve(0);
    using reader = Reader.open(values.db);
    const pragma = values.full ? "integrity_check" : "quick_check";
    let problems: string[];
    try {
      problems = (reader.db.prepare(`PRAGMA ${pragma}(100)`).all() as Record<string, string>[])
        .map((r) => String(Object.values(r)[0]))
        .filter((line) => line !== "ok");
      problems.push(...foreignKeyProblems(reader));
    } catch (e) {
      problems = [(e as Error).message];
    }
    const result = {
      db: reader.path,
      ok: problems.length === 0,
      check: pragma,
      problems,
      schema_version: reader.schemaVersion,
      schema_current: reader.schemaVersion === SCHEMA_VERSION,
      journal_mode: String(reader.pragma("journal_mode")),
      wal_bytes: fileSize(`${reader.path}-wal`),
      writer_pid: writerPid(reader.path) ?? null,
    };
    if (values.json) {
      console.log(JSON.stringify(result));
    } else {
      console.log(
        [
          `${result.ok ? "ok" : "DAMAGED"}: ${reader.path} (${pragma})`,
          ...problems.map((p) => `  ${p}`),
          `schema version  ${result.schema_version}${
            result.schema_current ? "" : ` (this build writes ${SCHEMA_VERSION}; the logger migrates it on start)`
          }`,
          `journal mode    ${result.journal_mode}`,
          `WAL             ${result.wal_bytes} bytes${
            result.wal_bytes === 0 ? "" : result.writer_pid === null ? " (recovered on the next start)" : ""
          }`,
          `logger          ${result.writer_pid === null ? "not running" : `running, pid ${result.writer_pid}`}`,
        ].join("\n"),
      );
      if (!result.ok) {
        console.error(`edgelog: ${reader.path} is damaged; restore it from a backup or export what is readable`);
      }
    }
    return Promise.resolve(result.ok ? ExitCode.ok : ExitCode.database);
  },
};
