import assert from "node:assert/strict";
import { backoffDelay, reconnectLoop } from "../../lib/mqtt/reconnect.ts";
import { waitFor, within } from "../_helpers/mqtt.ts";

Deno.test("backoffDelay: doubles from the minimum, is capped, and jitters within the upper half", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map((a) => backoffDelay(a, 1000, 30_000, () => 0.999999)), [
    1000,
    2000,
    4000,
    8000,
    16_000,
    30_000,
    30_000,
  ]);
  assert.deepEqual([1, 2, 3].map((a) => backoffDelay(a, 1000, 30_000, () => 0)), [500, 1000, 2000]);
  assert.equal(backoffDelay(1000, 1000, 30_000, () => 0.5), 22_500); // huge attempt counts stay finite
  for (let i = 0; i < 1000; i++) {
    const d = backoffDelay(3, 1000, 30_000, Math.random);
    assert.ok(d >= 2000 && d <= 4000, String(d));
  }
});

/** A fake connect: fails `failures` times, then returns a connection that closes after `upMs` with an error. */
function fakeConnect(failures: number, upMs: number) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    connect: (): Promise<{ closed: Promise<unknown> }> => {
      calls++;
      if (calls <= failures) return Promise.reject(new Error(`refused ${calls}`));
      return Promise.resolve({
        closed: new Promise((resolve) => setTimeout(() => resolve(new Error("lost")), upMs)),
      });
    },
  };
}

Deno.test("reconnectLoop: failures back off exponentially up to the cap; a short-lived connection does not reset", async () => {
  const fake = fakeConnect(3, 0);
  const retries: { error: string; attempt: number; delayMs: number }[] = [];
  const stop = new AbortController();
  const loop = reconnectLoop(fake.connect, {
    signal: stop.signal,
    minDelayMs: 4,
    maxDelayMs: 20,
    stableAfterMs: 10_000,
    random: () => 0.999999,
    onRetry: ({ error, attempt, delayMs }) => retries.push({ error: String(error), attempt, delayMs }),
  });
  await waitFor(() => retries.length >= 6, "six retries");
  stop.abort();
  await within(loop, 1000, "the loop to end");
  assert.deepEqual(retries.slice(0, 6), [
    { error: "Error: refused 1", attempt: 1, delayMs: 4 },
    { error: "Error: refused 2", attempt: 2, delayMs: 8 },
    { error: "Error: refused 3", attempt: 3, delayMs: 16 },
    { error: "Error: lost", attempt: 4, delayMs: 20 },
    { error: "Error: lost", attempt: 5, delayMs: 20 },
    { error: "Error: lost", attempt: 6, delayMs: 20 },
  ]);
});

Deno.test("reconnectLoop: a connection that stayed up for stableAfterMs resets the backoff", async () => {
  const fake = fakeConnect(2, 30);
  const retries: number[] = [];
  const stop = new AbortController();
  const loop = reconnectLoop(fake.connect, {
    signal: stop.signal,
    minDelayMs: 2,
    maxDelayMs: 1000,
    stableAfterMs: 20,
    random: () => 0.999999,
    onRetry: ({ attempt }) => retries.push(attempt),
  });
  await waitFor(() => retries.length >= 4, "four retries");
  stop.abort();
  await loop;
  assert.deepEqual(retries.slice(0, 4), [1, 2, 1, 1]);
});

Deno.test("reconnectLoop: abort ends it promptly while sleeping and while connected; delayFor overrides", async () => {
  const sleeping = new AbortController();
  const seen: number[] = [];
  const loop1 = reconnectLoop(() => Promise.reject(new Error("bad password")), {
    signal: sleeping.signal,
    delayFor: (e, computed) => /password/.test(String(e)) ? 60_000 : computed,
    onRetry: ({ delayMs }) => seen.push(delayMs),
  });
  await waitFor(() => seen.length === 1, "the first retry");
  assert.deepEqual(seen, [60_000]);
  sleeping.abort();
  await within(loop1, 500, "the loop to stop sleeping");

  const connected = new AbortController();
  let up = false;
  const forever = new Promise<unknown>(() => {});
  const loop2 = reconnectLoop(() => {
    up = true;
    return Promise.resolve({ closed: forever });
  }, { signal: connected.signal });
  await waitFor(() => up, "the connect");
  connected.abort();
  await within(loop2, 500, "the loop to leave the open connection");
});
