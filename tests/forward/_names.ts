/**
 * Random valid sensor names and units for the line-protocol property tests: every printable
 * Unicode plane, spaces, the characters line protocol treats specially (`,= "#\`), leading and
 * trailing backslashes, names at the length limit. Seeded (`EDGELOG_FUZZ_SEED`) so a failure
 * replays.
 *
 * @module
 */

import { seededRandom } from "../_helpers/fuzz.ts";

/** The seed of this run: `EDGELOG_FUZZ_SEED` or a random one; print it with every failure. */
export const NAME_SEED: number = Number(Deno.env.get("EDGELOG_FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));

/** Longest sensor name and unit edgelog accepts (UTF-16 code units; see `LIMITS`). */
const SENSOR_MAX = 200;
const UNIT_MAX = 32;

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** edgelog's rule for a valid sensor name or unit (lib/sources/_reading_parser.ts). */
export function isValidName(name: string, max: number): boolean {
  return name.length > 0 && name.length <= max && !CONTROL.test(name) && name.isWellFormed() &&
    name.trim() === name;
}

/** Makes random valid names from `seed`. */
export function nameFactory(seed: number = NAME_SEED) {
  const random = seededRandom(seed);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const ranges: [number, number][] = [
    [0x20, 0x7e], // ASCII printable
    [0xa0, 0xff], // Latin-1 (no C1 controls)
    [0x100, 0x2fff], // scripts, symbols, U+2028/2029
    [0x3000, 0xd7ff], // CJK, Hangul
    [0xe000, 0xffff], // private use, specials, BOM, noncharacters
    [0x10000, 0x10ffff], // astral planes: emoji, historic scripts, planes 15-16
  ];
  const special = [",", "=", " ", '"', "#", "\\", "\\\\", "\\ ", "\\,", "\\=", "\\\\,", "'", "{", "}", "$", "\u00a0"];
  const char = (): string => {
    if (random() < 0.4) return pick(special);
    const [lo, hi] = pick(ranges);
    return String.fromCodePoint(lo + int(hi - lo + 1));
  };
  const make = (max: number): string => {
    for (;;) {
      const long = random() < 0.1;
      let name = "";
      const target = long ? max - int(3) : 1 + int(12);
      while (name.length < target) name += char();
      if (random() < 0.15) name = "\\" + name;
      if (random() < 0.15) name = name + "\\";
      if (random() < 0.1) name = "#" + name;
      while (name.length > max) name = name.slice(0, -1);
      name = name.isWellFormed() ? name : name.toWellFormed();
      if (isValidName(name, max)) return name;
    }
  };
  return { sensor: () => make(SENSOR_MAX), unit: () => make(UNIT_MAX), random, int };
}

/** Names every run includes: each escaping rule at the start, the middle and the end. */
export const EDGE_NAMES: readonly string[] = [
  "space here",
  "comma,in",
  "eq=in",
  'quote"d',
  "#hash",
  "back\\slash",
  "\\lead",
  "trail\\",
  "\\",
  "\\\\",
  "a\\,b",
  "a\\ b",
  "a\\=b",
  "a\\\\b",
  "a,b=c d\\e",
  "ünïcödé 温度 🌡",
  "dollar$'and$&and$$",
  "x".repeat(SENSOR_MAX),
  "\\".repeat(SENSOR_MAX),
];

/**
 * The tests' own reading of what each line-protocol dialect carries exactly, found against the
 * real servers and written independently of lib/formats.ts.
 */
export function carries(dialect: string, name: string, part: "measurement" | "key"): boolean {
  if (part === "measurement" && name.startsWith("#")) return false;
  if (dialect === "victoriametrics") return true;
  if (part === "measurement" && name.includes("\\")) return false;
  if (name.endsWith("\\")) return false;
  if (dialect === "influxdb1") return !/(?<!\\)(\\\\)*\\ /.test(name);
  return !/\\[\\,= ]/.test(name);
}

/** One reading per name: the edge names and random ones (distinct), every second one with a random unit. */
export function namedReadings(
  count: number,
  t0: number,
): { sensor: string; unit: string | undefined; ts: number; value: number }[] {
  const names = nameFactory();
  const sensors = new Set(EDGE_NAMES);
  while (sensors.size < count) sensors.add(names.sensor());
  return [...sensors].map((sensor, i) => ({
    sensor,
    unit: i % 2 ? names.unit() : undefined,
    ts: t0 + i,
    value: i + 0.5,
  }));
}
