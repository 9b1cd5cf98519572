/**
 * `edgelog check`: is the database healthy? `quick_check` (or `integrity_check` with `--full`),
 * WAL state and schema version; exit code 0 when healthy, 4 otherwise.
 *
 * @module
 */

import { ExitCode } from "../errors.ts";
import { Reader, SCHEMA_VERSION } from "../store/mod.ts";
import { COMMON_HELP, parseCommand } from "./_args.ts";
import type { Command } from "./command.ts";

const USAGE = `Usage: edgelog check [--full] [--json] [--db FILE]

Checks a database read-only: PRAGMA quick_check (O(N), skips index contents) or, with --full,
PRAGMA integrity_check, and PRAGMA foreign_key_check (every reading names a known sensor);
reports the WAL and schema version. Safe while a logger writes.

  --full                 run integrity_check (slower, also verifies indexes)
  --json                 one JSON object instead of lines for humans
${COMMON_HELP}

Exit codes: 0 healthy, 2 bad option, 4 missing, unreadable or damaged.`;

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
      problems = reader.problems(values.full ?? false);
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
      wal_bytes: reader.fileSizes().wal,
      writer_pid: reader.writerPid() ?? null,
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
