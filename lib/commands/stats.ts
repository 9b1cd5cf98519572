/**
 * `edgelog stats`: counts, database and WAL size, bytes per reading, time span, forwarder lag.
 *
 * @module
 */

import { type ForwardLag, forwardLag } from "../forward/outbox.ts";
import { fileSize, Reader, writerPid } from "../read.ts";
import { COMMON_HELP, parseCommand } from "./_args.ts";
import { isoTime } from "./_table.ts";
import type { Command } from "./mod.ts";

const USAGE = `Usage: edgelog stats [--json] [--db FILE]

Counts, database and WAL size, bytes per reading, time span and each forwarder's lag (readings
not yet acknowledged upstream, and the age of the oldest); safe while a logger writes to it.

  --json                 one JSON object instead of lines for humans
${COMMON_HELP}`;

/** What `stats` reports; the `--json` output. */
export interface DbStats {
  db: string;
  schema_version: number;
  writer_pid: number | null;
  sensors: number;
  readings: number;
  downsampled_buckets: number;
  downsampled_readings: number;
  first_ts: number | null;
  last_ts: number | null;
  db_bytes: number;
  wal_bytes: number;
  page_size: number;
  page_count: number;
  free_pages: number;
  used_bytes: number;
  bytes_per_reading: number | null;
  /** Each forwarder's outbox: readings not yet acknowledged upstream, and the oldest one's age. */
  forwarders: ForwardLag[];
}

/** Collects {@link DbStats} with index lookups and one count (no table scan beyond the count). */
export function collectStats(reader: Reader): DbStats {
  const db = reader.db;
  const readings = Number((db.prepare("SELECT count(*) AS n FROM readings").get() as { n: number }).n);
  let first: number | null = null, last: number | null = null;
  const span = db.prepare(
    "SELECT (SELECT min(ts) FROM readings WHERE sensor_id = ?1) AS a, (SELECT max(ts) FROM readings WHERE sensor_id = ?1) AS b",
  );
  for (const s of reader.sensors()) {
    const row = span.get(s.id) as { a: number | null; b: number | null };
    if (row.a !== null && (first === null || row.a < first)) first = row.a;
    if (row.b !== null && (last === null || row.b > last)) last = row.b;
  }
  let buckets = 0, covered = 0;
  if (reader.schemaVersion >= 2) {
    const row = db.prepare(
      "SELECT count(*) AS n, coalesce(sum(count), 0) AS c, min(bucket_ts) AS a FROM readings_downsampled",
    ).get() as { n: number; c: number; a: number | null };
    buckets = Number(row.n);
    covered = Number(row.c);
    if (row.a !== null && (first === null || row.a < first)) first = row.a;
  }
  const pageSize = Number(reader.pragma("page_size"));
  const pageCount = Number(reader.pragma("page_count"));
  const free = Number(reader.pragma("freelist_count"));
  const used = (pageCount - free) * pageSize;
  return {
    db: reader.path,
    schema_version: reader.schemaVersion,
    writer_pid: writerPid(reader.path) ?? null,
    sensors: reader.sensors().length,
    readings,
    downsampled_buckets: buckets,
    downsampled_readings: covered,
    first_ts: first,
    last_ts: last,
    db_bytes: fileSize(reader.path),
    wal_bytes: fileSize(`${reader.path}-wal`),
    page_size: pageSize,
    page_count: pageCount,
    free_pages: free,
    used_bytes: used,
    bytes_per_reading: readings + buckets > 0 ? Math.round((used / (readings + buckets)) * 10) / 10 : null,
    forwarders: forwardLag(db),
  };
}

/** Bytes for humans: 1.5 MB (powers of 1024, like --max-db-size). */
export function humanBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0, v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** The `stats` subcommand. */
export const statsCommand: Command = {
  name: "stats",
  summary: "counts, database and WAL size, bytes per reading, time span, forwarder lag (--json)",
  run(args: readonly string[]): Promise<number> {
    const values = parseCommand("stats", args, { json: { type: "boolean" } }, USAGE);
    if (!values) return Promise.resolve(0);
    using reader = Reader.open(values.db);
    const s = collectStats(reader);
    if (values.json) {
      console.log(JSON.stringify(s));
      return Promise.resolve(0);
    }
    const spanDays = s.first_ts !== null && s.last_ts !== null
      ? ` (${((s.last_ts - s.first_ts) / 86_400_000).toFixed(2)} days)`
      : "";
    console.log(
      [
        `database        ${s.db} (schema ${s.schema_version})`,
        `logger          ${s.writer_pid === null ? "not running" : `running, pid ${s.writer_pid || "unknown"}`}`,
        `sensors         ${s.sensors}`,
        `readings        ${s.readings} raw` +
        (s.downsampled_buckets ? `, ${s.downsampled_buckets} buckets holding ${s.downsampled_readings} more` : ""),
        `time span       ${isoTime(s.first_ts) || "-"} .. ${isoTime(s.last_ts) || "-"}${spanDays}`,
        `database file   ${humanBytes(s.db_bytes)} (${humanBytes(s.used_bytes)} in use, ${s.free_pages} free pages)`,
        `WAL file        ${humanBytes(s.wal_bytes)}${s.wal_bytes === 0 ? " (everything checkpointed)" : ""}`,
        `bytes/reading   ${s.bytes_per_reading ?? "-"}`,
        ...s.forwarders.map((f) =>
          `forwarder       ${f.name}: ${f.rows} readings behind (${f.seconds.toFixed(0)} s), cursor at id ${f.cursor}`
        ),
      ].join("\n"),
    );
    return Promise.resolve(0);
  },
};
