import assert from "node:assert/strict";
import { LIMITS, parseJsonLine, parseLine, parseTextLine, SensorLimit } from "../../lib/sources/_reading_parser.ts";

const NOW = Date.UTC(2026, 0, 1);

Deno.test("a complete NDJSON reading is accepted with its ts and unit", () => {
  const r = parseJsonLine('{"sensor":"t1","value":21.5,"ts":1732280000000,"unit":"°C"}', NOW);
  assert.deepEqual(r, { ok: true, reading: { sensor: "t1", value: 21.5, ts: 1732280000000, unit: "°C" } });
});

Deno.test("a reading without ts gets the current time", () => {
  const r = parseJsonLine('{"sensor":"t1","value":-3}', NOW);
  assert.deepEqual(r, { ok: true, reading: { sensor: "t1", value: -3, ts: NOW } });
});

const BAD_JSON: [string, string][] = [
  ["{not json", "invalid_json"],
  ["[1,2]", "not_an_object"],
  ["42", "not_an_object"],
  ["null", "not_an_object"],
  ['{"value":1}', "missing_field"],
  ['{"sensor":"t1"}', "missing_field"],
  ['{"sensor":"t1","value":1,"extra":true}', "unknown_field"],
  ['{"sensor":"t1","value":"21.5"}', "wrong_type"],
  ['{"sensor":1,"value":1}', "wrong_type"],
  ['{"sensor":"t1","value":1,"ts":"2024-01-01"}', "wrong_type"],
  ['{"sensor":"t1","value":1,"unit":5}', "wrong_type"],
  ['{"sensor":"t1","value":1e999}', "not_finite"],
  ['{"sensor":"t1","value":-1e999}', "not_finite"],
  ['{"sensor":"t1","value":1e300}', "value_out_of_range"],
  ['{"sensor":"t1","value":1,"ts":1e999}', "not_finite"],
  ['{"sensor":"","value":1}', "bad_sensor_name"],
  ['{"sensor":"a\\u0000b","value":1}', "bad_sensor_name"],
  ['{"sensor":"a\\nb","value":1}', "bad_sensor_name"],
  ['{"sensor":"a\\u009bb","value":1}', "bad_sensor_name"],
  ['{"sensor":"\\ud800","value":1}', "bad_sensor_name"],
  [`{"sensor":"${"x".repeat(LIMITS.sensorNameMax + 1)}","value":1}`, "bad_sensor_name"],
  ['{"sensor":"t1","value":1,"unit":"\\u0007"}', "bad_unit"],
  ['{"sensor":"t1","value":1,"ts":946684799999}', "ts_before_2000"],
  ['{"sensor":"t1","value":1,"ts":1732280000}', "ts_before_2000"],
  [`{"sensor":"t1","value":1,"ts":${NOW + LIMITS.tsFutureMs + 1}}`, "ts_in_future"],
];

for (const [line, reason] of BAD_JSON) {
  Deno.test(`the NDJSON line ${line.slice(0, 60)} is rejected as ${reason}`, () => {
    const r = parseJsonLine(line, NOW);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.reason, reason);
  });
}

Deno.test("a text line 'name value unit' is accepted", () => {
  assert.deepEqual(parseTextLine("cpu_temp\t48.5  °C", NOW), {
    ok: true,
    reading: { sensor: "cpu_temp", value: 48.5, ts: NOW, unit: "°C" },
  });
  assert.deepEqual(parseTextLine("fan 1200", NOW), { ok: true, reading: { sensor: "fan", value: 1200, ts: NOW } });
});

const BAD_TEXT: [string, string][] = [
  ["just-a-name", "bad_text_line"],
  ["a 1 b c", "bad_text_line"],
  ["t1 NaN", "not_finite"],
  ["t1 inf", "not_finite"],
  ["t1 0x10", "wrong_type"],
  ["t1 twelve", "wrong_type"],
  ["t1 1e400", "not_finite"],
  ["t1 1e20", "value_out_of_range"],
];

for (const [line, reason] of BAD_TEXT) {
  Deno.test(`the text line '${line}' is rejected as ${reason}`, () => {
    const r = parseTextLine(line, NOW);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.reason, reason);
  });
}

Deno.test("auto format reads lines starting with { as JSON and others as text", () => {
  assert.equal(parseLine('  {"sensor":"a","value":1}', "auto", NOW).ok, true);
  assert.equal(parseLine("a 1", "auto", NOW).ok, true);
  const r = parseLine("a 1", "ndjson", NOW);
  assert.ok(!r.ok && r.reason === "invalid_json");
});

Deno.test("the sensor limit admits known names always and new names only up to the limit", () => {
  const ok = (sensor: string) => ({ ok: true as const, reading: { sensor, ts: 1_700_000_000_000, value: 1 } });
  const limit = new SensorLimit(3, ["old"]);
  assert.equal(limit.admit(ok("a")).ok, true);
  assert.equal(limit.admit(ok("b")).ok, true);
  const refused = limit.admit(ok("c"));
  assert.equal(refused.ok, false);
  assert.equal(!refused.ok && refused.reason, "too_many_sensors");
  assert.match(!refused.ok ? refused.message : "", /sensor "c" would be sensor 4; the limit is 3 \(--max-sensors\)/);
  assert.equal(limit.admit(ok("old")).ok, true, "a name from the database passes");
  assert.equal(limit.admit(ok("a")).ok, true, "a name admitted before passes");
  const bad = { ok: false as const, reason: "wrong_type" as const, message: "x" };
  assert.equal(limit.admit(bad), bad, "other rejections pass through unchanged");
  assert.equal(limit.size, 3);
});
