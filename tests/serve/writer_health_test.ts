import assert from "node:assert/strict";
import { type Counters, Pipeline } from "../../lib/pipeline.ts";
import { evaluateHealth, MAX_COMMIT_ERRORS_IN_ROW } from "../../lib/serve/writer_health.ts";

const NOW = 1_800_000_000_000;

function counters(over: Partial<Counters> = {}): Counters {
  // A fresh pipeline's counters, so the fixture follows the real shape.
  const fresh = new Pipeline({ appendBatch() {} }, { commitIntervalMs: 250, batchSize: 10, bufferSize: 10 }).counters;
  return { ...fresh, ...over };
}

const health = (c: Counters, fatalError?: unknown, startedAt = NOW - 60_000) =>
  evaluateHealth({ counters: c, fatalError, commitIntervalMs: 250, now: NOW, startedAt });

Deno.test("an idle logger whose writer ticks with nothing to commit is healthy", () => {
  const h = health(counters({ lastFlushOkAt: NOW - 200, lastCommitAt: NOW - 3_600_000 }));
  assert.equal(h.status, "ok");
  assert.equal(h.last_commit_age_s, 3600);
});

Deno.test("a writer that has not flushed within the threshold is unhealthy", () => {
  const h = health(counters({ lastFlushOkAt: NOW - 6_000 }));
  assert.equal(h.status, "unhealthy");
  assert.match(h.reason!, /not committed for 6 s/);
});

Deno.test("a logger that just started and has not flushed yet is healthy", () => {
  assert.equal(health(counters(), undefined, NOW - 100).status, "ok");
});

Deno.test("commit errors in a row make the writer unhealthy before it goes stale", () => {
  const c = counters({ lastFlushOkAt: NOW - 800, commitErrorsInRow: MAX_COMMIT_ERRORS_IN_ROW, pending: 42 });
  const h = health(c);
  assert.equal(h.status, "unhealthy");
  assert.match(h.reason!, /3 commits failed in a row.*42 readings waiting/);
  assert.equal(health({ ...c, commitErrorsInRow: 1 }).status, "ok");
});

Deno.test("a fatal writer error makes the writer unhealthy", () => {
  assert.equal(health(counters({ lastFlushOkAt: NOW }), new Error("corrupt")).status, "unhealthy");
});
