/**
 * `edgelog stats`: counts, database and WAL size, bytes per reading, time span, forwarder lag.
 *
 * @module
 */

import { writtenBytes } from "../proc_io.ts";
import { type ForwardLag, quarantinedBeside, Reader } from "../store/mod.ts";
import { COMMON_HELP, parseCommand } from "./_args.ts";
import { isoTime } from "./_table.ts";
import type { Command } from "./command.ts";

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
  /** Bytes the running logger has written to storage since it started (/proc/PID/io), when readable. */
  writer_written_bytes: number | null;
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
  /** Damaged databases moved aside next to this one (`<db>.damaged-*`), oldest first. */
  quarantined: string[];
  /** The clock (schema 4): provisional and re-stamped readings, the last untrusted stretch. */
  clock: ClockStats | null;
}

/** What `stats` says of the clock (docs/RELIABILITY.md, "Wrong clocks"). */
export interface ClockStats {
  /**
   * `trusted`; `untrusted` while the running logger's latest segment is open (its readings get
   * provisional timestamps); `unknown` when no logger runs and the last segment never closed.
   */
  state: "trusted" | "untrusted" | "unknown";
  /** Readings whose provisional timestamps were never re-stamped (yet). */
  provisional_readings: number;
  restamped_readings: number;
  segments: number;
  /** Segments of runs that ended before the clock was trusted: their readings stay provisional. */
  abandoned_segments: number;
  last_segment: {
    id: number;
    reason: string;
    wall_at_start: number;
    correction_ms: number | null;
    restamped_at: number | null;
    abandoned_at: number | null;
  } | null;
}

function clockStats(reader: Reader, writerRuns: boolean): ClockStats | null {
  const c = reader.clockSummary();
  if (c === undefined) return null;
  const open = c.last !== null && c.last.restampedAt === null && c.last.abandonedAt === null;
  return {
    state: !open ? "trusted" : writerRuns ? "untrusted" : "unknown",
    provisional_readings: c.provisional,
    restamped_readings: c.restamped,
    segments: c.segments,
    abandoned_segments: c.abandonedSegments,
    last_segment: c.last === null ? null : {
      id: c.last.id,
      reason: c.last.reason,
      wall_at_start: c.last.wallAtStart,
      correction_ms: c.last.correctionMs,
      restamped_at: c.last.restampedAt,
      abandoned_at: c.last.abandonedAt,
    },
  };
}

/** Collects {@link DbStats} with index lookups and one count (no table scan beyond the count). */
export function collectStats(reader: Reader): DbStats {
  const pid = reader.writerPid();
  const readings = reader.readingCount();
  const span = reader.timeSpan();
  const downsampled = reader.downsampledCount();
  const usage = reader.usage();
  const files = reader.fileSizes();
  return {
    db: reader.path,
    schema_version: reader.schemaVersion,
    writer_pid: pid ?? null,
    writer_written_bytes: pid ? writtenBytes(pid) ?? null : null,
    sensors: reader.sensors().length,
    readings,
    downsampled_buckets: downsampled.buckets,
    downsampled_readings: downsampled.readings,
    first_ts: span.first,
    last_ts: span.last,
    db_bytes: files.db,
    wal_bytes: files.wal,
    page_size: usage.pageSize,
    page_count: usage.pageCount,
    free_pages: usage.freelistCount,
    used_bytes: usage.usedBytes,
    bytes_per_reading: readings + downsampled.buckets > 0
      ? Math.round((usage.usedBytes / (readings + downsampled.buckets)) * 10) / 10
      : null,
    forwarders: reader.forwardLags(),
    quarantined: quarantinedBeside(reader.path),
    clock: clockStats(reader, pid !== undefined),
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
        `logger          ${s.writer_pid === null ? "not running" : `running, pid ${s.writer_pid || "unknown"}`}` +
        (s.writer_written_bytes === null ? "" : `, ${humanBytes(s.writer_written_bytes)} written since it started`),
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
        ...(s.clock === null ? [] : [
          `clock           ${s.clock.state}; ${s.clock.restamped_readings} readings re-stamped, ` +
          `${s.clock.provisional_readings} provisional` +
          (s.clock.last_segment?.correction_ms != null
            ? ` (last correction ${s.clock.last_segment.correction_ms} ms)`
            : s.clock.last_segment
            ? ` (since ${s.clock.last_segment.reason})`
            : ""),
        ]),
        ...s.quarantined.map((q) =>
          `DAMAGED         ${q} was moved aside; recover it: edgelog salvage ${q} --db ${s.db}`
        ),
      ].join("\n"),
    );
    return Promise.resolve(0);
  },
};
