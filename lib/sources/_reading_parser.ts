/**
 * Validation of readings that come from outside (stdin, HTTP, a command's output): one line or
 * one JSON value in, a {@link Reading} or a counted reason out. Nothing here throws on bad input.
 *
 * @module
 */

import { ClockGuard } from "../clock.ts";
import type { Reading } from "../reading.ts";

/** Every reason an input may be refused for: the keys of `rejectedByReason` in the stats. */
export const REJECT_REASONS = [
  "invalid_json",
  "not_an_object",
  "missing_field",
  "unknown_field",
  "wrong_type",
  "not_finite",
  "value_out_of_range",
  "bad_sensor_name",
  "bad_unit",
  "ts_before_2000",
  "ts_in_future",
  "line_too_long",
  "invalid_utf8",
  "bad_text_line",
  "body_too_large",
  "body_refused",
  "too_many_sensors",
  "bad_payload",
  "payload_too_large",
  "not_nmea",
  "missing_checksum",
  "bad_checksum",
  "unknown_sentence",
  "malformed_field",
  "no_fix",
  "bad_crc",
  "timeout",
  "slave_silent",
  "unreachable",
  "disconnected",
  "exception",
  "truncated",
  "function_mismatch",
  "byte_count_mismatch",
  "bad_length",
  "bad_protocol_id",
  "garbage",
] as const;

/** Why an input was refused. */
export type RejectReason = typeof REJECT_REASONS[number];

/** The outcome of parsing one input. */
export type ParseResult =
  | { ok: true; reading: Reading }
  | { ok: false; reason: RejectReason; message: string };

/**
 * At most `max` distinct sensor names (`--max-sensors`): a push source that names a new sensor
 * every time (a timestamp or a counter in the name) would otherwise grow the `sensors` table and
 * edgelog's memory without bound. Names already in the database, or admitted before, always pass.
 */
export class SensorLimit {
  readonly max: number;
  readonly #known: Set<string>;

  /**
   * @example
   * ```ts
   * const limit = new SensorLimit(2, ["t1"]);
   * limit.admit({ ok: true, reading: { sensor: "t2", ts: Date.now(), value: 1 } }).ok; // true
   * limit.admit({ ok: true, reading: { sensor: "t3", ts: Date.now(), value: 1 } }).ok; // false
   * ```
   */
  constructor(max: number, known: Iterable<string> = []) {
    this.max = max;
    this.#known = new Set(known);
  }

  /** Number of sensor names known. */
  get size(): number {
    return this.#known.size;
  }

  /** `result`, or a `too_many_sensors` rejection when it names a new sensor beyond the limit. */
  admit(result: ParseResult): ParseResult {
    if (!result.ok) return result;
    const name = result.reading.sensor;
    if (this.#known.has(name)) return result;
    if (this.#known.size >= this.max) {
      return fail(
        "too_many_sensors",
        `sensor ${JSON.stringify(name)} would be sensor ${
          this.#known.size + 1
        }; the limit is ${this.max} (--max-sensors)`,
      );
    }
    this.#known.add(name);
    return result;
  }
}

/** Limits every source applies. */
export const LIMITS = Object.freeze({
  /** Longest sensor name, in UTF-16 code units. */
  sensorNameMax: 200,
  /** Longest unit. */
  unitMax: 32,
  /** Largest absolute value: beyond 2^53 a double no longer holds whole numbers exactly. */
  valueAbsMax: Number.MAX_SAFE_INTEGER,
  /** Oldest timestamp accepted: 2000-01-01T00:00:00Z. */
  tsMin: Date.UTC(2000, 0, 1),
  /** How far ahead of the wall clock a timestamp may be (clock skew between devices), ms. */
  tsFutureMs: 24 * 3_600_000,
  /** Longest line of NDJSON or text, in bytes. */
  lineBytesMax: 64 * 1024,
});

const FIELDS = new Set(["sensor", "value", "ts", "unit"]);
// C0 controls, DEL and C1 controls: never part of a sensor name or unit.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function fail(reason: RejectReason, message: string): ParseResult {
  return { ok: false, reason, message };
}

/** Checks a sensor name or unit; returns the problem or undefined. */
function badName(name: string, max: number): string | undefined {
  if (name.length === 0) return "is empty";
  if (name.length > max) return `is longer than ${max} characters`;
  if (CONTROL.test(name)) return "contains control characters";
  if (!name.isWellFormed()) return "contains unpaired surrogates";
  if (name.trim() !== name) return "has leading or trailing spaces";
  return undefined;
}

/**
 * Validates a reading given as a JSON value: `{"sensor": string, "value": number, "ts"?: unix
 * ms, "unit"?: string}`; nothing else is allowed. `now` (unix ms) fills a missing `ts`.
 *
 * @example
 * ```ts
 * readingFromJson({ sensor: "t1", value: 21.5 }, Date.now()); // { ok: true, reading: … }
 * ```
 */
export function readingFromJson(value: unknown, now: number): ParseResult {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail("not_an_object", 'expected a JSON object {"sensor":…,"value":…}');
  }
  const o = value as Record<string, unknown>;
  for (const key in o) {
    if (!FIELDS.has(key)) {
      return fail(
        "unknown_field",
        `unknown field ${JSON.stringify(key.slice(0, 40))}; allowed: sensor, value, ts, unit`,
      );
    }
  }
  if (o.sensor === undefined) return fail("missing_field", 'missing field "sensor"');
  if (o.value === undefined) return fail("missing_field", 'missing field "value"');
  if (typeof o.sensor !== "string") return fail("wrong_type", '"sensor" must be a string');
  if (typeof o.value !== "number") return fail("wrong_type", '"value" must be a number');
  if (o.ts !== undefined && typeof o.ts !== "number") return fail("wrong_type", '"ts" must be a number (unix ms)');
  if (o.unit !== undefined && o.unit !== null && typeof o.unit !== "string") {
    return fail("wrong_type", '"unit" must be a string');
  }
  return checkReading(o.sensor, o.value, o.ts as number | undefined, (o.unit ?? undefined) as string | undefined, now);
}

/** Validates the parts of a reading; the last step of every parser. */
export function checkReading(
  sensor: string,
  value: number,
  ts: number | undefined,
  unit: string | undefined,
  now: number,
): ParseResult {
  const nameProblem = badName(sensor, LIMITS.sensorNameMax);
  if (nameProblem) return fail("bad_sensor_name", `sensor name ${nameProblem}`);
  if (!Number.isFinite(value)) return fail("not_finite", '"value" must be a finite number');
  if (Math.abs(value) > LIMITS.valueAbsMax) {
    return fail("value_out_of_range", `"value" must be within ±${LIMITS.valueAbsMax}`);
  }
  if (unit !== undefined) {
    const unitProblem = badName(unit, LIMITS.unitMax);
    if (unitProblem) return fail("bad_unit", `unit ${unitProblem}`);
  }
  let t = now;
  if (ts !== undefined) {
    if (!Number.isFinite(ts)) return fail("not_finite", '"ts" must be a finite number (unix ms)');
    t = Math.round(ts);
    if (t < LIMITS.tsMin) return fail("ts_before_2000", '"ts" is before 2000-01-01 (it is unix milliseconds)');
    // A provisional `now` (the wall clock is not trusted, `clock.ts`) cannot tell what is future.
    if (t > now + LIMITS.tsFutureMs && !ClockGuard.isProvisional(now)) {
      return fail("ts_in_future", '"ts" is more than 24 h in the future');
    }
  }
  return { ok: true, reading: unit === undefined ? { sensor, ts: t, value } : { sensor, ts: t, value, unit } };
}

/**
 * Parses one NDJSON line (already decoded, without its newline).
 *
 * @example
 * ```ts
 * parseJsonLine('{"sensor":"t1","value":21.5,"unit":"°C"}', Date.now());
 * ```
 */
export function parseJsonLine(line: string, now: number): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    return fail("invalid_json", `not valid JSON (${(e as Error).message.slice(0, 120)})`);
  }
  return readingFromJson(value, now);
}

// A decimal number as people and tools write it; "nan", "inf", hex and the like are refused.
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Parses one `name value [unit]` line (fields separated by spaces or tabs).
 *
 * @example
 * ```ts
 * parseTextLine("cpu_temp 48.5 °C", Date.now()); // { ok: true, reading: { sensor: "cpu_temp", … } }
 * ```
 */
export function parseTextLine(line: string, now: number): ParseResult {
  const fields = line.trim().split(/[ \t]+/);
  if (fields.length < 2 || fields.length > 3) {
    return fail("bad_text_line", "expected 'name value [unit]'");
  }
  const [sensor, raw, unit] = fields;
  if (!NUMBER.test(raw)) {
    return fail(/^[+-]?(nan|inf(inity)?)$/i.test(raw) ? "not_finite" : "wrong_type", "value is not a decimal number");
  }
  return checkReading(sensor, Number(raw), undefined, unit, now);
}

/** Line formats: NDJSON, `name value [unit]` text, or decided per line (`{` starts JSON). */
export type LineFormat = "ndjson" | "text" | "auto";

/** Parses one line in `format`. */
export function parseLine(line: string, format: LineFormat, now: number): ParseResult {
  if (format === "ndjson") return parseJsonLine(line, now);
  if (format === "text") return parseTextLine(line, now);
  return line.trimStart().startsWith("{") ? parseJsonLine(line, now) : parseTextLine(line, now);
}
