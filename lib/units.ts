/**
 * Parsers for the quantities settings and queries are written in: durations (`250ms`, `5s`,
 * `30d`), sizes (`500MB`), points in time (`-1h`, ISO 8601, unix ms) and bucket widths. One set
 * of rules for flags, the environment, config files, read commands and the HTTP read API.
 *
 * @module
 */

import { ConfigError, InvalidValue } from "./errors.ts";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A unit {@link parseDurationMs} accepts. */
export type DurationUnit = "ms" | "s" | "m" | "h" | "d";

/**
 * Parses a duration into milliseconds: a bare number is in `defaultUnit`, or a number with a
 * unit (`250ms`, `1.5s`, `2m`, `1h`, `30d`). Throws {@link InvalidValue}.
 *
 * @example
 * ```ts
 * parseDurationMs("1.5s", "ms"); // 1500
 * parseDurationMs(60, "s"); // 60000
 * ```
 */
export function parseDurationMs(raw: unknown, defaultUnit: DurationUnit): number {
  const m = typeof raw === "number"
    ? [String(raw), String(raw), defaultUnit]
    : typeof raw === "string"
    ? /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(raw)
    : null;
  if (!m) throw new InvalidValue(`expected a duration like 250ms, 5s, 1m, got ${JSON.stringify(raw)}`);
  const ms = Number(m[1]) * UNIT_MS[m[2] ?? defaultUnit];
  if (!Number.isFinite(ms) || ms < 0) throw new InvalidValue(`expected a duration, got ${JSON.stringify(raw)}`);
  return Math.round(ms);
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 };

/**
 * Parses a size into bytes: a bare number is bytes, or a number with `KB`, `MB`, `GB`, `TB`
 * (powers of 1024, as `du -h` counts; `KiB`, `MiB`, ... are accepted too). Throws
 * {@link InvalidValue}.
 *
 * @example
 * ```ts
 * parseSizeBytes("500MB"); // 524288000
 * ```
 */
export function parseSizeBytes(raw: unknown): number {
  const m = typeof raw === "number"
    ? [String(raw), String(raw), "b"]
    : typeof raw === "string"
    ? /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$/i.exec(raw)
    : null;
  if (!m) throw new InvalidValue(`expected a size like 500MB or 2GB, got ${JSON.stringify(raw)}`);
  const unit = (m[2] ?? "b").toLowerCase().replace("i", "");
  const bytes = Math.round(Number(m[1]) * SIZE_UNITS[unit.endsWith("b") ? unit : unit + "b"]);
  if (!Number.isSafeInteger(bytes)) throw new InvalidValue(`expected a size, got ${JSON.stringify(raw)}`);
  return bytes;
}

const TIME_UNITS_TEXT = "ms, s, m, h, d, w";
const RELATIVE = /^\s*(?:now\s*)?-\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/;
const ISO_DATE = /^\s*\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?\s*$/i;

/**
 * Parses a time expression into unix ms: ISO 8601 (`2026-01-31`, `2026-01-31T12:00:00Z`; without
 * an offset it is local time), unix milliseconds (`1767182400000`), `now`, or relative to `now`
 * (`-1h`, `-30m`, `-7d`, `now-90s`). Throws {@link ConfigError} naming `option`.
 *
 * @example
 * ```ts
 * parseTime("-1h", "--since", 10_000_000); // 6_400_000
 * parseTime("2026-01-01T00:00:00Z", "--since"); // 1767225600000
 * ```
 */
export function parseTime(expr: string, option: string, nowMs: number = Date.now()): number {
  const text = expr.trim();
  if (text.toLowerCase() === "now") return nowMs;
  if (/^-?\d+$/.test(text)) {
    const n = Number(text);
    if (Number.isSafeInteger(n)) return n;
  }
  const rel = RELATIVE.exec(text.toLowerCase());
  if (rel) {
    const ms = rel[2] === "w" ? Number(rel[1]) * 7 * 86_400_000 : parseDurationMs(`${rel[1]}${rel[2]}`, "ms");
    return nowMs - Math.round(ms);
  }
  if (ISO_DATE.test(text)) {
    const ms = Date.parse(text.replace(" ", "T"));
    if (Number.isFinite(ms)) return ms;
  }
  throw new ConfigError([
    `${option}: cannot read ${JSON.stringify(expr)} as a time; use ISO 8601 (2026-01-31T12:00:00Z), ` +
    `unix ms (1767182400000), now, or relative to now (-1h, -30m, -7d; units ${TIME_UNITS_TEXT})`,
  ]);
}

/**
 * Parses a bucket width such as `1m`, `15s`, `1h` into ms (at least 1 ms, at most 366 days; a
 * bare number is seconds). Throws {@link ConfigError} naming `option`.
 *
 * @example
 * ```ts
 * parseBucketMs("15m", "--every"); // 900000
 * ```
 */
export function parseBucketMs(expr: string, option: string): number {
  let ms: number;
  try {
    ms = parseDurationMs(expr, "s");
  } catch {
    throw new ConfigError([`${option}: expected a bucket width like 10s, 1m, 1h, 1d, got ${JSON.stringify(expr)}`]);
  }
  if (ms < 1 || ms > 366 * 86_400_000) {
    throw new ConfigError([`${option}: the bucket width must be between 1ms and 366d, got ${JSON.stringify(expr)}`]);
  }
  return ms;
}

/**
 * Start of the bucket of width `bucketMs` holding `ts` (buckets are aligned to the unix epoch).
 *
 * @example
 * ```ts
 * bucketStart(125_000, 60_000); // 120000
 * ```
 */
export function bucketStart(ts: number, bucketMs: number): number {
  return Math.floor(ts / bucketMs) * bucketMs;
}
