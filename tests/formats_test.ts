import assert from "node:assert/strict";
import { csvField, csvRecord, jsonNumber, lpKey, lpMeasurement } from "../lib/formats.ts";

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
  assert.equal(lpKey("two\nlines"), "two\\nlines", "a newline would end the line: written as \\n");
  assert.equal(lpKey("dir\\"), "dir", "a trailing backslash would escape the separator");
  assert.equal(lpKey("a\\b"), "a\\b");
});

Deno.test("jsonNumber turns NaN and infinities into null", () => {
  assert.equal(jsonNumber(1.5), 1.5);
  assert.equal(jsonNumber(NaN), null);
  assert.equal(jsonNumber(-Infinity), null);
});
