import assert from "node:assert/strict";
import { InvalidValue } from "../../lib/errors.ts";
import { MAX_READINGS_PER_MESSAGE, readingsFromPayload } from "../../lib/sources/_mqtt_payload.ts";
import { parseMqttSourceSpec } from "../../lib/sources/mqtt.ts";
import { parseSourceList } from "../../lib/sources/spec.ts";
import { seededRandom } from "../_helpers/fuzz.ts";

const NOW = Date.UTC(2026, 0, 1);
const enc = new TextEncoder();
const parse = (topic: string, payload: string | Uint8Array, strip = 0, prefix = "", unit?: string) =>
  readingsFromPayload(topic, typeof payload === "string" ? enc.encode(payload) : payload, { strip, prefix, unit }, NOW);

Deno.test("a plain number is one reading named after the topic; strip, prefix and unit apply", () => {
  assert.deepEqual(parse("home/kitchen/temperature", " 21.5\n").readings, [
    { sensor: "home/kitchen/temperature", ts: NOW, value: 21.5 },
  ]);
  assert.deepEqual(parse("home/kitchen/temperature", "-3e1", 1, "site1/", "°C").readings, [
    { sensor: "site1/kitchen/temperature", ts: NOW, value: -30, unit: "°C" },
  ]);
  assert.equal(parse("a", "1", 5).readings[0].sensor, "a", "strip never removes the last level");
});

Deno.test("a JSON object gives one reading per number, nested keys joined with '/', metadata skipped", () => {
  const r = parse("tele/plug", '{"Time":"2026-01-01T00:00","ENERGY":{"Power":12,"Voltage":230.5},"on":true,"t":[1]}');
  assert.deepEqual(r.readings.map((x) => [x.sensor, x.value]), [["tele/plug/ENERGY/Power", 12], [
    "tele/plug/ENERGY/Voltage",
    230.5,
  ]]);
  assert.deepEqual(r.rejected, []);
});

Deno.test("edgelog's reading object and NDJSON are read as readings, with their own names and ts", () => {
  const one = parse("x", '{"sensor":"t1","value":2,"ts":1767225600000,"unit":"V"}');
  assert.deepEqual(one.readings, [{ sensor: "t1", ts: 1767225600000, value: 2, unit: "V" }]);
  const lines = parse("x", '{"sensor":"a","value":1}\n{"sensor":"b","value":"2"}\n{"sensor":"c","value":3}\n');
  assert.deepEqual(lines.readings.map((x) => x.sensor), ["a", "c"]);
  assert.deepEqual(lines.rejected.map((x) => x.reason), ["wrong_type"]);
});

Deno.test("bad payloads are refused by reason and never throw", () => {
  const reason = (p: string | Uint8Array) => parse("t", p).rejected.map((x) => x.reason);
  assert.deepEqual(reason("abc"), ["bad_payload"]);
  assert.deepEqual(reason(""), ["bad_payload"]);
  assert.deepEqual(reason("NaN"), ["not_finite"]);
  assert.deepEqual(reason("{bad"), ["invalid_json"]);
  assert.deepEqual(reason("{}"), ["bad_payload"]);
  assert.deepEqual(reason(new Uint8Array([0x31, 0xff])), ["invalid_utf8"]);
  assert.deepEqual(reason("1e999"), ["not_finite"]);
  assert.deepEqual(reason('{"a":1e999}'), ["not_finite"]);
});

Deno.test("one message gives at most MAX_READINGS_PER_MESSAGE readings", () => {
  const big = JSON.stringify(Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i])));
  const r = parse("t", big);
  assert.equal(r.readings.length, MAX_READINGS_PER_MESSAGE);
  assert.deepEqual(r.rejected.map((x) => x.reason), ["bad_payload"]);
});

Deno.test("fuzz: random and mutated payloads only ever give readings or counted refusals (EDGELOG_FUZZ_SEED replays)", () => {
  const seed = Number(Deno.env.get("EDGELOG_FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`fuzz seed ${seed} (replay: EDGELOG_FUZZ_SEED=${seed})`);
  const random = seededRandom(seed);
  const int = (n: number) => Math.floor(random() * n);
  const seeds = ["21.5", '{"t":1,"h":{"x":2}}', '{"sensor":"a","value":1}', '{"sensor":"a","value":1}\n{"sensor":"b"}'];
  for (let i = 0; i < 20_000; i++) {
    let bytes: Uint8Array;
    if (random() < 0.5) {
      bytes = enc.encode(seeds[int(seeds.length)]);
      for (let k = int(4); k >= 0; k--) bytes[int(bytes.length)] = int(256);
    } else {
      bytes = Uint8Array.from({ length: int(64) }, () => int(256));
    }
    const r = readingsFromPayload("fuzz/" + int(10), bytes, { strip: int(3), prefix: "" }, NOW);
    assert.ok(r.readings.length + r.rejected.length >= 1, `seed ${seed} case ${i}`);
    for (const x of r.readings) assert.ok(Number.isFinite(x.value), `seed ${seed} case ${i}`);
  }
});

Deno.test("--source mqtt:// options: topic filter with '#', credentials kept out of the name, bad options are exit 2", () => {
  const s = parseMqttSourceSpec("mqtt://box:s3cret@broker/home/+/sensors/#?strip=1&unit=%C2%B0C&qos=0");
  assert.equal(s.topicFilter, "home/+/sensors/#");
  assert.equal(s.brokerUrl, "mqtt://broker:1883");
  assert.equal(s.display, "mqtt://box@broker:1883/home/+/sensors/#");
  assert.deepEqual([s.username, s.password, s.strip, s.unit, s.qos], ["box", "s3cret", 1, "°C", 0]);
  assert.equal(parseMqttSourceSpec("mqtts://b/t").brokerUrl, "mqtts://b:8883");
  for (
    const bad of [
      "mqtt://b",
      "mqtt://b/a#",
      "mqtt://b/#/a",
      "mqtt://b/a+/b",
      "mqtt://b/t?qos=2",
      "mqtt://b/t?what=1",
      "mqtt://b/t?client-id=edgelog-box",
    ]
  ) assert.throws(() => parseMqttSourceSpec(bad), InvalidValue, bad);
  assert.deepEqual(parseSourceList(["mqtt://b/t/#", "mqtts://b/x"]).map((x) => x.kind), ["mqtt", "mqtt"]);
  assert.throws(() => parseSourceList(["mqtt://b/t", "mqtt://b:1883/t"]), /twice/);
});
