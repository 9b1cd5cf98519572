/**
 * NMEA 0183 sentences from a GNSS receiver, one line in, readings or a typed rejection out.
 * Pure: no I/O, never throws on input. Knows GGA (fix data) and RMC (recommended minimum) from
 * GNSS talkers; everything else is refused with a reason meant to be counted.
 *
 * Readings are named `<prefix>/<quantity>` (prefix "gps" by default, so two receivers can be
 * told apart):
 *
 * | sensor            | from     | unit | meaning |
 * | ----------------- | -------- | ---- | ------- |
 * | `gps/latitude`    | GGA, RMC | °    | signed decimal degrees, north positive |
 * | `gps/longitude`   | GGA, RMC | °    | signed decimal degrees, east positive |
 * | `gps/altitude`    | GGA      | m    | above mean sea level |
 * | `gps/fix_quality` | GGA      |      | 1 GPS, 2 DGPS, 4 RTK fixed, 5 RTK float, 6 dead reckoning, … |
 * | `gps/satellites`  | GGA      |      | satellites in use |
 * | `gps/hdop`        | GGA      |      | horizontal dilution of precision |
 * | `gps/speed`       | RMC      | m/s  | speed over ground (sent in knots; 1 kn = 1852/3600 m/s) |
 * | `gps/course`      | RMC      | °    | course over ground, true |
 *
 * Fields a receiver leaves empty (altitude, speed, course…) yield no reading rather than a
 * rejection. The receiver's own time comes back as `ts` (unix ms): RMC has the date; GGA has only
 * the time of day, dated to the day that puts it closest to `now`.
 *
 * @module
 */

/**
 * Why a line was refused; meant as keys of a rejection counter.
 *
 * @example
 * ```ts
 * const r = parseNmea(line, Date.now());
 * if (!r.ok) counts.set(r.reason, (counts.get(r.reason) ?? 0) + 1);
 * ```
 */
export type NmeaRejectReason =
  /** No `$` sentence in the line, or characters NMEA does not use. */
  | "not_nmea"
  /** Longer than any NMEA sentence (82 characters by the standard; {@link NMEA_MAX_SENTENCE} here). */
  | "line_too_long"
  /** No `*hh` checksum: the line was cut short, or the receiver does not send checksums. */
  | "missing_checksum"
  /** The checksum does not match: the line was corrupted. */
  | "bad_checksum"
  /** A sentence type or talker this parser does not read (GSV, VTG, proprietary `$P…`…). */
  | "unknown_sentence"
  /** A field that does not parse, is out of range, or is missing. */
  | "malformed_field"
  /** The receiver says it has no position (GGA quality 0, RMC status V or mode N). */
  | "no_fix";

/**
 * A value from a sentence; the caller adds the timestamp and edgelog's own checks.
 *
 * @example
 * ```ts
 * const reading: NmeaReading = { sensor: "gps/altitude", value: 545.4, unit: "m" };
 * ```
 */
export interface NmeaReading {
  sensor: string;
  value: number;
  unit?: string;
}

/**
 * A sentence that was read.
 *
 * @example
 * ```ts
 * const r = parseNmea(line, Date.now());
 * if (r.ok) for (const x of r.readings) store({ ...x, ts: r.ts ?? Date.now() });
 * ```
 */
export interface NmeaSentence {
  ok: true;
  /** Talker id, e.g. "GP", "GN". */
  talker: string;
  type: "GGA" | "RMC";
  /** The receiver's time of the fix, unix ms; undefined when the sentence has no time. */
  ts?: number;
  readings: NmeaReading[];
}

/**
 * A line that was refused.
 *
 * @example
 * ```ts
 * const r: NmeaRejection = { ok: false, reason: "no_fix", message: "GPGGA: fix quality 0 (no fix)" };
 * ```
 */
export interface NmeaRejection {
  ok: false;
  reason: NmeaRejectReason;
  /** One line for the log. */
  message: string;
}

/**
 * Options of {@link parseNmea}.
 *
 * @example
 * ```ts
 * parseNmea(line, Date.now(), { prefix: "boat/gnss" }); // "boat/gnss/latitude", …
 * ```
 */
export interface NmeaOptions {
  /** First part of the sensor names (default "gps"). */
  prefix?: string;
}

/**
 * A bad option (not bad input: input never throws).
 *
 * @example
 * ```ts
 * parseNmea("$GPGGA…", Date.now(), { prefix: "" }); // throws NmeaError
 * ```
 */
export class NmeaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NmeaError";
  }
}

/**
 * Talker ids of satellite navigation receivers: GP GPS, GN combined GNSS, GL GLONASS, GA Galileo,
 * GB and BD BeiDou (NMEA 4.11 and older spellings), GQ QZSS, GI NavIC.
 *
 * @example
 * ```ts
 * NMEA_TALKERS.includes("GN"); // true
 * ```
 */
export const NMEA_TALKERS: readonly string[] = Object.freeze(["GP", "GN", "GL", "GA", "GB", "BD", "GQ", "GI"]);

/**
 * Longest sentence accepted, from `$` to the checksum: the standard's 82 characters (with CR LF)
 * and some slack for receivers that exceed it.
 *
 * @example
 * ```ts
 * "$GPGGA,…*47".length <= NMEA_MAX_SENTENCE;
 * ```
 */
export const NMEA_MAX_SENTENCE = 120;

/**
 * The NMEA checksum of a sentence body (the characters between `$` and `*`): their XOR.
 *
 * @example
 * ```ts
 * nmeaChecksum("GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,").toString(16); // "47"
 * ```
 */
export function nmeaChecksum(body: string): number {
  let sum = 0;
  for (let i = 0; i < body.length; i++) sum ^= body.charCodeAt(i);
  return sum;
}

function fail(reason: NmeaRejectReason, message: string): NmeaRejection {
  return { ok: false, reason, message };
}

const UNSIGNED = /^\d+(?:\.\d*)?$/;
const SIGNED = /^-?\d+(?:\.\d*)?$/;
const DAY_MS = 86_400_000;
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Thrown inside the field parsers only, and turned into a rejection by {@link parseNmea}. */
class FieldError extends Error {
  readonly reason: NmeaRejectReason;
  constructor(reason: NmeaRejectReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

function short(s: string): string {
  return JSON.stringify(s.length > 20 ? `${s.slice(0, 20)}…` : s);
}

/**
 * Reads one line holding an NMEA 0183 sentence. The line may end in CR LF, carry garbage before
 * the `$` (binary protocol bytes, a partial earlier sentence) or be cut short; `now` (unix ms)
 * dates GGA's time of day.
 *
 * @example
 * ```ts
 * parseNmea("$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n", Date.UTC(1994, 2, 23, 12));
 * // { ok: true, talker: "GP", type: "GGA", ts: 764426119000,
 * //   readings: [{ sensor: "gps/latitude", value: 48.1173, unit: "°" }, …] }
 * parseNmea("$GPGGA,123519,,,,,0,00,,,M,,M,,*6B", Date.now()); // { ok: false, reason: "no_fix", … }
 * ```
 */
export function parseNmea(line: string, now: number, options: NmeaOptions = {}): NmeaSentence | NmeaRejection {
  const prefix = options.prefix ?? "gps";
  if (typeof prefix !== "string" || prefix.length === 0 || prefix.length > 100 || CONTROL.test(prefix)) {
    throw new NmeaError(`prefix ${short(String(prefix))} must be 1–100 characters without control characters`);
  }
  const dollar = line.lastIndexOf("$");
  if (dollar < 0) return fail("not_nmea", "no '$' sentence start in the line");
  const sentence = line.slice(dollar).trimEnd();
  if (sentence.length > NMEA_MAX_SENTENCE) {
    return fail("line_too_long", `sentence of ${sentence.length} characters; at most ${NMEA_MAX_SENTENCE}`);
  }
  const star = sentence.indexOf("*");
  if (star < 0) return fail("missing_checksum", `no '*hh' checksum in ${short(sentence)} (cut short?)`);
  const given = sentence.slice(star + 1);
  if (!/^[0-9A-Fa-f]{2}$/.test(given)) {
    return fail("missing_checksum", `checksum ${short(given)} is not two hex digits (cut short?)`);
  }
  const body = sentence.slice(1, star);
  const sum = nmeaChecksum(body);
  if (sum !== parseInt(given, 16)) {
    return fail("bad_checksum", `checksum ${given} in ${short(sentence)}; the sentence sums to ${hex2(sum)}`);
  }
  if (!/^[\x20-\x7e]*$/.test(body)) return fail("not_nmea", "sentence has characters outside printable ASCII");
  const fields = body.split(",");
  const address = fields[0];
  const talker = address.slice(0, 2);
  const type = address.slice(2);
  if (address.length !== 5 || !NMEA_TALKERS.includes(talker) || (type !== "GGA" && type !== "RMC")) {
    return fail("unknown_sentence", `sentence ${short(address)} is not GGA or RMC from a GNSS talker`);
  }
  try {
    return type === "GGA" ? gga(fields, talker, now, prefix) : rmc(fields, talker, prefix);
  } catch (e) {
    if (e instanceof FieldError) return fail(e.reason, `${address}: ${e.message}`);
    throw e;
  }
}

function hex2(n: number): string {
  return n > 0xff ? "a non-ASCII value" : n.toString(16).toUpperCase().padStart(2, "0");
}

/** $--GGA,time,lat,N/S,lon,E/W,quality,satellites,hdop,altitude,M,separation,M,age,station */
function gga(f: string[], talker: string, now: number, prefix: string): NmeaSentence {
  if (f.length < 15) throw new FieldError("malformed_field", `${f.length - 1} fields; GGA has 14`);
  const quality = f[6];
  if (!/^[0-8]$/.test(quality)) throw new FieldError("malformed_field", `fix quality ${short(quality)} is not 0–8`);
  if (quality === "0") throw new FieldError("no_fix", "fix quality 0 (no fix)");
  const readings = position(f[2], f[3], f[4], f[5], prefix);
  if (f[9] !== "") {
    if (!SIGNED.test(f[9])) throw new FieldError("malformed_field", `altitude ${short(f[9])} is not a number`);
    if (f[10] !== "M") throw new FieldError("malformed_field", `altitude unit ${short(f[10])} is not M`);
    readings.push({ sensor: `${prefix}/altitude`, value: Number(f[9]), unit: "m" });
  }
  readings.push({ sensor: `${prefix}/fix_quality`, value: Number(quality) });
  if (f[7] !== "") {
    if (!/^\d{1,2}$/.test(f[7])) throw new FieldError("malformed_field", `satellites ${short(f[7])} is not 0–99`);
    readings.push({ sensor: `${prefix}/satellites`, value: Number(f[7]) });
  }
  if (f[8] !== "") {
    if (!UNSIGNED.test(f[8])) throw new FieldError("malformed_field", `HDOP ${short(f[8])} is not a number`);
    readings.push({ sensor: `${prefix}/hdop`, value: Number(f[8]) });
  }
  const result: NmeaSentence = { ok: true, talker, type: "GGA", readings };
  if (f[1] !== "") result.ts = nearestDay(timeOfDay(f[1]), now);
  return result;
}

/** $--RMC,time,status,lat,N/S,lon,E/W,speed,course,date,variation,E/W[,mode[,navigation status]] */
function rmc(f: string[], talker: string, prefix: string): NmeaSentence {
  if (f.length < 12) throw new FieldError("malformed_field", `${f.length - 1} fields; RMC has at least 11`);
  const status = f[2];
  if (status === "V") throw new FieldError("no_fix", "status V (warning: no valid fix)");
  if (status !== "A") throw new FieldError("malformed_field", `status ${short(status)} is not A or V`);
  // NMEA 2.3 added a mode indicator; N means "data not valid" even when status says A.
  if (f.length > 12 && f[12] === "N") throw new FieldError("no_fix", "mode N (data not valid)");
  const readings = position(f[3], f[4], f[5], f[6], prefix);
  if (f[7] !== "") {
    if (!UNSIGNED.test(f[7])) throw new FieldError("malformed_field", `speed ${short(f[7])} is not a number`);
    readings.push({ sensor: `${prefix}/speed`, value: (Number(f[7]) * 1852) / 3600, unit: "m/s" });
  }
  if (f[8] !== "") {
    const course = Number(f[8]);
    if (!UNSIGNED.test(f[8]) || course > 360) {
      throw new FieldError("malformed_field", `course ${short(f[8])} is not 0–360`);
    }
    readings.push({ sensor: `${prefix}/course`, value: course, unit: "°" });
  }
  const result: NmeaSentence = { ok: true, talker, type: "RMC", readings };
  if (f[9] !== "") {
    const day = date(f[9]);
    if (f[1] !== "") result.ts = day + timeOfDay(f[1]);
  }
  return result;
}

function position(lat: string, ns: string, lon: string, ew: string, prefix: string): NmeaReading[] {
  if (lat === "" || lon === "") throw new FieldError("malformed_field", "a fix without latitude or longitude");
  const latitude = angle(lat, 2, 90, "latitude");
  const longitude = angle(lon, 3, 180, "longitude");
  if (ns !== "N" && ns !== "S") {
    throw new FieldError("malformed_field", `latitude hemisphere ${short(ns)} is not N or S`);
  }
  if (ew !== "E" && ew !== "W") {
    throw new FieldError("malformed_field", `longitude hemisphere ${short(ew)} is not E or W`);
  }
  return [
    { sensor: `${prefix}/latitude`, value: ns === "S" ? -latitude : latitude, unit: "°" },
    { sensor: `${prefix}/longitude`, value: ew === "W" ? -longitude : longitude, unit: "°" },
  ];
}

/** `ddmm.mmmm` (latitude, 2 degree digits) or `dddmm.mmmm` (longitude, 3) to decimal degrees. */
function angle(s: string, degreeDigits: number, max: number, what: string): number {
  const m = new RegExp(`^(\\d{${degreeDigits}})(\\d{2}(?:\\.\\d+)?)$`).exec(s);
  if (!m) throw new FieldError("malformed_field", `${what} ${short(s)} is not ${"d".repeat(degreeDigits)}mm.mmmm`);
  const degrees = Number(m[1]);
  const minutes = Number(m[2]);
  const value = degrees + minutes / 60;
  if (minutes >= 60 || value > max) throw new FieldError("malformed_field", `${what} ${short(s)} is out of range`);
  return value;
}

/** `hhmmss[.sss]` to ms since midnight UTC. */
function timeOfDay(s: string): number {
  const m = /^(\d{2})(\d{2})(\d{2})(\.\d{1,9})?$/.exec(s);
  // Second 60 is a leap second.
  if (!m || Number(m[1]) > 23 || Number(m[2]) > 59 || Number(m[3]) > 60) {
    throw new FieldError("malformed_field", `time ${short(s)} is not hhmmss.sss`);
  }
  return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Math.round(Number(m[4] ?? 0) * 1000);
}

/** `ddmmyy` to unix ms of that midnight UTC; years 80–99 are 1980–1999 (GPS began in 1980). */
function date(s: string): number {
  const m = /^(\d{2})(\d{2})(\d{2})$/.exec(s);
  if (m) {
    const [day, month, yy] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const year = yy < 80 ? 2000 + yy : 1900 + yy;
    const t = Date.UTC(year, month - 1, day);
    const d = new Date(t);
    if (d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day) return t;
  }
  throw new FieldError("malformed_field", `date ${short(s)} is not a valid ddmmyy`);
}

/** The instant with this time of day that is nearest to `now`: a fix from 23:59:59 read at 00:00:01 is yesterday's. */
function nearestDay(ms: number, now: number): number {
  const midnight = Math.floor(now / DAY_MS) * DAY_MS;
  let best = midnight + ms;
  for (const t of [best - DAY_MS, best + DAY_MS]) {
    if (Math.abs(t - now) < Math.abs(best - now)) best = t;
  }
  return best;
}
