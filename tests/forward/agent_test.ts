import assert from "node:assert/strict";
import { join } from "node:path";
import { getLogger } from "@logtape/logtape";
import { ForwardAgent, retryDelayMs } from "../../lib/forward/agent.ts";
import { type Forwarder, UpstreamError } from "../../lib/forward/forwarder.ts";
import { OutboxReader, Reader, Store, type StoredReading } from "../../lib/store/mod.ts";
import { tempDir } from "../_helpers/database.ts";
import { waitFor } from "../_helpers/process.ts";

const BACKOFF = { baseMs: 1000, maxMs: 8000, permanentMs: 60_000 };

Deno.test("retry delays double up to the cap, never below half of it", () => {
  for (const r of [0, 0.5, 0.999]) {
    const delays = [1, 2, 3, 4, 5, 6].map((f) => retryDelayMs(f, new Error("x"), BACKOFF, () => r));
    const caps = [1000, 2000, 4000, 8000, 8000, 8000];
    delays.forEach((d, i) => assert.ok(d >= caps[i] / 2 && d <= caps[i], `failure ${i + 1}: ${d}`));
  }
});

Deno.test("Retry-After is honoured and a permanent error waits the long pause", () => {
  const ra = retryDelayMs(1, new UpstreamError("429", { retryAfterMs: 7000 }), BACKOFF, () => 0.5);
  assert.ok(ra >= 7000 && ra < 7000 + BACKOFF.baseMs);
  const p = retryDelayMs(1, new UpstreamError("401", { permanent: true }), BACKOFF, () => 0);
  assert.ok(p >= 0.9 * BACKOFF.permanentMs);
});

/** A forwarder that fails `failFirst` times, then records what it got. */
class FakeForwarder implements Forwarder {
  failFirst: number;
  readonly got: StoredReading[] = [];
  calls = 0;
  constructor(failFirst: number) {
    this.failFirst = failFirst;
  }
  send(batch: readonly StoredReading[]): Promise<void> {
    this.calls++;
    if (this.failFirst-- > 0) return Promise.reject(new UpstreamError("HTTP 503"));
    this.got.push(...batch);
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

async function withStore(fn: (store: Store, path: string) => void | Promise<void>): Promise<void> {
  await using dir = await tempDir();
  const path = join(dir.path, "e.db");
  const store = Store.open(path, { durability: "normal" });
  try {
    store.append(Array.from({ length: 250 }, (_, i) => ({ sensor: `s${i % 3}`, ts: Date.now() - 1000 + i, value: i })));
    await fn(store, path);
  } finally {
    store.close();
  }
}

Deno.test("the cursor advances only after the upstream acknowledged, in id order, across failures", async () => {
  await withStore(async (store, path) => {
    const fake = new FakeForwarder(2);
    const agent = new ForwardAgent(fake, store, OutboxReader.open(path), {
      name: "fake",
      display: "fake",
      batchSize: 100,
      pollMs: 10,
      backoff: { baseMs: 5, maxMs: 10, permanentMs: 10 },
      log: getLogger(["edgelog", "test"]),
    });
    agent.start();
    assert.equal(store.openCursor("fake"), 0, "nothing acknowledged yet");
    await waitFor(() => fake.got.length === 250, 5000);
    await waitFor(() => store.openCursor("fake") === 250, 5000);
    assert.deepEqual(fake.got.map((r) => r.id), Array.from({ length: 250 }, (_, i) => i + 1));
    assert.equal(agent.counters.failures, 2);
    assert.deepEqual(agent.lag(), { name: "fake", cursor: 250, rows: 0, seconds: 0 });
    await agent.stop(1000);
  });
});

Deno.test("a replay that moves the cursor back makes a running agent resend from there", async () => {
  await withStore(async (store, path) => {
    const fake = new FakeForwarder(0);
    const agent = new ForwardAgent(fake, store, OutboxReader.open(path), {
      name: "fake",
      display: "fake",
      batchSize: 1000,
      pollMs: 10,
      log: getLogger(["edgelog", "test"]),
    });
    agent.start();
    await waitFor(() => store.openCursor("fake") === 250, 5000);
    // What `edgelog replay --from-id 201` does, from another connection.
    const other = new (await import("node:sqlite")).DatabaseSync(path);
    other.prepare("UPDATE forward_cursors SET last_id = 200 WHERE name = 'fake'").run();
    other.close();
    store.append([{ sensor: "s0", ts: Date.now(), value: 1 }]);
    // The batch in flight when the cursor moved (id 251) may go out first; then 201.. again.
    await waitFor(() => fake.got.length >= 250 + 51 && fake.got.at(-1)!.id === 251, 5000);
    assert.deepEqual(fake.got.slice(-51).map((r) => r.id), Array.from({ length: 51 }, (_, i) => 201 + i));
    await waitFor(() => store.openCursor("fake") === 251, 5000);
    await agent.stop(1000);
  });
});

Deno.test("the store reports each forwarder's lag in rows and seconds", async () => {
  await withStore((store, path) => {
    store.openCursor("a");
    store.advanceCursor("a", 0, 200);
    using reader = Reader.open(path);
    const lag = reader.forwardLags();
    assert.equal(lag.length, 1);
    assert.equal(lag[0].rows, 50);
    assert.ok(lag[0].seconds > 0 && lag[0].seconds < 60);
  });
});
