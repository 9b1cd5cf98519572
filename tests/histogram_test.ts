import assert from "node:assert/strict";
import { Histogram } from "../lib/histogram.ts";

Deno.test("a histogram counts observations cumulatively per bound", () => {
  const h = new Histogram([0.001, 0.01, 0.1]);
  for (const v of [0.0005, 0.001, 0.004, 0.05, 3]) h.observe(v);
  assert.deepEqual(h.cumulative(), [2, 3, 4]);
  assert.equal(h.count, 5);
  assert.ok(Math.abs(h.sum - 3.0555) < 1e-12);
  assert.throws(() => new Histogram([1, 1]), RangeError);
});
