/**
 * InfluxDB line protocol encoding for one reader ({@link LineDialect}): the escaping rules are in
 * `lib/formats.ts`, shared with `export --format line`. A name the dialect cannot carry exactly
 * is refused with its reason, never written as something else; a measurement is never written so
 * that the line starts with `#` (a comment). Empty tag values are left out (the protocol has none).
 *
 * @module
 */

import { type LineDialect, type LinePart, lpEscape, lpRefusal } from "../formats.ts";
import type { StoredReading } from "../store/mod.ts";

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
  /** The reader the lines are for. */
  dialect: LineDialect;
}

/** Readings of one sensor that were not encoded, and why. */
export interface LineRefusal {
  sensor: string;
  reason: string;
  readings: number;
}

/** The result of {@link LineEncoder.encode}. */
export interface EncodedLines {
  text: string;
  /** Rows whose value was not finite (the protocol has no NaN or Infinity). */
  skipped: number;
  /** Rows whose sensor name or unit the dialect cannot carry, by sensor. */
  refused: LineRefusal[];
}

/**
 * Why the fixed parts of `mapping` (field key, tag keys, constant tags, a measurement without
 * `{…}`) cannot be written in its dialect, or undefined. Checked once, when the target is parsed.
 */
export function mappingRefusal(mapping: LineMapping): string | undefined {
  // Field keys are unescaped like measurements by InfluxDB 1.x: checked by both rules.
  const checks: [string, string, LinePart][] = [
    [`field=${mapping.field}`, mapping.field, "key"],
    [`field=${mapping.field}`, mapping.field, "measurement"],
  ];
  if (mapping.sensorTag !== "") checks.push([`sensor-tag=${mapping.sensorTag}`, mapping.sensorTag, "key"]);
  if (mapping.unitTag !== "") checks.push([`unit-tag=${mapping.unitTag}`, mapping.unitTag, "key"]);
  for (const [k, v] of mapping.tags) checks.push([`tag key ${k}`, k, "key"], [`tag ${k}:${v}`, v, "key"]);
  if (!mapping.measurement.includes("{")) {
    checks.push([`measurement=${mapping.measurement}`, mapping.measurement, "measurement"]);
  }
  for (const [what, text, part] of checks) {
    const why = lpRefusal(text, part, mapping.dialect);
    if (why !== undefined) return `${what} ${why}`;
  }
  return undefined;
}

/** Entries of the per-sensor cache before it is cleared (sensor names are bounded by --max-sensors). */
const CACHE_MAX = 50_000;

/**
 * Encodes rows as line protocol, one line per reading, timestamps in ms. What comes before the
 * value is built once per sensor and unit.
 *
 * @example
 * ```ts
 * const encoder = new LineEncoder({ measurement: "edgelog", field: "value", sensorTag: "sensor",
 *   unitTag: "unit", tags: [], dialect: "portable" });
 * encoder.encode([{ id: 1, sensor: "t 1", unit: "°C", ts: 1700000000000, value: 21.5 }]).text;
 * // "edgelog,sensor=t\\ 1,unit=°C value=21.5 1700000000000\n"
 * ```
 */
export class LineEncoder {
  readonly #mapping: LineMapping;
  /** `sensor \0 unit` → the line up to the value, or the reason it cannot be written. */
  readonly #heads = new Map<string, { head: string } | { reason: string }>();

  constructor(mapping: LineMapping) {
    this.#mapping = mapping;
  }

  /** Encodes `rows`; non-finite values are skipped, names the dialect cannot carry refused. */
  encode(rows: readonly StoredReading[]): EncodedLines {
    const parts: string[] = [];
    let skipped = 0;
    const refused = new Map<string, LineRefusal>();
    for (const row of rows) {
      if (!Number.isFinite(row.value)) {
        skipped++;
        continue;
      }
      const head = this.#head(row.sensor, row.unit ?? "");
      if ("reason" in head) {
        const r = refused.get(row.sensor);
        if (r) r.readings++;
        else refused.set(row.sensor, { sensor: row.sensor, reason: head.reason, readings: 1 });
        continue;
      }
      parts.push(`${head.head}${row.value} ${row.ts}\n`);
    }
    return { text: parts.join(""), skipped, refused: [...refused.values()] };
  }

  #head(sensor: string, unit: string): { head: string } | { reason: string } {
    const key = `${sensor}\0${unit}`;
    let head = this.#heads.get(key);
    if (head === undefined) {
      if (this.#heads.size >= CACHE_MAX) this.#heads.clear();
      head = buildHead(this.#mapping, sensor, unit);
      this.#heads.set(key, head);
    }
    return head;
  }
}

function buildHead(mapping: LineMapping, sensor: string, unit: string): { head: string } | { reason: string } {
  const { dialect } = mapping;
  // Replacer functions: a string replacement would read `$'`, `$&`… in a name as patterns.
  const measurement = mapping.measurement.replaceAll("{sensor}", () => sensor).replaceAll("{unit}", () => unit);
  const why = lpRefusal(measurement, "measurement", dialect);
  if (why !== undefined) return { reason: `the measurement ${JSON.stringify(measurement)} ${why}` };
  const tags: [string, string][] = mapping.tags.map(([k, v]) => [k, v]);
  if (mapping.sensorTag !== "") {
    const bad = lpRefusal(sensor, "key", dialect);
    if (bad !== undefined) return { reason: `the sensor name ${bad}` };
    tags.push([mapping.sensorTag, sensor]);
  }
  if (mapping.unitTag !== "" && unit !== "") {
    const bad = lpRefusal(unit, "key", dialect);
    if (bad !== undefined) return { reason: `the unit ${JSON.stringify(unit)} ${bad}` };
    tags.push([mapping.unitTag, unit]);
  }
  // Sorted by key, as InfluxDB prefers.
  tags.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let head = lpEscape(measurement, "measurement", dialect);
  for (const [k, v] of tags) head += `,${lpEscape(k, "key", dialect)}=${lpEscape(v, "key", dialect)}`;
  return { head: `${head} ${lpEscape(mapping.field, "key", dialect)}=` };
}
