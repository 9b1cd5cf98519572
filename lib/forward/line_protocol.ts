/**
 * InfluxDB line protocol encoding, with the escaping rules of the specification (the same
 * rules Telegraf's serializer applies): measurement escapes comma and space; tag keys, tag
 * values and field keys escape comma, equals sign and space; control characters that would
 * break a line are written as `\n`, `\r`, `\t`, `\f`; a trailing backslash is dropped (it would
 * escape the separator after it). Empty tag values are left out (the protocol has none).
 *
 * @module
 */

import { lpKey as escapeKey, lpMeasurement as escapeMeasurement } from "../formats.ts";
import type { StoredReading } from "../store/mod.ts";

export { escapeKey, escapeMeasurement };

/** How readings map onto line protocol. */
export interface LineMapping {
  /** Template; `{sensor}` and `{unit}` are replaced. */
  measurement: string;
  field: string;
  /** Tag key for the sensor name; "" leaves it out. */
  sensorTag: string;
  /** Tag key for the unit; "" leaves it out. */
  unitTag: string;
  /** Constant tags on every line. */
  tags: readonly (readonly [string, string])[];
}

/** The tag set after the measurement (leading comma included), sorted by key as InfluxDB prefers. */
function tagSet(mapping: LineMapping, row: StoredReading): string {
  const tags: [string, string][] = [...mapping.tags.map(([k, v]) => [k, v] as [string, string])];
  if (mapping.sensorTag !== "") tags.push([mapping.sensorTag, row.sensor]);
  if (mapping.unitTag !== "" && row.unit) tags.push([mapping.unitTag, row.unit]);
  tags.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let out = "";
  for (const [k, v] of tags) {
    const value = escapeKey(v);
    if (value !== "") out += `,${escapeKey(k)}=${value}`;
  }
  return out;
}

/**
 * Encodes rows as line protocol, one line per reading, timestamps in ms. Rows whose value is
 * not finite (the protocol has no NaN or Infinity) are skipped; their count is returned.
 *
 * @example
 * ```ts
 * encodeLines([{ id: 1, sensor: "t 1", unit: "°C", ts: 1700000000000, value: 21.5 }], mapping);
 * // { text: "edgelog,sensor=t\\ 1,unit=°C value=21.5 1700000000000\n", skipped: 0 }
 * ```
 */
export function encodeLines(rows: readonly StoredReading[], mapping: LineMapping): { text: string; skipped: number } {
  const templated = mapping.measurement.includes("{");
  const fixedMeasurement = escapeMeasurement(mapping.measurement);
  const field = escapeKey(mapping.field);
  const parts: string[] = new Array(rows.length);
  let n = 0;
  let skipped = 0;
  for (const row of rows) {
    if (!Number.isFinite(row.value)) {
      skipped++;
      continue;
    }
    const measurement = templated
      ? escapeMeasurement(
        mapping.measurement.replaceAll("{sensor}", row.sensor).replaceAll("{unit}", row.unit ?? ""),
      )
      : fixedMeasurement;
    parts[n++] = `${measurement}${tagSet(mapping, row)} ${field}=${row.value} ${row.ts}\n`;
  }
  parts.length = n;
  return { text: parts.join(""), skipped };
}
