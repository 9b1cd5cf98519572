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

/**
 * Which reader a line of line protocol is written for. The servers disagree on one thing, the
 * backslash: VictoriaMetrics reads `\\` as one backslash (and a backslash before `,`, `=`, space
 * or another backslash as an escape), InfluxDB 1.x keeps every backslash that does not escape
 * `,`, `=` or space literally and cannot end a name with one. No single text carries every name
 * to both, so each output says which reader it is for.
 *
 * - `victoriametrics`: backslashes doubled; carries every name.
 * - `influxdb1`: backslashes written as they are; refuses a name ending in a backslash or with
 *   an odd number of backslashes before a space, and a measurement with any backslash.
 * - `portable` (default): what both read alike; refuses a name with a backslash before `\`,
 *   `,`, `=`, space or at its end, and a measurement with any backslash (every other name is
 *   carried exactly, backslashes included).
 */
export type LineDialect = "portable" | "influxdb1" | "victoriametrics";

/** Every {@link LineDialect}, the default first. */
export const LINE_DIALECTS: readonly LineDialect[] = ["portable", "influxdb1", "victoriametrics"];

/** Where in a line a name goes: the measurement, or a tag key, tag value or field key. */
export type LinePart = "measurement" | "key";

// C0 controls, DEL and C1 controls: no reader gets them back from a line.
// deno-lint-ignore no-control-regex
const LP_CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Why `text` cannot be written as `part` in `dialect` so that the reader gets it back exactly,
 * or undefined when it can. Say it, never write a line that arrives as something else.
 *
 * @example
 * ```ts
 * lpRefusal("dir\\", "key", "influxdb1"); // "ends with a backslash (InfluxDB 1.x cannot read one there)"
 * lpRefusal("dir\\", "key", "victoriametrics"); // undefined
 * ```
 */
export function lpRefusal(text: string, part: LinePart, dialect: LineDialect): string | undefined {
  if (text === "") return "is empty";
  if (LP_CONTROL.test(text)) return "contains control characters (a line cannot carry them)";
  if (part === "measurement" && text.startsWith("#")) {
    return "starts with # (the line would be read as a comment)";
  }
  if (dialect === "victoriametrics" || !text.includes("\\")) return undefined;
  if (part === "measurement") {
    // InfluxDB 1.x unescapes measurement names by other rules than tags (`\"` and `\=` too) and
    // does not report them consistently (SHOW MEASUREMENTS and SHOW SERIES disagree).
    return "contains a backslash (InfluxDB 1.x cannot read one in a measurement; dialect victoriametrics can)";
  }
  if (text.endsWith("\\")) {
    return dialect === "influxdb1"
      ? "ends with a backslash (InfluxDB 1.x cannot read one there)"
      : "ends with a backslash (InfluxDB 1.x cannot read one there; dialect victoriametrics carries it)";
  }
  // InfluxDB 1.x finds the end of a line by taking every backslash as escaping the next
  // character, but reads names taking it only before , = and space: after an odd run of
  // backslashes and a space it counts quotes in the name and can run two lines together.
  if (dialect === "influxdb1" && /(^|[^\\])(\\\\)*\\ /.test(text)) {
    return "has an odd number of backslashes before a space (InfluxDB 1.x can misread the lines after it)";
  }
  if (dialect === "portable" && /\\[\\,= ]/.test(text)) {
    return "has a backslash before \\ , = or space (VictoriaMetrics and InfluxDB 1.x read it differently; " +
      "choose the dialect of the server)";
  }
  return undefined;
}

/**
 * Escapes `text` as `part` for `dialect`. Only for text {@link lpRefusal} accepts: what it
 * refuses comes out wrong.
 *
 * @example
 * ```ts
 * lpEscape("room 1,a=b", "key", "portable"); // "room\\ 1\\,a\\=b"
 * lpEscape("a\\b", "key", "victoriametrics"); // "a\\\\b"
 * ```
 */
export function lpEscape(text: string, part: LinePart, dialect: LineDialect): string {
  const special = dialect === "victoriametrics"
    ? (part === "measurement" ? /[\\, ]/g : /[\\,= ]/g)
    : (part === "measurement" ? /[, ]/g : /[,= ]/g);
  return text.replace(special, (c) => "\\" + c);
}

/** A JSON number, or null for NaN/±Infinity (JSON has no such numbers). */
export function jsonNumber(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}
