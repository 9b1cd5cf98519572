import assert from "node:assert/strict";
import { csvField, csvRecord, jsonNumber, lpEscape, lpRefusal } from "../lib/formats.ts";

Deno.test("csvField quotes only fields with commas, quotes or line breaks, doubling quotes", () => {
  assert.equal(csvField("plain"), "plain");
  assert.equal(csvField(21.5), "21.5");
  assert.equal(csvField(null), "");
  assert.equal(csvField('say "hi", twice'), '"say ""hi"", twice"');
  assert.equal(csvField("two\nlines"), '"two\nlines"');
  assert.equal(csvField("cr\r"), '"cr\r"');
  assert.equal(csvRecord(["a", 1, null, "b,c"]), 'a,1,,"b,c"\r\n');
});

Deno.test("line protocol escapes measurement, tag and field keys for each reader's dialect", () => {
  assert.equal(lpEscape("my m,x=y", "measurement", "portable"), "my\\ m\\,x=y");
  assert.equal(lpEscape("room 1,a=b", "key", "portable"), "room\\ 1\\,a\\=b");
  assert.equal(lpEscape("a\\b", "key", "influxdb1"), "a\\b", "InfluxDB 1.x keeps a backslash literally");
  assert.equal(lpEscape("a\\b", "key", "victoriametrics"), "a\\\\b", "VictoriaMetrics reads \\\\ as one backslash");
  assert.equal(lpEscape("a\\,b", "key", "influxdb1"), "a\\\\,b");
});

Deno.test("a name a dialect cannot carry exactly is refused with the reason, never mangled", () => {
  assert.match(lpRefusal("dir\\", "key", "influxdb1")!, /ends with a backslash/);
  assert.match(lpRefusal("dir\\", "key", "portable")!, /ends with a backslash/);
  assert.equal(lpRefusal("dir\\", "key", "victoriametrics"), undefined);
  assert.match(lpRefusal("a\\,b", "key", "portable")!, /read it differently/);
  assert.equal(lpRefusal("a\\,b", "key", "influxdb1"), undefined);
  assert.equal(lpRefusal("a\\b", "key", "portable"), undefined);
  assert.match(lpRefusal("a\\ b", "key", "influxdb1")!, /odd number of backslashes before a space/);
  assert.equal(lpRefusal("a\\\\ b", "key", "influxdb1"), undefined);
  assert.match(lpRefusal("#m", "measurement", "victoriametrics")!, /comment/);
  assert.equal(lpRefusal("#m", "key", "portable"), undefined, "only a measurement starts the line");
  assert.match(lpRefusal("two\nlines", "key", "victoriametrics")!, /control characters/);
  assert.match(lpRefusal("m\\x", "measurement", "influxdb1")!, /backslash/);
});

Deno.test("jsonNumber turns NaN and infinities into null", () => {
  assert.equal(jsonNumber(1.5), 1.5);
  assert.equal(jsonNumber(NaN), null);
  assert.equal(jsonNumber(-Infinity), null);
});
