import assert from "node:assert/strict";
import { encodeLines, escapeKey, escapeMeasurement, type LineMapping } from "../../lib/forward/line_protocol.ts";

const MAPPING: LineMapping = { measurement: "edgelog", field: "value", sensorTag: "sensor", unitTag: "unit", tags: [] };
const row = (sensor: string, value = 21.5, unit: string | null = "°C") => ({
  id: 1,
  sensor,
  unit,
  ts: 1700000000000,
  value,
});

Deno.test("a plain reading becomes one line with sorted tags and a millisecond timestamp", () => {
  assert.deepEqual(encodeLines([row("t1")], MAPPING), {
    text: "edgelog,sensor=t1,unit=°C value=21.5 1700000000000\n",
    skipped: 0,
  });
});

Deno.test("tag values escape comma, equals sign and space; the measurement escapes comma and space", () => {
  assert.equal(escapeKey("a b,c=d"), "a\\ b\\,c\\=d");
  assert.equal(escapeMeasurement("m x,y=z"), "m\\ x\\,y=z");
});

Deno.test("newlines and tabs in names cannot break a line", () => {
  const { text } = encodeLines([row("bad\nname\there")], MAPPING);
  assert.equal(text.split("\n").length, 2);
  assert.ok(text.includes("sensor=bad\\nname\\there"));
});

Deno.test("a trailing backslash is dropped so it cannot escape the separator", () => {
  assert.equal(escapeKey("dir\\"), "dir");
  assert.equal(escapeKey("a\\b"), "a\\b");
});

Deno.test("an empty unit leaves the unit tag out and non-finite values are skipped and counted", () => {
  const { text, skipped } = encodeLines([row("t1", 1, null), row("t2", Infinity)], MAPPING);
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
  };
  assert.equal(
    encodeLines([row("room temp")], mapping).text,
    "room\\ temp,box=a,site=north\\ 1,u=°C v=21.5 1700000000000\n",
  );
});
