import assert from "node:assert/strict";
import { waitFor } from "./_helpers/process.ts";
import type { Reading, ReadingBatch } from "../lib/reading.ts";
import { join } from "node:path";
import { type BatchWriter, Pipeline } from "../lib/pipeline.ts";
import { Store } from "../lib/store/mod.ts";
import { tempDir } from "./_helpers/database.ts";

/** A writer that records committed groups and can be told to fail. */
class FakeWriter implements BatchWriter {
  groups: Reading[][] = [];
  failWith: Error | undefined;
  appendBatch(batch: ReadingBatch, from = 0, to = batch.length): void {
    if (this.failWith) throw this.failWith;
    this.groups.push(Array.from({ length: to - from }, (_, i) => batch.at(from + i)));
  }
  get stored(): Reading[] {
    return this.groups.flat();
  }
}

const sqliteError = (errcode: number) => Object.assign(new Error(`sqlite error ${errcode}`), { errcode });
const r = (i: number): Reading => ({ sensor: "s", ts: i, value: i });
const many = (n: number, from = 0) => Array.from({ length: n }, (_, i) => r(from + i));

Deno.test("flush commits in groups of at most batchSize, in order", () => {
  const w = new FakeWriter();
  const p = new Pipeline(w, { commitIntervalMs: 1000, batchSize: 4, bufferSize: 100 });
  assert.equal(p.emit(many(10)), 10);
  assert.equal(p.flush(), true);
  assert.deepEqual(w.groups.map((g) => g.length), [4, 4, 2]);
  assert.deepEqual(w.stored.map((x) => x.ts), [...Array(10).keys()]);
  assert.equal(p.counters.taken, 10);
  assert.equal(p.counters.stored, 10);
  assert.equal(p.counters.commits, 3);
});

Deno.test("a full buffer drops and counts what does not fit", () => {
  const w = new FakeWriter();
  const p = new Pipeline(w, { commitIntervalMs: 1000, batchSize: 100, bufferSize: 5 });
  assert.equal(p.emit(many(3)), 3);
  assert.equal(p.emit(many(4, 3)), 2);
  assert.equal(p.room, 0);
  assert.deepEqual(p.counters, { ...p.counters, taken: 5, dropped: 2 });
  p.flush();
  assert.deepEqual(w.stored.map((x) => x.ts), [0, 1, 2, 3, 4]);
});

Deno.test("a transient write error keeps the readings, in order, and the next flush stores them", () => {
  const w = new FakeWriter();
  const errors: [unknown, boolean][] = [];
  let recovered = 0;
  const p = new Pipeline(w, {
    commitIntervalMs: 1000,
    batchSize: 3,
    bufferSize: 100,
    onCommitError: (e, t) => errors.push([e, t]),
    onRecovered: (n) => recovered = n,
  });
  p.emit(many(5));
  w.failWith = sqliteError(13); // SQLITE_FULL
  assert.equal(p.flush(), false);
  assert.equal(p.flush(), false);
  assert.equal(p.pendingCount, 5);
  p.emit(many(2, 5));
  w.failWith = undefined;
  assert.equal(p.flush(), true);
  assert.deepEqual(w.stored.map((x) => x.ts), [0, 1, 2, 3, 4, 5, 6]);
  assert.equal(errors.length, 2);
  assert.equal(errors[0][1], true, "SQLITE_FULL is transient");
  assert.equal(recovered, 2);
  assert.equal(p.counters.commitErrors, 2);
  assert.equal(p.counters.stored, 7);
});

Deno.test("a failure in a later group keeps only the uncommitted rest", () => {
  const w = new FakeWriter();
  const p = new Pipeline(w, { commitIntervalMs: 1000, batchSize: 2, bufferSize: 100 });
  p.emit(many(5));
  let calls = 0;
  const real = w.appendBatch.bind(w);
  w.appendBatch = (rs, from, to) => {
    if (++calls === 2) throw sqliteError(10); // SQLITE_IOERR on the second group
    real(rs, from, to);
  };
  assert.equal(p.flush(), false);
  assert.equal(p.counters.stored, 2);
  assert.equal(p.pendingCount, 3);
  assert.equal(p.flush(), true);
  assert.deepEqual(w.stored.map((x) => x.ts), [0, 1, 2, 3, 4]);
});

Deno.test("a corruption error is fatal: flush stops trying and waiters learn it", async () => {
  const w = new FakeWriter();
  const p = new Pipeline(w, { commitIntervalMs: 1000, batchSize: 10, bufferSize: 100 });
  p.emit(many(3));
  const waiting = p.waitStored();
  w.failWith = sqliteError(11); // SQLITE_CORRUPT
  assert.equal(p.flush(), false);
  assert.ok(p.fatalError);
  w.failWith = undefined;
  assert.equal(p.flush(), false, "no further writes after a fatal error");
  assert.equal(await waiting, false);
});

Deno.test("waitStored resolves once the readings emitted before it are committed", async () => {
  const w = new FakeWriter();
  const p = new Pipeline(w, { commitIntervalMs: 1000, batchSize: 10, bufferSize: 100 });
  p.emit(many(3));
  let done = false;
  const waiting = p.waitStored().then((ok) => (done = ok));
  await Promise.resolve();
  assert.equal(done, false);
  p.flush();
  assert.equal(await waiting, true);
  assert.equal(await p.waitStored(), true, "nothing pending resolves at once");
});

Deno.test("a caller waiting for its readings gets a commit at once, not at the end of the interval", async () => {
  const w = new FakeWriter();
  const p = new Pipeline(w, { commitIntervalMs: 3_600_000, batchSize: 1000, bufferSize: 10_000 });
  p.start();
  let hour: ReturnType<typeof setTimeout> | undefined;
  try {
    p.emit(many(3));
    const outcome = await Promise.race([
      p.waitStored(),
      new Promise<string>((r) => hour = setTimeout(() => r("still waiting after 5 s"), 5000)),
    ]);
    assert.equal(outcome, true);
    assert.equal(w.groups.length, 1);
    // Two waiters that arrive together share one commit.
    p.emit(many(2, 3));
    const a = p.waitStored();
    p.emit(many(2, 5));
    const b = p.waitStored();
    assert.deepEqual(await Promise.all([a, b]), [true, true]);
    assert.deepEqual(w.groups.map((g) => g.length), [3, 4]);
  } finally {
    clearTimeout(hour);
    p.close();
  }
});

Deno.test("the commit timer commits within the interval, and a full batch commits at once", async () => {
  const w = new FakeWriter();
  const p = new Pipeline(w, { commitIntervalMs: 30, batchSize: 50, bufferSize: 1000 });
  p.start();
  try {
    p.emit(many(3));
    assert.equal(await p.waitStored(), true);
    p.emit(many(50, 3)); // reaches batchSize: committed on the next turn, not after the interval
    assert.equal(await p.waitStored(), true);
    assert.equal(w.stored.length, 53);
  } finally {
    p.close();
  }
});

Deno.test("while commits fail, a full batch does not trigger immediate retries: the timer paces them", async () => {
  const w = new FakeWriter();
  w.failWith = sqliteError(13);
  let attempts = 0;
  // An interval no test run reaches: every attempt seen here is an immediate one.
  const p = new Pipeline(w, {
    commitIntervalMs: 3_600_000,
    batchSize: 10,
    bufferSize: 10_000,
    onCommitError: () => attempts++,
  });
  p.start();
  try {
    p.emit(many(10)); // a full batch: one immediate attempt, which fails
    await waitFor(() => attempts === 1, 10_000);
    for (let k = 0; k < 20; k++) {
      p.emit(many(10, 10 * (k + 1))); // more full batches
      await new Promise((r) => setTimeout(r, 0)); // an immediate commit would run in this turn
    }
    assert.equal(attempts, 1, "no immediate retry while commits fail");
  } finally {
    p.close();
  }
  // The timer does retry, and a healed writer then stores everything.
  const w2 = new FakeWriter();
  w2.failWith = sqliteError(13);
  let retries = 0;
  const paced = new Pipeline(w2, {
    commitIntervalMs: 20,
    batchSize: 10,
    bufferSize: 10_000,
    onCommitError: () => retries++,
  });
  paced.start();
  try {
    paced.emit(many(10));
    await waitFor(() => retries >= 3, 10_000);
    w2.failWith = undefined;
    assert.equal(await paced.waitStored(), true);
    assert.equal(w2.stored.length, 10);
  } finally {
    paced.close();
  }
});

const NOW = 1_800_000_000_000;

Deno.test("the pipeline records commit latency, batch sizes, per-source counts and idle flushes", async () => {
  await using dir = await tempDir();
  const store = Store.open(join(dir.path, "e.db"), { durability: "normal" });
  try {
    const pipeline = new Pipeline(store, { commitIntervalMs: 1000, batchSize: 100, bufferSize: 250 });
    const emit = pipeline.emitFor("sim");
    const readings = Array.from({ length: 300 }, (_, i) => ({ sensor: "s", ts: NOW + i, value: i }));
    assert.equal(emit(readings), 250);
    pipeline.countRejected("sim", "not a number", 2);
    assert.equal(pipeline.flush(), true);
    assert.equal(pipeline.commitSeconds.count, 3, "one latency observation per commit");
    assert.deepEqual(pipeline.batchSizes.cumulative().slice(0, 4), [0, 0, 1, 3], "batches of 100, 100, 50");
    const sim = pipeline.sources.get("sim")!;
    assert.deepEqual([sim.taken, sim.dropped, sim.rejected.get("not a number")], [250, 50, 2]);
    assert.equal(pipeline.counters.rejected, 2);
    const before = pipeline.counters.lastFlushOkAt;
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(pipeline.flush(), true, "nothing pending");
    assert.ok(pipeline.counters.lastFlushOkAt > before, "an idle flush still counts as a live writer");
    pipeline.close();
  } finally {
    store.close();
  }
});

Deno.test("the counters add up at every moment: taken = stored + pending, also between commits", () => {
  const w = new FakeWriter();
  const p = new Pipeline(w, { commitIntervalMs: 1000, batchSize: 100, bufferSize: 100 });
  p.emit(many(10));
  p.flush();
  p.emit(many(3, 10));
  const c = { ...p.counters }; // what the stats record logs
  assert.deepEqual([c.taken, c.stored, c.pending], [13, 10, 3]);
  w.failWith = sqliteError(13);
  p.flush();
  p.emit(many(2, 13));
  assert.deepEqual([p.counters.taken, p.counters.stored, p.counters.pending], [15, 10, 5]);
});
