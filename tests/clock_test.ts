import assert from "node:assert/strict";
import { ClockGuard, type ClockSegment, resolveStamps } from "../lib/clock.ts";
import type { SyncSource } from "../lib/clock_sync.ts";
import { parseClockSync } from "../lib/clock_sync.ts";
import { ReadingBatch } from "../lib/reading.ts";

const BUILD = Date.UTC(2026, 10, 1);
const TRUE_START = Date.UTC(2026, 10, 27, 12);

/** Two hand-moved clocks: `mono` only goes forward, `wall` is set at will. */
function clocks(wallAtStart: number) {
  const c = { mono: 1000, wallOffset: wallAtStart - 1000 };
  return {
    c,
    wall: () => c.mono + c.wallOffset,
    mono: () => c.mono,
    /** Time passes: both clocks advance. */
    pass(ms: number) {
      c.mono += ms;
    },
    /** The wall clock is set to `ms` (a step). */
    setWall(ms: number) {
      c.wallOffset = ms - c.mono;
    },
  };
}

function guard(
  t: ReturnType<typeof clocks>,
  extra: Partial<ConstructorParameters<typeof ClockGuard>[0]> = {},
): { g: ClockGuard; trusted: ClockSegment[]; untrusted: ClockSegment[] } {
  const trusted: ClockSegment[] = [], untrusted: ClockSegment[] = [];
  const g = new ClockGuard({
    buildTimeMs: BUILD,
    stepThresholdMs: 2000,
    firstSegmentId: 7,
    wall: t.wall,
    mono: t.mono,
    onTrusted: (s) => trusted.push(s),
    onUntrusted: (s) => untrusted.push(s),
    ...extra,
  });
  return { g, trusted, untrusted };
}

Deno.test("a trusted clock stamps whole milliseconds of the wall clock", () => {
  const t = clocks(TRUE_START);
  const { g } = guard(t, { floorMs: TRUE_START - 60_000 });
  assert.equal(g.trusted, true);
  assert.equal(g.now(), TRUE_START);
  t.pass(1500);
  assert.equal(g.now(), TRUE_START + 1500);
  assert.equal(ClockGuard.isProvisional(g.now()), false);
});

Deno.test("a clock earlier than the build stamps provisionally from the build time, and is corrected once it is right", () => {
  const t = clocks(Date.UTC(1970, 0, 2));
  const { g, trusted, untrusted } = guard(t);
  assert.equal(g.trusted, false);
  assert.equal(untrusted.length, 1);
  assert.match(untrusted[0].reason, /earlier than this build/);
  t.pass(100);
  const a = g.now();
  assert.ok(ClockGuard.isProvisional(a));
  assert.equal(Math.floor(a), BUILD + 100);
  assert.equal(g.segmentOf(a)?.id, 7);
  t.pass(5000);
  const b = g.now();
  assert.equal(Math.floor(b), BUILD + 5100);
  t.setWall(TRUE_START); // NTP
  g.check();
  assert.equal(g.trusted, true);
  assert.equal(trusted.length, 1);
  // Every provisional stamp moves by the same correction: wall minus provisional time now.
  assert.equal(trusted[0].correction, TRUE_START - (BUILD + 5100));
  assert.equal(Math.floor(b) + trusted[0].correction!, TRUE_START);
  assert.equal(g.now(), TRUE_START);
});

Deno.test("a wall clock earlier than the newest reading stored is not trusted without a sync source", () => {
  const t = clocks(TRUE_START - 3_600_000); // fake-hwclock: an hour old
  const { g, untrusted, trusted } = guard(t, { floorMs: TRUE_START - 60_000 });
  assert.match(untrusted[0].reason, /newest reading stored/);
  t.pass(1000);
  assert.equal(Math.floor(g.now()), TRUE_START - 60_000 + 1 + 1000, "goes on from the newest reading");
  t.pass(60_000);
  g.check();
  assert.equal(g.trusted, false, "the wall clock never catches up by itself");
  t.setWall(TRUE_START + 61_000);
  g.check();
  assert.equal(trusted[0].correction, 60_000 - 1);
});

Deno.test("with a sync source the clock is trusted only once it reports synchronized", async () => {
  let synced = false;
  const sync: SyncSource = { name: "file:x", synchronized: () => Promise.resolve(synced) };
  const t = clocks(TRUE_START - 300_000);
  const { g, trusted, untrusted } = guard(t, { sync, synchronized: false });
  assert.match(untrusted[0].reason, /file:x has not reported/);
  t.pass(2000);
  await g.pollSync();
  g.check();
  assert.equal(g.trusted, false);
  synced = true;
  t.setWall(TRUE_START + 2000);
  await g.pollSync();
  g.check();
  assert.equal(trusted[0].correction, 300_000);
  assert.equal(g.status().synchronized, true);
});

Deno.test("a synchronized clock at the start outranks a newer reading stored (it may have been a client's)", () => {
  const sync: SyncSource = { name: "timesyncd", synchronized: () => Promise.resolve(true) };
  const t = clocks(TRUE_START);
  const { g } = guard(t, { sync, synchronized: true, floorMs: TRUE_START + 3_600_000 });
  assert.equal(g.trusted, true);
  assert.equal(g.now(), TRUE_START, "no plateau at the stored reading");
});

Deno.test("a backward step keeps the monotonic time until the wall clock catches up, and never goes back", () => {
  const t = clocks(TRUE_START);
  const { g, untrusted, trusted } = guard(t);
  assert.equal(g.now(), TRUE_START);
  t.pass(1000);
  t.setWall(TRUE_START + 1000 - 600_000);
  const a = g.now();
  assert.equal(untrusted[0].kind, "step");
  assert.equal(g.status().steps, 1);
  assert.equal(g.status().lastStepMs, -600_000);
  assert.equal(Math.floor(a), TRUE_START + 1000, "goes on with the monotonic clock from before the step");
  t.pass(1000);
  g.check();
  assert.equal(g.trusted, false);
  assert.ok(Math.floor(g.now()) > Math.floor(a));
  t.setWall(TRUE_START + 2000 - 500); // put right again, a little behind edgelog's time
  g.check();
  assert.equal(g.trusted, true);
  assert.equal(trusted[0].correction, 0, "never a negative correction after a step back");
  assert.ok(g.now() >= Math.floor(a));
});

Deno.test("a small step within the threshold is followed, and a forward step is counted but keeps the wall clock", () => {
  const t = clocks(TRUE_START);
  const { g } = guard(t);
  g.now();
  t.pass(1000);
  t.setWall(TRUE_START + 1000 + 1500); // slewing or a small step: followed
  g.check();
  assert.equal(g.status().steps, 0);
  t.setWall(TRUE_START + 1000 + 3_600_000);
  assert.equal(g.now(), TRUE_START + 1000 + 3_600_000);
  assert.equal(g.status().steps, 1);
  assert.equal(g.trusted, true);
});

Deno.test("resolveStamps gives provisional stamps whole ms and their segment, corrects late ones, keeps clients' own", () => {
  const t = clocks(Date.UTC(1970, 0, 2));
  const { g } = guard(t);
  const open = g.now();
  const batch = ReadingBatch.of([
    { sensor: "a", ts: open, value: 1 },
    { sensor: "client", ts: TRUE_START, value: 2 },
  ]);
  const counters = { provisional: 0, correctedOnArrival: 0 };
  resolveStamps(g, batch, 0, 2, counters);
  assert.deepEqual([...batch.ts], [Math.floor(open), TRUE_START]);
  assert.deepEqual([...batch.segment], [7, 0]);
  t.setWall(TRUE_START);
  g.check();
  const late = ReadingBatch.of([{ sensor: "a", ts: open, value: 3 }]); // stamped before, arriving after
  resolveStamps(g, late, 0, 1, counters);
  assert.equal(late.ts[0], Math.floor(open) + g.segments[0].correction!);
  assert.equal(late.segment[0], -7, "already corrected: recorded as re-stamped");
  assert.deepEqual(counters, { provisional: 2, correctedOnArrival: 1 });
});

Deno.test("--clock-sync takes auto, none, timesyncd, chrony or file:PATH", () => {
  for (const ok of ["auto", "none", "timesyncd", "chrony", "file:/run/synced"]) assert.equal(parseClockSync(ok), ok);
  for (const bad of ["", "ntp", "file:", 3]) assert.throws(() => parseClockSync(bad), /auto, none, timesyncd/);
});
