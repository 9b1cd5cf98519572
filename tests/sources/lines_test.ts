import assert from "node:assert/strict";
import { LineSplitter } from "../../lib/sources/_lines.ts";

function split(chunks: (string | Uint8Array)[], max = 64): { lines: [number, string][]; bad: [number, string][] } {
  const lines: [number, string][] = [];
  const bad: [number, string][] = [];
  const s = new LineSplitter(max, (line, n) => lines.push([n, line]), (reason, _m, n) => bad.push([n, reason]));
  for (const c of chunks) s.push(typeof c === "string" ? new TextEncoder().encode(c) : c);
  s.end();
  return { lines, bad };
}

Deno.test("lines split across chunks are joined, CRLF is stripped and blank lines skipped", () => {
  const { lines, bad } = split(["a 1\r\nb ", "2\n\n  \nc", " 3"]);
  assert.deepEqual(lines, [[1, "a 1"], [2, "b 2"], [5, "c 3"]]);
  assert.deepEqual(bad, []);
});

Deno.test("a line over the limit is reported once and its neighbours survive", () => {
  const long = "x".repeat(100);
  const { lines, bad } = split(["ok 1\n" + long.slice(0, 50), long.slice(50) + "\nok 2\n"]);
  assert.deepEqual(lines, [[1, "ok 1"], [3, "ok 2"]]);
  assert.deepEqual(bad, [[2, "line_too_long"]]);
});

Deno.test("a line with invalid UTF-8 is reported and does not spoil the next line", () => {
  const { lines, bad } = split([new Uint8Array([0x61, 0xff, 0xfe, 0x0a]), "b 2\n", new Uint8Array([0xc3]), "\n"]);
  assert.deepEqual(lines, [[2, "b 2"]]);
  assert.deepEqual(bad, [[1, "invalid_utf8"], [3, "invalid_utf8"]]);
});

Deno.test("a multi-byte character split across chunks decodes", () => {
  const bytes = new TextEncoder().encode("t °C\n");
  const { lines } = split([bytes.subarray(0, 3), bytes.subarray(3)]);
  assert.deepEqual(lines, [[1, "t °C"]]);
});
