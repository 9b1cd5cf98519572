/**
 * `edgelog query`: readings of some sensors in a time range, raw or downsampled into buckets.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { csvRecord, jsonNumber } from "../formats.ts";
import { type Bucket, Reader, type ReadRange, type StampStatus, type StoredReading } from "../store/mod.ts";
import { parseBucketMs, parseTime } from "../units.ts";
import { choiceOption, COMMON_HELP, integerOption, parseCommand } from "./_args.ts";
import { Output } from "./_output.ts";
import { isoTime } from "./_table.ts";
import type { Command } from "./command.ts";

const USAGE = `Usage: edgelog query [--sensor NAME|GLOB]... [--since TIME] [--until TIME] [--every WIDTH]
                     [--format table|csv|ndjson|json] [--limit N] [--db FILE]

Readings per sensor in time order; with --every, one row per sensor and bucket with
avg, min, max, count and last (buckets aligned to the unix epoch, UTC).

  --sensor NAME|GLOB     sensor name or glob (temperature-*, *-1); repeatable; default all
  --since TIME           from TIME (inclusive): ISO 8601 (2026-01-31T12:00:00Z), unix ms,
                         now, or relative (-1h, -30m, -7d); default the first reading
  --until TIME           up to TIME (exclusive), same forms; default now and beyond
  --every WIDTH          downsample into buckets of WIDTH (10s, 1m, 1h, 1d); default raw
  --format FORMAT        table (default on a terminal), csv (default otherwise), ndjson, json
  --limit N              at most N rows; default no limit
  --restamped            one more column, clock: restamped (its provisional timestamp was
                         corrected once the wall clock was trusted), provisional (never
                         corrected), or empty; raw readings only
${COMMON_HELP}

Exit codes: 0 ok, 2 bad option/time/unknown sensor, 4 database missing or unreadable.`;

type Format = "table" | "csv" | "ndjson" | "json";

/** The `query` subcommand. */
export const queryCommand: Command = {
  name: "query",
  summary: "print readings of some sensors in a time range, raw or downsampled (--every 1m)",
  run(args: readonly string[]): Promise<number> {
    const values = parseCommand("query", args, {
      sensor: { type: "string", multiple: true },
      since: { type: "string" },
      until: { type: "string" },
      every: { type: "string" },
      format: { type: "string" },
      limit: { type: "string" },
      restamped: { type: "boolean" },
    }, USAGE);
    if (!values) return Promise.resolve(0);
    const now = Date.now();
    const problems: string[] = [];
    const attempt = <T>(fn: () => T): T | undefined => {
      try {
        return fn();
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        problems.push(...e.problems);
        return undefined;
      }
    };
    const since = values.since === undefined ? undefined : attempt(() => parseTime(values.since!, "--since", now));
    const until = values.until === undefined ? undefined : attempt(() => parseTime(values.until!, "--until", now));
    const every = values.every === undefined ? undefined : attempt(() => parseBucketMs(values.every!, "--every"));
    const format = attempt(() => choiceOption(values.format, "--format", ["table", "csv", "ndjson", "json"] as const));
    const limit = attempt(() => integerOption(values.limit, "--limit", 1)) ?? Infinity;
    if (since !== undefined && until !== undefined && since >= until) {
      problems.push(`--since (${isoTime(since)}) must be before --until (${isoTime(until)})`);
    }
    if (values.restamped && every !== undefined) problems.push("--restamped shows raw readings; leave out --every");
    if (problems.length) throw new ConfigError(problems);

    using reader = Reader.open(values.db);
    const sensors = reader.resolveSensors(values.sensor ?? [], "--sensor");
    const out = Output.stdout();
    const range: ReadRange = { sensors, since, until };
    const clock = values.restamped ? reader.stampStatus() : undefined;
    const sink = new RowSink(out, format ?? (out.isTerminal ? "table" : "csv"), every !== undefined, sensors, clock);
    if (every === undefined) {
      for (const r of reader.readings(range, limit)) {
        sink.reading(r);
        if (out.closedByReader) break;
      }
    } else {
      for (const b of reader.buckets(range, every, limit)) {
        sink.bucket(b);
        if (out.closedByReader) break;
      }
    }
    sink.end();
    out.close();
    return Promise.resolve(0);
  },
};

/** Writes rows in one format as they come (constant memory: the table uses fixed widths). */
class RowSink {
  readonly #out: Output;
  readonly #format: Format;
  readonly #sensorWidth: number;
  readonly #clock: ((id: number) => StampStatus) | undefined;
  #first = true;

  constructor(
    out: Output,
    format: Format,
    buckets: boolean,
    sensors: readonly { name: string }[],
    clock?: (id: number) => StampStatus,
  ) {
    this.#out = out;
    this.#format = format;
    this.#clock = clock;
    this.#sensorWidth = Math.max(6, ...sensors.map((s) => s.name.length));
    const header = buckets
      ? ["time", "sensor", "avg", "min", "max", "count", "last"]
      : clock
      ? ["time", "sensor", "value", "clock"]
      : ["time", "sensor", "value"];
    if (format === "csv") out.write(csvRecord(["ts", ...header]));
    else if (format === "table") out.write(this.#tableLine(header));
    else if (format === "json") out.write("[");
  }

  #tableLine(cells: readonly (string | number)[]): string {
    let line = String(cells[0]).padEnd(24) + "  " + String(cells[1]).padEnd(this.#sensorWidth);
    for (let i = 2; i < cells.length; i++) line += "  " + String(cells[i]).padStart(i === 5 ? 8 : 12);
    return line + "\n";
  }

  #json(o: Record<string, unknown>): void {
    if (this.#format === "ndjson") {
      this.#out.write(JSON.stringify(o) + "\n");
    } else {
      this.#out.write((this.#first ? "\n" : ",\n") + JSON.stringify(o));
      this.#first = false;
    }
  }

  reading(r: StoredReading): void {
    if (this.#clock === undefined) {
      if (this.#format === "csv") this.#out.write(csvRecord([r.ts, isoTime(r.ts), r.sensor, r.value]));
      else if (this.#format === "table") this.#out.write(this.#tableLine([isoTime(r.ts), r.sensor, fmt(r.value)]));
      else this.#json({ sensor: r.sensor, ts: r.ts, value: jsonNumber(r.value) });
      return;
    }
    const clock = this.#clock(r.id) ?? "";
    if (this.#format === "csv") this.#out.write(csvRecord([r.ts, isoTime(r.ts), r.sensor, r.value, clock]));
    else if (this.#format === "table") {
      this.#out.write(this.#tableLine([isoTime(r.ts), r.sensor, fmt(r.value), clock]));
    } else this.#json({ sensor: r.sensor, ts: r.ts, value: jsonNumber(r.value), clock: clock || null });
  }

  bucket(b: Bucket): void {
    if (this.#format === "csv") {
      this.#out.write(csvRecord([b.ts, isoTime(b.ts), b.sensor, b.avg, b.min, b.max, b.count, b.last]));
    } else if (this.#format === "table") {
      this.#out.write(
        this.#tableLine([isoTime(b.ts), b.sensor, fmt(b.avg), fmt(b.min), fmt(b.max), b.count, fmt(b.last)]),
      );
    } else {
      this.#json({
        sensor: b.sensor,
        ts: b.ts,
        avg: jsonNumber(b.avg),
        min: jsonNumber(b.min),
        max: jsonNumber(b.max),
        count: b.count,
        last: jsonNumber(b.last),
      });
    }
  }

  end(): void {
    if (this.#format === "json") this.#out.write(this.#first ? "]\n" : "\n]\n");
  }
}

/** A value for the table: at most 6 decimals, no trailing zeros. */
function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toFixed(6)));
}
