import assert from "node:assert/strict";
import {
  NMEA_MAX_SENTENCE,
  NMEA_TALKERS,
  nmeaChecksum,
  NmeaError,
  type NmeaRejection,
  type NmeaSentence,
  parseNmea,
} from "../../lib/sources/_nmea.ts";

const GGA = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47";
const RMC = "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A";
const NOW = Date.UTC(1994, 2, 23, 12);

/** Adds the checksum to a body, for sentences made up in the tests. */
const sentence = (body: string): string => `$${body}*${nmeaChecksum(body).toString(16).toUpperCase().padStart(2, "0")}`;

function ok(r: NmeaSentence | NmeaRejection): NmeaSentence {
  assert.equal(r.ok, true, `expected a sentence, got ${JSON.stringify(r)}`);
  return r as NmeaSentence;
}

function reason(line: string, now = NOW): string {
  const r = parseNmea(line, now);
  assert.equal(r.ok, false, `expected a rejection of ${JSON.stringify(line)}`);
  return (r as NmeaRejection).reason;
}

const values = (s: NmeaSentence): Record<string, number> =>
  Object.fromEntries(s.readings.map((r) => [r.sensor, r.value]));

Deno.test("the checksum is the XOR of the characters between $ and *", () => {
  assert.equal(nmeaChecksum("GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"), 0x47);
  assert.equal(nmeaChecksum(""), 0);
  assert.equal(nmeaChecksum("AA"), 0);
});

Deno.test("a GGA sentence gives position in signed decimal degrees, altitude, fix quality, satellites and HDOP", () => {
  const s = ok(parseNmea(GGA, NOW));
  assert.equal(s.talker, "GP");
  assert.equal(s.type, "GGA");
  assert.deepEqual(s.readings, [
    { sensor: "gps/latitude", value: 48 + 7.038 / 60, unit: "°" },
    { sensor: "gps/longitude", value: 11 + 31 / 60, unit: "°" },
    { sensor: "gps/altitude", value: 545.4, unit: "m" },
    { sensor: "gps/fix_quality", value: 1 },
    { sensor: "gps/satellites", value: 8 },
    { sensor: "gps/hdop", value: 0.9 },
  ]);
});

Deno.test("a GGA time of day is dated to the day nearest to now", () => {
  assert.equal(ok(parseNmea(GGA, NOW)).ts, Date.UTC(1994, 2, 23, 12, 35, 19));
  assert.equal(ok(parseNmea(GGA, Date.UTC(1994, 2, 24, 0, 5))).ts, Date.UTC(1994, 2, 23, 12, 35, 19));
  assert.equal(ok(parseNmea(GGA, Date.UTC(1994, 2, 23, 0, 30))).ts, Date.UTC(1994, 2, 22, 12, 35, 19));
});

Deno.test("a GGA fix from just before midnight read just after it is yesterday's", () => {
  const line = "$GNGGA,235959.50,3352.1280,S,15112.6620,E,4,12,0.55,-12.5,M,22.1,M,1.0,0001*61";
  const s = ok(parseNmea(line, Date.UTC(2024, 0, 2, 0, 0, 1)));
  assert.equal(s.ts, Date.UTC(2024, 0, 1, 23, 59, 59, 500));
});

Deno.test("southern latitudes and western longitudes are negative", () => {
  const gga = ok(parseNmea("$GNGGA,235959.50,3352.1280,S,15112.6620,E,4,12,0.55,-12.5,M,22.1,M,1.0,0001*61", NOW));
  assert.equal(values(gga)["gps/latitude"], -(33 + 52.128 / 60));
  assert.equal(values(gga)["gps/altitude"], -12.5);
  const rmc = ok(parseNmea("$GNRMC,001031.00,A,4404.13993,N,12118.86023,W,0.146,,100117,,,A*7B", NOW));
  assert.equal(values(rmc)["gps/longitude"], -(121 + 18.86023 / 60));
});

Deno.test("a GGA sentence with empty altitude, satellites and HDOP gives position and fix quality only", () => {
  const s = ok(parseNmea(sentence("GPGGA,123519,4807.038,N,01131.000,E,1,,,,,,,,"), NOW));
  assert.deepEqual(Object.keys(values(s)), ["gps/latitude", "gps/longitude", "gps/fix_quality"]);
});

Deno.test("a GGA sentence without a time has no ts", () => {
  assert.equal(ok(parseNmea(sentence("GPGGA,,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"), NOW)).ts, undefined);
});

Deno.test("an RMC sentence gives position, speed in m/s, course and the receiver's date and time", () => {
  const s = ok(parseNmea(RMC, 0));
  assert.equal(s.type, "RMC");
  assert.deepEqual(s.readings, [
    { sensor: "gps/latitude", value: 48 + 7.038 / 60, unit: "°" },
    { sensor: "gps/longitude", value: 11 + 31 / 60, unit: "°" },
    { sensor: "gps/speed", value: (22.4 * 1852) / 3600, unit: "m/s" },
    { sensor: "gps/course", value: 84.4, unit: "°" },
  ]);
  assert.equal(s.ts, Date.UTC(1994, 2, 23, 12, 35, 19));
});

Deno.test("an RMC sentence with a mode indicator and no course gives no course reading", () => {
  const s = ok(parseNmea("$GNRMC,001031.00,A,4404.13993,N,12118.86023,W,0.146,,100117,,,A*7B", NOW));
  assert.equal(s.talker, "GN");
  assert.deepEqual(Object.keys(values(s)), ["gps/latitude", "gps/longitude", "gps/speed"]);
  assert.equal(s.ts, Date.UTC(2017, 0, 10, 0, 10, 31));
});

Deno.test("RMC years 80–99 are 1980–1999 and 00–79 are 2000–2079", () => {
  const at = (yy: string) => ok(parseNmea(sentence(`GPRMC,000000,A,4807.038,N,01131.000,E,,,0101${yy},,`), 0)).ts;
  assert.equal(at("80"), Date.UTC(1980, 0, 1));
  assert.equal(at("99"), Date.UTC(1999, 0, 1));
  assert.equal(at("00"), Date.UTC(2000, 0, 1));
  assert.equal(at("79"), Date.UTC(2079, 0, 1));
});

Deno.test("every GNSS talker id is read", () => {
  for (const talker of NMEA_TALKERS) {
    assert.equal(
      ok(parseNmea(sentence(`${talker}GGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,`), NOW)).talker,
      talker,
    );
  }
  assert.deepEqual([...NMEA_TALKERS], ["GP", "GN", "GL", "GA", "GB", "BD", "GQ", "GI"]);
});

Deno.test("the sensor name prefix is an option", () => {
  const s = ok(parseNmea(GGA, NOW, { prefix: "boat/gnss" }));
  assert.equal(s.readings[0].sensor, "boat/gnss/latitude");
});

Deno.test("a bad prefix option throws NmeaError", () => {
  for (const prefix of ["", "a\u0001", "p".repeat(101)]) {
    assert.throws(() => parseNmea(GGA, NOW, { prefix }), NmeaError);
  }
});

Deno.test("CR LF and trailing spaces after the checksum are ignored", () => {
  assert.equal(parseNmea(`${GGA}\r\n`, NOW).ok, true);
  assert.equal(parseNmea(`${GGA} \t`, NOW).ok, true);
});

Deno.test("garbage before the sentence is skipped, even garbage with a $ in it", () => {
  assert.equal(parseNmea(`\u00b5b\u0001\u0007${GGA}`, NOW).ok, true);
  assert.equal(parseNmea(`$GPRMC,1235${GGA}`, NOW).ok, true);
});

Deno.test("a lower-case checksum is accepted", () => {
  assert.equal(parseNmea(RMC.replace("*6A", "*6a"), NOW).ok, true);
});

Deno.test("a checksum that does not match is a bad checksum", () => {
  assert.equal(reason(GGA.replace("*47", "*48")), "bad_checksum");
  assert.equal(reason(GGA.replace("4807.038", "4807.039")), "bad_checksum");
});

Deno.test("a line cut short has a missing checksum", () => {
  assert.equal(reason(GGA.slice(0, 40)), "missing_checksum");
  assert.equal(reason(GGA.slice(0, -1)), "missing_checksum");
  assert.equal(reason(GGA.slice(0, -2)), "missing_checksum");
  assert.equal(reason(`${GGA.slice(0, -3)}\r\n`), "missing_checksum");
});

Deno.test("text after the checksum makes the checksum unreadable", () => {
  assert.equal(reason(`${GGA}x`), "missing_checksum");
});

Deno.test("a line without a sentence is not NMEA", () => {
  assert.equal(reason(""), "not_nmea");
  assert.equal(reason("\r\n"), "not_nmea");
  assert.equal(reason("cpu_temp 48.5"), "not_nmea");
  assert.equal(reason("!AIVDM,1,1,,A,13aEOK?P00PD2wVMdLDRhgvL289?,0*26"), "not_nmea");
});

Deno.test("characters outside printable ASCII are not NMEA even when they cancel out in the checksum", () => {
  assert.equal(reason(sentence("GPGGA,\u0001\u0001")), "not_nmea");
});

Deno.test("a sentence longer than any NMEA sentence is refused", () => {
  assert.equal(reason(sentence(`GPGGA,${"1".repeat(NMEA_MAX_SENTENCE)}`)), "line_too_long");
});

Deno.test("sentence types other than GGA and RMC, and non-GNSS talkers, are unknown", () => {
  assert.equal(reason("$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74"), "unknown_sentence");
  assert.equal(
    reason(
      "$PUBX,00,081350.00,4717.113210,N,00833.915187,E,546.589,G3,2.1,2.0,0.007,77.52,0.007,,0.92,1.19,0.77,9,0,0*5F",
    ),
    "unknown_sentence",
  );
  assert.equal(reason("$IIGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*50"), "unknown_sentence");
  assert.equal(reason(sentence("GPGGAX,1")), "unknown_sentence");
});

Deno.test("GGA fix quality 0 is no fix", () => {
  assert.equal(reason("$GPGGA,123519,,,,,0,00,,,M,,M,,*6B"), "no_fix");
});

Deno.test("RMC status V is no fix", () => {
  assert.equal(reason("$GPRMC,123519,V,,,,,,,230394,,,N*51"), "no_fix");
});

Deno.test("RMC mode N is no fix even with status A", () => {
  assert.equal(reason("$GPRMC,123519,A,4807.038,N,01131.000,E,,,230394,,,N*7F"), "no_fix");
});

const MALFORMED: [string, string][] = [
  ["too few GGA fields", "GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M"],
  ["too few RMC fields", "GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1"],
  ["fix quality 9", "GPGGA,123519,4807.038,N,01131.000,E,9,08,0.9,545.4,M,46.9,M,,"],
  ["empty fix quality", "GPGGA,123519,4807.038,N,01131.000,E,,08,0.9,545.4,M,46.9,M,,"],
  ["a fix without latitude", "GPGGA,123519,,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"],
  ["latitude over 90", "GPGGA,123519,9107.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"],
  ["minutes of 60", "GPGGA,123519,4860.000,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"],
  ["longitude with 2 degree digits", "GPGGA,123519,4807.038,N,1131.000,E,1,08,0.9,545.4,M,46.9,M,,"],
  ["longitude over 180", "GPGGA,123519,4807.038,N,18101.000,E,1,08,0.9,545.4,M,46.9,M,,"],
  ["hemisphere X", "GPGGA,123519,4807.038,X,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"],
  ["hemisphere N for longitude", "GPGGA,123519,4807.038,N,01131.000,N,1,08,0.9,545.4,M,46.9,M,,"],
  ["a signed latitude", "GPGGA,123519,-4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"],
  ["an exponent in the altitude", "GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,5e2,M,46.9,M,,"],
  ["altitude in feet", "GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,F,46.9,M,,"],
  ["100 satellites", "GPGGA,123519,4807.038,N,01131.000,E,1,100,0.9,545.4,M,46.9,M,,"],
  ["negative HDOP", "GPGGA,123519,4807.038,N,01131.000,E,1,08,-0.9,545.4,M,46.9,M,,"],
  ["hour 24", "GPGGA,243519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"],
  ["a time without seconds", "GPGGA,1235,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"],
  ["status X", "GPRMC,123519,X,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W"],
  ["speed NaN", "GPRMC,123519,A,4807.038,N,01131.000,E,NaN,084.4,230394,003.1,W"],
  ["course 361", "GPRMC,123519,A,4807.038,N,01131.000,E,022.4,361,230394,003.1,W"],
  ["31 February", "GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,310294,003.1,W"],
  ["month 13", "GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,011394,003.1,W"],
];

for (const [what, body] of MALFORMED) {
  Deno.test(`a sentence with ${what} has a malformed field`, () => {
    assert.equal(reason(sentence(body)), "malformed_field");
  });
}

Deno.test("a rejection message names the sentence and the field", () => {
  const r = parseNmea(sentence("GPRMC,123519,A,4807.038,N,01131.000,E,022.4,361,230394,003.1,W"), NOW);
  assert.deepEqual(r, { ok: false, reason: "malformed_field", message: 'GPRMC: course "361" is not 0–360' });
});

Deno.test("a leap second (second 60) is accepted", () => {
  const s = ok(parseNmea(sentence("GPRMC,235960,A,4807.038,N,01131.000,E,,,311216,,"), 0));
  assert.equal(s.ts, Date.UTC(2017, 0, 1));
});
