/**
 * `edgelog export`: every reading (or a time range) in log order as CSV, NDJSON or InfluxDB line
 * protocol, to stdout or a file, in constant memory for any size, resumable by id.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { csvField, type ExportFormat, LINE_DIALECTS, type LineDialect, lpEscape, lpRefusal } from "../formats.ts";
import { Reader, type SensorInfo, type StampStatus } from "../store/mod.ts";
import { parseTime } from "../units.ts";
import { choiceOption, COMMON_HELP, integerOption, parseCommand } from "./_args.ts";
import { Output } from "./_output.ts";
import type { Command } from "./command.ts";

const USAGE = `Usage: edgelog export [--format csv|ndjson|line] [--out FILE] [--since TIME] [--until TIME]
                      [--after-id ID] [--no-header] [--measurement NAME]
                      [--dialect DIALECT] [--db FILE]

Streams readings in log order (by id) in constant memory. Safe while a logger runs: it reads
page by page, each page a short read that never blocks the writer.

  --format FORMAT        csv (RFC 4180, default), ndjson, or line (InfluxDB line protocol,
                         nanosecond timestamps, tags sensor and unit, field value)
  --out FILE             write to FILE (created owner-only, truncated); default stdout;
                         its directory must exist
  --since TIME           only readings from TIME (inclusive): ISO 8601, unix ms, now, -1h ...;
                         default the first reading
  --until TIME           only readings before TIME (exclusive); default no end
  --after-id ID          only readings with id > ID: resume an interrupted export; default 0
  --no-header            CSV without its header line (to append a resumed export)
  --restamped            one more column, clock: restamped (its provisional timestamp was
                         corrected once the wall clock was trusted), provisional (never
                         corrected), or empty; csv and ndjson
  --measurement NAME     line protocol measurement (default edgelog)
  --dialect portable|influxdb1|victoriametrics
                         the server the lines are for (default portable: read alike by
                         InfluxDB 1.x and VictoriaMetrics); a sensor name or unit the
                         dialect cannot carry exactly is left out and reported
${COMMON_HELP}

Interrupted (Ctrl+C, SIGTERM), it finishes the current page, prints the last id exported and
exits 130; '--after-id' with that id continues where it stopped.
Exit codes: 0 ok, 2 bad option, 4 database missing or unreadable, 130 interrupted.`;

/** Readings per page: one short read statement each. */
const PAGE_ROWS = 500;

/** The `export` subcommand. */
export const exportCommand: Command = {
  name: "export",
  summary: "stream readings as CSV, NDJSON or InfluxDB line protocol (constant memory, resumable)",
  async run(args: readonly string[]): Promise<number> {
    const values = parseCommand("export", args, {
      format: { type: "string" },
      out: { type: "string" },
      since: { type: "string" },
      until: { type: "string" },
      "after-id": { type: "string" },
      "no-header": { type: "boolean" },
      measurement: { type: "string" },
      dialect: { type: "string" },
      restamped: { type: "boolean" },
    }, USAGE);
    if (!values) return 0;
    const now = Date.now();
    const format: ExportFormat = choiceOption(values.format, "--format", ["csv", "ndjson", "line"] as const) ?? "csv";
    const since = values.since === undefined ? undefined : parseTime(values.since, "--since", now);
    const until = values.until === undefined ? undefined : parseTime(values.until, "--until", now);
    const afterId = integerOption(values["after-id"], "--after-id", 0) ?? 0;
    const measurement = values.measurement ?? "edgelog";
    const dialect: LineDialect = choiceOption(values.dialect, "--dialect", LINE_DIALECTS) ?? "portable";
    const refusal = lpRefusal(measurement, "measurement", dialect);
    if (refusal !== undefined) throw new ConfigError([`--measurement: ${JSON.stringify(measurement)} ${refusal}`]);
    if (values.out !== undefined) Output.checkPath(values.out, "--out");
    if (values.restamped && format === "line") {
      throw new ConfigError([
        "--restamped: line protocol has no place for it that would not change the series; use csv or ndjson",
      ]);
    }

    using reader = Reader.open(values.db);
    const out = values.out === undefined ? Output.stdout() : Output.file(values.out, "--out");
    const refused = new Map<string, { reason: string; readings: number }>();
    const clock = values.restamped ? reader.stampStatus() : undefined;
    const encode = encoder(format, { measurement, dialect, refused }, reader, out, clock);
    if (format === "csv" && !values["no-header"]) {
      out.write(clock ? "id,ts,time,sensor,value,unit,clock\r\n" : "id,ts,time,sensor,value,unit\r\n");
    }

    let interrupted: string | undefined;
    const onSignal = (sig: Deno.Signal) => () => interrupted ??= sig;
    const listeners = (["SIGINT", "SIGTERM"] as const).map((sig) => [sig, onSignal(sig)] as const);
    for (const [sig, fn] of listeners) Deno.addSignalListener(sig, fn);
    const progress = Deno.stderr.isTerminal() ? new Progress(afterId, reader.maxId()) : undefined;
    let lastId = afterId, rows = 0, skipped = 0, pages = 0;
    try {
      while (!interrupted && !out.closedByReader) {
        const page = reader.pageById(lastId, { since, until }, PAGE_ROWS);
        if (page.length === 0) break;
        for (let i = 0; i < page.length; i++) {
          const [id, sensorId, ts, value] = page[i];
          if (!encode(id, sensorId, ts, value)) skipped++;
        }
        rows += page.length;
        lastId = page[page.length - 1][0];
        progress?.update(lastId, rows);
        // Let signals in now and then, between pages (never inside one).
        if (++pages % 64 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
      }
      out.close();
    } finally {
      for (const [sig, fn] of listeners) Deno.removeSignalListener(sig, fn);
      progress?.clear();
    }
    for (const [sensor, r] of refused) {
      skipped -= r.readings;
      console.error(
        `edgelog: ${r.readings} readings of sensor ${JSON.stringify(sensor)} left out: ${r.reason} ` +
          `(--dialect ${dialect}${dialect === "victoriametrics" ? "" : "; victoriametrics carries every name"})`,
      );
    }
    if (skipped > 0) {
      console.error(
        `edgelog: ${skipped} readings with an infinite value were skipped (line protocol cannot carry them)`,
      );
    }
    if (interrupted) {
      console.error(
        `edgelog: ${interrupted}: stopped after ${rows} readings, up to id ${lastId}; resume with --after-id ${lastId}`,
      );
      return 130;
    }
    if (progress) console.error(`edgelog: exported ${rows} readings (last id ${lastId})`);
    return 0;
  },
};

/** Appends one reading to the output; false when the format cannot carry it (skipped). */
type Encode = (id: number, sensorId: number, ts: number, value: number) => boolean;

/** Longest record, sensor name and unit aside (bytes). */
const RECORD_BYTES = 160;

/**
 * Writes readings in `format` straight into the output buffer: sensor names and units are
 * escaped and encoded once per sensor, numbers and times are written without building strings,
 * so the hot loop allocates almost nothing and memory stays flat.
 */
function encoder(
  format: ExportFormat,
  line: { measurement: string; dialect: LineDialect; refused: Map<string, { reason: string; readings: number }> },
  reader: Reader,
  out: Output,
  clock?: (id: number) => StampStatus,
): Encode {
  const utf8 = new TextEncoder();
  const perSensor = <T>(make: (s: SensorInfo) => T): (sensorId: number) => T => {
    const cache = new Map<number, T>();
    return (sensorId) => {
      let part = cache.get(sensorId);
      if (part === undefined) {
        part = make(reader.sensorById(sensorId) ?? { id: sensorId, name: `#${sensorId}`, unit: null });
        cache.set(sensorId, part);
      }
      return part;
    };
  };
  const bytes = (text: string) => utf8.encode(text);
  // --restamped: one more column, `restamped`, `provisional` or empty (`clock_log.ts`).
  const csvEnd = bytes("\r\n"), jsonEnd = bytes("}\n");
  const csvClock = { restamped: bytes(",restamped\r\n"), provisional: bytes(",provisional\r\n"), none: bytes(",\r\n") };
  const jsonClock = {
    restamped: bytes(',"clock":"restamped"}\n'),
    provisional: bytes(',"clock":"provisional"}\n'),
    none: jsonEnd,
  };
  switch (format) {
    case "csv": {
      const parts = perSensor((s) => [bytes(`,${csvField(s.name)},`), bytes(`,${csvField(s.unit)}`)] as const);
      return (id, sensorId, ts, value) => {
        const [name, unit] = parts(sensorId);
        out.reserve(RECORD_BYTES + name.length + unit.length);
        out.integer(id);
        out.ascii(",");
        out.integer(ts);
        out.ascii(",");
        out.isoTime(ts);
        out.bytes(name);
        out.ascii(String(value));
        out.bytes(unit);
        out.bytes(clock ? csvClock[clock(id) ?? "none"] : csvEnd);
        return true;
      };
    }
    case "ndjson": {
      const parts = perSensor((s) => [
        bytes(`,"sensor":${JSON.stringify(s.name)},"ts":`),
        bytes(`,"unit":${JSON.stringify(s.unit)}`),
      ]);
      return (id, sensorId, ts, value) => {
        const [name, unit] = parts(sensorId);
        out.reserve(RECORD_BYTES + name.length + unit.length);
        out.ascii('{"id":');
        out.integer(id);
        out.bytes(name);
        out.integer(ts);
        out.ascii(',"value":');
        out.ascii(Number.isFinite(value) ? String(value) : "null");
        out.bytes(unit);
        out.bytes(clock ? jsonClock[clock(id) ?? "none"] : jsonEnd);
        return true;
      };
    }
    case "line": {
      const { dialect, refused } = line;
      const m = lpEscape(line.measurement, "measurement", dialect);
      const head = perSensor((s): Uint8Array | { sensor: string; reason: string } => {
        const sensorWhy = lpRefusal(s.name, "key", dialect);
        if (sensorWhy !== undefined) return { sensor: s.name, reason: `the sensor name ${sensorWhy}` };
        const unitWhy = s.unit ? lpRefusal(s.unit, "key", dialect) : undefined;
        if (unitWhy !== undefined) return { sensor: s.name, reason: `the unit ${JSON.stringify(s.unit)} ${unitWhy}` };
        const unit = s.unit ? `,unit=${lpEscape(s.unit, "key", dialect)}` : "";
        return bytes(`${m},sensor=${lpEscape(s.name, "key", dialect)}${unit} value=`);
      });
      const tail = bytes("000000\n");
      return (_id, sensorId, ts, value) => {
        if (!Number.isFinite(value)) return false;
        const h = head(sensorId);
        if (!(h instanceof Uint8Array)) {
          const r = refused.get(h.sensor);
          if (r) r.readings++;
          else refused.set(h.sensor, { reason: h.reason, readings: 1 });
          return false;
        }
        out.reserve(RECORD_BYTES + h.length);
        out.bytes(h);
        out.ascii(String(value));
        out.ascii(" ");
        out.integer(ts);
        out.bytes(tail);
        return true;
      };
    }
  }
}

/** A progress bar on stderr, shown once an export has run for a second, redrawn at most 5×/s. */
class Progress {
  readonly #fromId: number;
  readonly #toId: number;
  readonly #started = performance.now();
  #drawnAt = 0;
  #shown = false;

  constructor(fromId: number, toId: number) {
    this.#fromId = fromId;
    this.#toId = Math.max(toId, fromId + 1);
  }

  update(lastId: number, rows: number): void {
    const now = performance.now();
    if (now - this.#started < 1000 || now - this.#drawnAt < 200) return;
    this.#drawnAt = now;
    this.#shown = true;
    const share = Math.min(1, (lastId - this.#fromId) / (this.#toId - this.#fromId));
    const width = 30;
    const filled = Math.round(share * width);
    const rate = Math.round(rows / ((now - this.#started) / 1000));
    const text = `\r[${"#".repeat(filled)}${" ".repeat(width - filled)}] ${(share * 100).toFixed(0).padStart(3)}% ` +
      `${rows} readings, ${rate}/s, id ${lastId}`;
    Deno.stderr.writeSync(new TextEncoder().encode(text));
  }

  clear(): void {
    if (this.#shown) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));
  }
}
