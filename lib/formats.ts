/**
 * Text encodings of readings shared by `query`, `export` and the HTTP read API: CSV quoting per
 * RFC 4180, InfluxDB line protocol escaping per InfluxDB's line protocol reference, NDJSON.
 *
 * @module
 */

/** Output formats of `export`. */
export type ExportFormat = "csv" | "ndjson" | "line";

/**
 * One CSV field per RFC 4180: quoted when it holds a comma, a double quote, CR or LF; inner
 * double quotes are doubled.
 *
 * @example
 * ```ts
 * csvField('say "hi", twice'); // '"say ""hi"", twice"'
 * ```
 */
export function csvField(value: string | number | null): string {
  if (value === null) return "";
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One CSV record (RFC 4180 ends records with CRLF). */
export function csvRecord(fields: readonly (string | number | null)[]): string {
  let line = "";
  for (let i = 0; i < fields.length; i++) line += (i ? "," : "") + csvField(fields[i]);
  return line + "\r\n";
}

/** Escapes a line-protocol measurement name: commas and spaces (and backslashes before them). */
export function lpMeasurement(name: string): string {
  return name.replace(/[, ]/g, "\\$&");
}

/**
 * Escapes a line-protocol tag key, tag value or field key: commas, equals signs and spaces.
 * Line protocol cannot carry newlines in keys or tags; they are replaced by spaces (escaped).
 *
 * @example
 * ```ts
 * lpKey("room 1,a=b"); // "room\\ 1\\,a\\=b"
 * ```
 */
export function lpKey(text: string): string {
  return text.replace(/[\r\n]/g, " ").replace(/[,= ]/g, "\\$&");
}

/**
 * One line of InfluxDB line protocol for a reading: `measurement,sensor=..[,unit=..] value=.. ts`,
 * with a nanosecond timestamp (the default precision). Undefined when the value is not finite.
 */
export function lpLine(
  measurement: string,
  sensor: string,
  unit: string | null,
  ts: number,
  value: number,
): string | undefined {
  if (!Number.isFinite(value)) return undefined;
  const tags = unit ? `,sensor=${lpKey(sensor)},unit=${lpKey(unit)}` : `,sensor=${lpKey(sensor)}`;
  return `${lpMeasurement(measurement)}${tags} value=${value} ${ts}000000\n`;
}

/** A JSON number, or null for NaN/±Infinity (JSON has no such numbers). */
export function jsonNumber(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}
