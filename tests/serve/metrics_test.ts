import assert from "node:assert/strict";
import { Histogram } from "../../lib/histogram.ts";
import { escapeLabelValue, Exposition, formatValue } from "../../lib/serve/metrics.ts";
import { hasCommand, run } from "../_helpers/process.ts";

Deno.test("label values escape backslash, double quote and line feed as the text format requires", () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(0.25), "0.25");
});

Deno.test("an exposition with awkward label values passes promtool", { ignore: !hasCommand("promtool") }, async () => {
  const out = new Exposition();
  out.family("edgelog_test_total", "counter", "A help text with a \\ backslash\nand a line feed.")
    .sample(3, { source: 'we"ird\\name\nhere', reason: "ünïcode ✓" });
  const h = new Histogram([0.5, 1]);
  h.observe(0.7);
  out.histogram("edgelog_test_seconds", "Durations.", h);
  const check = await run("promtool", ["check", "metrics"], out.text());
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.match(out.text(), /^edgelog_test_seconds_bucket\{le="\+Inf"\} 1$/m);
  assert.match(out.text(), /^edgelog_test_total\{source="we\\"ird\\\\name\\nhere",reason="ünïcode ✓"\} 3$/m);
});
