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

const LP_CONTROL: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f" };

/**
 * Escapes with the line-protocol rules (the same Telegraf's serializer applies): `special`
 * characters get a backslash; control characters that would break a line are written as
 * `\n`, `\r`, `\t`, `\f`; a trailing odd backslash is dropped (it would escape the separator
 * after it).
 */
function lpEscape(text: string, special: RegExp): string {
  const out = text.replace(special, (c) => LP_CONTROL[c] ?? "\\" + c);
  let trailing = 0;
  while (trailing < out.length && out[out.length - 1 - trailing] === "\\") trailing++;
  return trailing % 2 === 1 ? out.slice(0, -1) : out;
}

/** Escapes a line-protocol measurement name: commas, spaces and control characters. */
export function lpMeasurement(name: string): string {
  return lpEscape(name, /[, \n\r\t\f]/g);
}

/**
 * Escapes a line-protocol tag key, tag value or field key: commas, equals signs, spaces and
 * control characters.
 *
 * @example
 * ```ts
 * lpKey("room 1,a=b"); // "room\\ 1\\,a\\=b"
 * ```
 */
export function lpKey(text: string): string {
  return lpEscape(text, /[,= \n\r\t\f]/g);
}

/** A JSON number, or null for NaN/±Infinity (JSON has no such numbers). */
export function jsonNumber(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}
