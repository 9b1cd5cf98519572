import assert from "node:assert/strict";
import { LineEncoder, type LineMapping, mappingRefusal } from "../../lib/forward/line_protocol.ts";

const MAPPING: LineMapping = {
  measurement: "edgelog",
  field: "value",
  sensorTag: "sensor",
  unitTag: "unit",
  tags: [],
  dialect: "portable",
};
const row = (sensor: string, value = 21.5, unit: string | null = "°C") => ({
  id: 1,
  sensor,
  unit,
  ts: 1700000000000,
  value,
});
const encode = (rows: ReturnType<typeof row>[], mapping = MAPPING) => new LineEncoder(mapping).encode(rows);

Deno.test("a plain reading becomes one line with sorted tags and a millisecond timestamp", () => {
  assert.deepEqual(encode([row("t1")]), {
    text: "edgelog,sensor=t1,unit=°C value=21.5 1700000000000\n",
    skipped: 0,
    refused: [],
  });
});

Deno.test("tag values escape comma, equals sign and space; the measurement escapes comma and space", () => {
  assert.equal(
    encode([row("a b,c=d")], { ...MAPPING, measurement: "m x,y=z" }).text,
    "m\\ x\\,y=z,sensor=a\\ b\\,c\\=d,unit=°C value=21.5 1700000000000\n",
  );
});

Deno.test("a sensor name the dialect cannot carry is refused with its reason, counted per sensor, not written", () => {
  const { text, refused } = encode([row("dir\\"), row("ok"), row("dir\\", 2)]);
  assert.equal(text, "edgelog,sensor=ok,unit=°C value=21.5 1700000000000\n");
  assert.deepEqual(refused.map((r) => [r.sensor, r.readings]), [["dir\\", 2]]);
  assert.match(refused[0].reason, /sensor name ends with a backslash/);
  assert.equal(encode([row("dir\\")], { ...MAPPING, dialect: "victoriametrics" }).text.includes("dir\\\\"), true);
});

Deno.test("a measurement made from a sensor name never starts a comment line", () => {
  const { text, refused } = encode([row("#hash")], { ...MAPPING, measurement: "{sensor}" });
  assert.equal(text, "");
  assert.match(refused[0].reason, /starts with # \(the line would be read as a comment\)/);
  assert.equal(encode([row("#hash")]).text, "edgelog,sensor=#hash,unit=°C value=21.5 1700000000000\n");
});

Deno.test("an empty unit leaves the unit tag out and non-finite values are skipped and counted", () => {
  const { text, skipped } = encode([row("t1", 1, null), row("t2", Infinity)]);
  assert.equal(text, "edgelog,sensor=t1 value=1 1700000000000\n");
  assert.equal(skipped, 1);
});

Deno.test("the measurement template and constant tags map readings as configured", () => {
  const mapping: LineMapping = {
    measurement: "{sensor}",
    field: "v",
    sensorTag: "",
    unitTag: "u",
    tags: [["site", "north 1"], ["box", "a"]],
    dialect: "portable",
  };
  assert.equal(
    encode([row("room temp")], mapping).text,
    "room\\ temp,box=a,site=north\\ 1,u=°C v=21.5 1700000000000\n",
  );
});

Deno.test("fixed parts of the mapping the dialect cannot carry are named before anything is sent", () => {
  assert.match(mappingRefusal({ ...MAPPING, tags: [["site", "a\\"]] })!, /tag site:a\\ ends with a backslash/);
  assert.match(mappingRefusal({ ...MAPPING, measurement: "#m" })!, /measurement=#m starts with #/);
  assert.equal(mappingRefusal(MAPPING), undefined);
});
