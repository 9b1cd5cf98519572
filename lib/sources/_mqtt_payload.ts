/**
 * What an MQTT message says, as readings: a plain number (named after the topic), a JSON object of
 * numbers (one sensor per key, nested objects flattened with `/`), edgelog's reading object, or
 * NDJSON readings. Pure and bounded; nothing here throws on bad input.
 *
 * @module
 */

import type { Reading } from "../reading.ts";
import { checkReading, LIMITS, parseJsonLine, type ParseResult, readingFromJson } from "./_reading_parser.ts";

/** How topics become sensor names. */
export interface SensorNaming {
  /** Leading topic levels dropped (`strip=1`: `home/kitchen/t` → `kitchen/t`). */
  strip: number;
  /** Put in front of every name (`prefix=site1/`). */
  prefix: string;
  /** Unit of plain numbers and JSON-object numbers; none when undefined. */
  unit?: string;
}

/** Most readings one message may give (a JSON object of numbers); the rest is refused. */
export const MAX_READINGS_PER_MESSAGE = 1000;
/** Deepest nesting of a JSON object that is flattened. */
const MAX_DEPTH = 8;

// A decimal number as sensors send it; "nan", "inf", hex and the like are refused.
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The readings of one message and the refusals among its parts. */
export interface PayloadResult {
  readings: Reading[];
  rejected: Extract<ParseResult, { ok: false }>[];
}

/** The sensor name for `topic` (and an optional `/key` path below it). */
export function sensorName(topic: string, naming: SensorNaming, key?: string): string {
  const levels = topic.split("/");
  const kept = levels.slice(Math.min(naming.strip, levels.length - 1)).join("/");
  return naming.prefix + kept + (key === undefined ? "" : `/${key}`);
}

function bad(reason: Extract<ParseResult, { ok: false }>["reason"], message: string): PayloadResult {
  return { readings: [], rejected: [{ ok: false, reason, message }] };
}

/**
 * Parses one message.
 *
 * @example
 * ```ts
 * readingsFromPayload("home/kitchen", new TextEncoder().encode('{"t":21.5,"h":40}'), { strip: 0, prefix: "" }, Date.now());
 * // readings home/kitchen/t = 21.5 and home/kitchen/h = 40
 * ```
 */
export function readingsFromPayload(
  topic: string,
  payload: Uint8Array,
  naming: SensorNaming,
  now: number,
): PayloadResult {
  let text: string;
  try {
    text = decoder.decode(payload).trim();
  } catch {
    return bad("invalid_utf8", "payload is not UTF-8");
  }
  if (text === "") return bad("bad_payload", "empty payload");
  if (NUMBER.test(text)) {
    const r = checkReading(sensorName(topic, naming), Number(text), undefined, naming.unit, now);
    return r.ok ? { readings: [r.reading], rejected: [] } : { readings: [], rejected: [r] };
  }
  if (!text.startsWith("{")) {
    return bad(/^[+-]?(nan|inf(inity)?)$/i.test(text) ? "not_finite" : "bad_payload", "not a number or a JSON object");
  }
  if (text.includes("\n")) return ndjson(text, now);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return bad("invalid_json", `not valid JSON (${(e as Error).message.slice(0, 120)})`);
  }
  const o = value as Record<string, unknown>;
  if ("sensor" in o && "value" in o) {
    const r = readingFromJson(o, now);
    return r.ok ? { readings: [r.reading], rejected: [] } : { readings: [], rejected: [r] };
  }
  return flattened(topic, o, naming, now);
}

function ndjson(text: string, now: number): PayloadResult {
  const out: PayloadResult = { readings: [], rejected: [] };
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    if (out.readings.length + out.rejected.length >= MAX_READINGS_PER_MESSAGE) {
      out.rejected.push({ ok: false, reason: "bad_payload", message: `more than ${MAX_READINGS_PER_MESSAGE} lines` });
      break;
    }
    const r = line.length > LIMITS.lineBytesMax
      ? { ok: false as const, reason: "line_too_long" as const, message: "line too long" }
      : parseJsonLine(line, now);
    if (r.ok) out.readings.push(r.reading);
    else out.rejected.push(r);
  }
  return out;
}

function flattened(topic: string, o: Record<string, unknown>, naming: SensorNaming, now: number): PayloadResult {
  const out: PayloadResult = { readings: [], rejected: [] };
  let numbers = 0;
  const walk = (node: Record<string, unknown>, path: string, depth: number) => {
    for (const [key, v] of Object.entries(node)) {
      const name = path === "" ? key : `${path}/${key}`;
      if (typeof v === "number") {
        if (++numbers > MAX_READINGS_PER_MESSAGE) continue;
        const r = checkReading(sensorName(topic, naming, name), v, undefined, naming.unit, now);
        if (r.ok) out.readings.push(r.reading);
        else out.rejected.push(r);
      } else if (typeof v === "object" && v !== null && !Array.isArray(v) && depth < MAX_DEPTH) {
        walk(v as Record<string, unknown>, name, depth + 1);
      }
      // Strings, booleans, arrays: device metadata (Tasmota's "Time", ESPHome's "state"), not readings.
    }
  };
  walk(o, "", 1);
  if (numbers > MAX_READINGS_PER_MESSAGE) {
    out.rejected.push({
      ok: false,
      reason: "bad_payload",
      message: `${numbers - MAX_READINGS_PER_MESSAGE} numbers beyond ${MAX_READINGS_PER_MESSAGE} in one message`,
    });
  }
  if (numbers === 0) return bad("bad_payload", "JSON object without any number");
  return out;
}
