/**
 * Small result tables for humans (aligned columns) and CSV, for commands whose results are
 * bounded (sensors, stats). Streaming commands align with fixed widths instead.
 *
 * @module
 */

import { csvRecord } from "../formats.ts";

/** ISO 8601 UTC time of a unix-ms timestamp; empty for null. */
export function isoTime(ts: number | null): string {
  if (ts === null) return "";
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? String(ts) : d.toISOString();
}

/** Renders `rows` as an aligned table (numbers right-aligned) or CSV with a header record. */
export function formatRows(
  format: "table" | "csv",
  header: readonly string[],
  rows: readonly (readonly (string | number | null)[])[],
): string {
  if (format === "csv") return csvRecord(header) + rows.map((r) => csvRecord(r)).join("");
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? "").length)));
  const line = (r: readonly (string | number | null)[]) =>
    r.map((c, i) => typeof c === "number" ? String(c).padStart(widths[i]) : String(c ?? "").padEnd(widths[i]))
      .join("  ").trimEnd() + "\n";
  return line(header) + rows.map(line).join("");
}
