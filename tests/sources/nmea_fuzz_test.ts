/**
 * Seeded fuzz tests of the NMEA parser: valid sentences with garbage around them, truncations,
 * corrupted characters, random text. Each prints its seed; `EDGELOG_FUZZ_SEED=N` replays it.
 */
import assert from "node:assert/strict";
import { fuzz, within } from "../_helpers/fuzz.ts";
import { nmeaChecksum, type NmeaRejectReason, parseNmea } from "../../lib/sources/_nmea.ts";

const NMEA_REASONS = new Set<NmeaRejectReason>([
  "not_nmea",
  "line_too_long",
  "missing_checksum",
  "bad_checksum",
  "unknown_sentence",
  "malformed_field",
  "no_fix",
]);

const withChecksum = (body: string): string =>
  `$${body}*${nmeaChecksum(body).toString(16).toUpperCase().padStart(2, "0")}`;

function validNmea(f: ReturnType<typeof fuzz>): string {
  const two = (n: number): string => String(n).padStart(2, "0");
  const time = `${two(f.int(24))}${two(f.int(60))}${two(f.int(60))}.${two(f.int(100))}`;
  const lat = `${two(f.int(90))}${two(f.int(60))}.${String(f.int(100000)).padStart(5, "0")}`;
  const lon = `${String(f.int(180)).padStart(3, "0")}${two(f.int(60))}.${String(f.int(100000)).padStart(5, "0")}`;
  const talker = f.pick(["GP", "GN", "GL", "GA", "GB", "BD"]);
  if (f.int(2)) {
    return withChecksum(
      `${talker}GGA,${time},${lat},${f.pick(["N", "S"])},${lon},${f.pick(["E", "W"])},${1 + f.int(8)},${
        two(f.int(40))
      },${(f.random() * 5).toFixed(2)},${((f.random() - 0.2) * 3000).toFixed(1)},M,47.0,M,,`,
    );
  }
  const date = `${two(1 + f.int(28))}${two(1 + f.int(12))}${two(f.int(100))}`;
  return withChecksum(
    `${talker}RMC,${time},A,${lat},${f.pick(["N", "S"])},${lon},${f.pick(["E", "W"])},${(f.random() * 50).toFixed(3)},${
      (f.random() * 360).toFixed(1)
    },${date},,,A`,
  );
}

function checkNmea(line: string, now: number): ReturnType<typeof parseNmea> {
  const r = parseNmea(line, now);
  if (r.ok) {
    for (const x of r.readings) assert.ok(Number.isFinite(x.value), JSON.stringify(x));
    const v = Object.fromEntries(r.readings.map((x) => [x.sensor, x.value]));
    assert.ok(Math.abs(v["gps/latitude"]) <= 90 && Math.abs(v["gps/longitude"]) <= 180);
    if (r.ts !== undefined) assert.ok(Number.isFinite(r.ts));
  } else {
    assert.ok(NMEA_REASONS.has(r.reason), r.reason);
  }
  return r;
}

Deno.test("fuzz: the NMEA parser reads every valid sentence, with any line ending or leading garbage", () => {
  const f = fuzz("NMEA valid", 3000);
  const now = Date.now();
  for (let it = 0; it < f.iterations; it++) {
    const garbage = f.int(2) ? Array.from({ length: f.int(20) }, () => String.fromCharCode(f.int(0x80))).join("") : "";
    const line = garbage + validNmea(f) + f.pick(["", "\r", "\r\n", " "]);
    const r = checkNmea(line, now);
    assert.equal(r.ok, true, `${JSON.stringify(line)}: ${JSON.stringify(r)}`);
  }
});

Deno.test("fuzz: the NMEA parser refuses every truncated or corrupted sentence", () => {
  const f = fuzz("NMEA broken", 5000);
  const now = Date.now();
  within(20_000, "NMEA broken", () => {
    for (let it = 0; it < f.iterations; it++) {
      const line = validNmea(f);
      if (f.int(2)) {
        const r = checkNmea(line.slice(0, 1 + f.int(line.length - 1)), now);
        assert.equal(r.ok, false);
      } else {
        // One character of the body replaced by another that is not $ or *: the checksum must catch it.
        const at = 1 + f.int(line.indexOf("*") - 1);
        let c = line[at];
        while (c === line[at] || c === "$" || c === "*") c = String.fromCharCode(0x20 + f.int(0x5f));
        const r = checkNmea(line.slice(0, at) + c + line.slice(at + 1), now);
        assert.equal(!r.ok && r.reason, "bad_checksum");
      }
    }
  });
});

Deno.test("fuzz: the NMEA parser returns a rejection for random text and never throws", () => {
  const f = fuzz("NMEA noise", 5000);
  const now = Date.now();
  within(20_000, "NMEA noise", () => {
    for (let it = 0; it < f.iterations; it++) {
      const kind = f.int(4);
      const line = kind === 0
        ? Array.from({ length: f.int(200) }, () => String.fromCharCode(f.int(0x10000))).join("")
        : kind === 1
        ? new TextDecoder().decode(f.bytes(f.int(200)))
        : kind === 2
        // Checksummed nonsense in NMEA's shape, so the field parsers see it.
        ? withChecksum(
          `${f.pick(["GPGGA", "GNRMC", "GPRMC", "GLGGA"])},${
            Array.from({ length: f.int(16) }, () =>
              f.pick(["", "0", "1", "A", "V", "N", "M", "-1", "4807.038", "x", "99", ".", "1e5", "123519"])).join(",")
          }`,
        )
        : "$".repeat(f.int(3)) + "x".repeat(f.int(100_000));
      checkNmea(line, now);
    }
  });
});
