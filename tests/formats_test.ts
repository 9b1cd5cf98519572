import assert from "node:assert/strict";
import { csvField, csvRecord, jsonNumber, lpKey, lpLine, lpMeasurement } from "../lib/formats.ts";

Deno.test("csvField quotes only fields with commas, quotes or line breaks, doubling quotes", () => {
  assert.equal(csvField("plain"), "plain");
  assert.equal(csvField(21.5), "21.5");
  assert.equal(csvField(null), "");
  assert.equal(csvField('say "hi", twice'), '"say ""hi"", twice"');
  assert.equal(csvField("two\nlines"), '"two\nlines"');
  assert.equal(csvField("cr\r"), '"cr\r"');
  assert.equal(csvRecord(["a", 1, null, "b,c"]), 'a,1,,"b,c"\r\n');
});

Deno.test("line protocol escapes measurement, tag and field keys as InfluxDB specifies", () => {
  assert.equal(lpMeasurement("my m,x=y"), "my\\ m\\,x=y");
  assert.equal(lpKey("room 1,a=b"), "room\\ 1\\,a\\=b");
  assert.equal(lpKey("two\nlines"), "two\\ lines");
  assert.equal(
    lpLine("edgelog", "t 1", "°C", 1767182400000, 21.5),
    "edgelog,sensor=t\\ 1,unit=°C value=21.5 1767182400000000000\n",
  );
  assert.equal(lpLine("edgelog", "t", null, 1, -0.5), "edgelog,sensor=t value=-0.5 1000000\n");
  assert.equal(lpLine("edgelog", "t", null, 1, Infinity), undefined);
});

Deno.test("jsonNumber turns NaN and infinities into null", () => {
  assert.equal(jsonNumber(1.5), 1.5);
  assert.equal(jsonNumber(NaN), null);
  assert.equal(jsonNumber(-Infinity), null);
});
