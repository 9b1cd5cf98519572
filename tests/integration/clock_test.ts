/**
 * Wrong clocks, for real: the program runs under libfaketime (Debian `faketime`), whose offset the
 * test moves in the middle of the run through FAKETIME_TIMESTAMP_FILE (FAKETIME_NO_CACHE=1, the
 * monotonic clock left alone). The test feeds readings on stdin and notes the true time it sent
 * each one (its own clock is not faked); afterwards every reading edgelog stamped must be within
 * two commit intervals of that time, in order, none lost, and the clients' own timestamps untouched.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { BUILD_TIME_MS } from "../../lib/build_time.ts";
import { Reader } from "../../lib/store/mod.ts";
import { tempDir } from "../_helpers/database.ts";
import { type LoggerProcess, runOnce, spawnLogger, waitFor } from "../_helpers/process.ts";
import { requirement } from "../_helpers/requirements.ts";

const COMMIT_MS = 200;
/** "Within a few commit intervals of the true time". */
const TOLERANCE_MS = 2 * COMMIT_MS;

const LIBFAKETIME = [
  "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
  "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
  "/usr/lib/faketime/libfaketime.so.1",
].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
}) ?? "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

const faketime = requirement("the clock scenarios", { files: { [LIBFAKETIME]: "faketime" } });
// Under `test:arm64` the program runs in qemu-user, which cannot preload a host library.
const emulated = Deno.env.get("EDGELOG_TEST_DENO") !== undefined;
if (emulated) console.log("IGNORED the clock scenarios: libfaketime cannot be preloaded into an emulated Deno");
const ignore = faketime.ignore || emulated;

/** The faked wall clock of one program: an offset from the true time, moved by rewriting a file. */
class FakeClock {
  readonly file: string;
  constructor(dir: string) {
    this.file = join(dir, "faketime");
  }
  /** The program's wall clock is the true time plus `offsetMs` (whole seconds). */
  set(offsetMs: number): void {
    const s = Math.round(offsetMs / 1000);
    Deno.writeTextFileSync(this.file, s >= 0 ? `+${s}` : `${s}`);
  }
  env(): Record<string, string> {
    return {
      LD_PRELOAD: LIBFAKETIME,
      FAKETIME_TIMESTAMP_FILE: this.file,
      FAKETIME_NO_CACHE: "1",
      FAKETIME_DONT_FAKE_MONOTONIC: "1",
    };
  }
}

/** Offset that puts the wall clock at 1970-01-02. */
const TO_1970 = () => -(Date.now() - 86_400_000);

/** Feeds readings on stdin and remembers when (true time) each was sent. */
class Feeder {
  readonly sent = new Map<number, number>();
  /** The client readings (explicit ts) by value. */
  readonly clientTs = new Map<number, number>();
  #seq: number;
  readonly #first: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #writes: Promise<void> = Promise.resolve();

  /** Numbers the readings from `after + 1` on (a second run continues the first's numbers). */
  constructor(p: LoggerProcess, after = 0) {
    this.#writer = p.child.stdin.getWriter();
    this.#seq = this.#first = after;
  }

  start(everyMs = 20): void {
    this.#timer = setInterval(() => this.#send(), everyMs);
  }

  #send(): void {
    const seq = ++this.#seq;
    const now = Date.now();
    let line: string;
    if (seq % 10 === 0) {
      // A client's own timestamp: never re-stamped, whatever the clock.
      line = JSON.stringify({ sensor: "client", value: seq, ts: now - 5000 });
      this.clientTs.set(seq, now - 5000);
    } else {
      line = JSON.stringify({ sensor: "probe", value: seq });
      this.sent.set(seq, now);
    }
    this.#writes = this.#writes.then(() => this.#writer.write(new TextEncoder().encode(line + "\n")));
  }

  /** Readings sent by this feeder. */
  get count(): number {
    return this.#seq - this.#first;
  }

  /** The last number sent. */
  get last(): number {
    return this.#seq;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#writes;
  }

  async close(): Promise<void> {
    await this.stop();
    await this.#writer.close();
  }
}

interface Row {
  id: number;
  sensor: string;
  ts: number;
  value: number;
}

/** Every reading in log order, hot or already compacted into chunks (through the real reader). */
function rowsOf(db: string): Row[] {
  using reader = Reader.open(db);
  return reader.pageById(0, {}, 1_000_000).map(([id, sensorId, ts, value]) => ({
    id,
    sensor: reader.sensorById(sensorId)!.name,
    ts,
    value,
  }));
}

/** Every check of a scenario's outcome: count, true times, order, clients' timestamps. */
function assertTrueTimes(db: string, ...feeders: Feeder[]): Row[] {
  const rows = rowsOf(db);
  const feeder = {
    count: feeders.reduce((n, f) => n + f.count, 0),
    sent: new Map(feeders.flatMap((f) => [...f.sent])),
    clientTs: new Map(feeders.flatMap((f) => [...f.clientTs])),
  };
  assert.equal(rows.length, feeder.count, "every reading sent is stored, once");
  let worst = 0, prev = -Infinity;
  for (const r of rows) {
    if (r.sensor === "client") {
      assert.equal(r.ts, feeder.clientTs.get(r.value), `client reading ${r.value} keeps its own timestamp`);
      continue;
    }
    const sentAt = feeder.sent.get(r.value)!;
    worst = Math.max(worst, Math.abs(r.ts - sentAt));
    assert.ok(
      Math.abs(r.ts - sentAt) <= TOLERANCE_MS,
      `reading ${r.value} stamped ${new Date(r.ts).toISOString()}, sent at ${new Date(sentAt).toISOString()}`,
    );
    assert.ok(r.ts >= prev, `reading ${r.value} is not stamped before the one taken before it`);
    prev = r.ts;
  }
  console.log(`  worst |stamp - true time| over ${rows.length} readings: ${worst} ms`);
  return rows;
}

async function logger(dir: string, clock: FakeClock, extra: string[]): Promise<LoggerProcess> {
  const p = spawnLogger([
    "--db",
    join(dir, "e.db"),
    "--source",
    "stdin",
    "--commit-interval",
    String(COMMIT_MS),
    ...extra,
  ], { env: clock.env(), stdin: "piped" });
  await p.waitUntilLogging();
  return p;
}

async function stopped(p: LoggerProcess, feeder: Feeder): Promise<void> {
  await feeder.close();
  p.kill("SIGTERM");
  assert.equal((await p.exited()).code, 0, p.stderrLines.join("\n"));
}

async function restampedRecord(p: LoggerProcess) {
  const r = await p.waitForRecord((r) => String(r.message).startsWith("re-stamped") && typeof r.readings === "number");
  const trusted = p.records.find((t) => typeof t.untrusted_ms === "number");
  console.log(`  re-stamped ${r.readings} readings by ${r.correction_ms} ms, untrusted ${trusted?.untrusted_ms} ms`);
  return r;
}

Deno.test({
  name: "booting in 1970, readings get provisional stamps, and the true time once sync steps the clock forward",
  ignore,
  fn: async () => {
    faketime.check();
    await using dir = await tempDir();
    const clock = new FakeClock(dir.path);
    clock.set(TO_1970());
    const synced = join(dir.path, "synchronized");
    const p = await logger(dir.path, clock, ["--clock-sync", `file:${synced}`]);
    const untrusted = await p.waitForRecord((r) => String(r.message).startsWith("the wall clock is not trusted"));
    assert.match(String(untrusted.reason), /earlier than this build/);
    const feeder = new Feeder(p);
    feeder.start();
    await waitFor(() => feeder.count >= 60, 10_000);
    // NTP arrives: the clock steps 56 years forward and timesyncd says synchronized.
    clock.set(0);
    Deno.writeTextFileSync(synced, "");
    const restamped = await restampedRecord(p);
    assert.ok(Number(restamped.readings) >= 50, `re-stamped ${restamped.readings}`);
    // Provisional stamps started at the build time (the latest time known to be past), so the
    // correction is what separates it from the true time, not the 56 years of the step.
    assert.ok(Number(restamped.correction_ms) > 0, `corrected by ${restamped.correction_ms} ms`);
    await waitFor(() => feeder.count >= 120, 10_000);
    await stopped(p, feeder);
    const rows = assertTrueTimes(join(dir.path, "e.db"), feeder);

    // query --restamped shows which readings were re-stamped.
    const q = await runOnce([
      "query",
      "--db",
      join(dir.path, "e.db"),
      "--sensor",
      "probe",
      "--restamped",
      "--format",
      "ndjson",
    ]);
    const marks = q.stdout.trim().split("\n").map((l) => JSON.parse(l) as { value: number; clock: string | null });
    const restampedValues = marks.filter((m) => m.clock === "restamped").map((m) => m.value);
    assert.ok(restampedValues.length >= 50);
    assert.ok(marks.every((m) => m.clock === "restamped" || m.clock === null));
    assert.equal(marks.length, rows.filter((r) => r.sensor === "probe").length);
    const stats = JSON.parse((await runOnce(["stats", "--json", "--db", join(dir.path, "e.db")])).stdout);
    assert.equal(stats.clock.state, "trusted");
    assert.equal(stats.clock.provisional_readings, 0);
    assert.equal(stats.clock.restamped_readings, restampedValues.length);
  },
});

Deno.test({
  name: "booting at an old saved time (before the newest reading stored) is caught and corrected when NTP steps in",
  ignore,
  fn: async () => {
    faketime.check();
    await using dir = await tempDir();
    const clock = new FakeClock(dir.path);
    clock.set(0);
    // A first run at the true time leaves its newest reading in the database.
    let p = await logger(dir.path, clock, ["--clock-sync", "none"]);
    const feeder = new Feeder(p);
    feeder.start();
    await waitFor(() => feeder.count >= 20, 10_000);
    await stopped(p, feeder);
    const first = rowsOf(join(dir.path, "e.db")).length;
    // The box stays off for a while: provisional stamps that went on from the newest reading would
    // be that much early, unless re-stamped.
    await new Promise((resolve) => setTimeout(resolve, 3 * TOLERANCE_MS));
    // fake-hwclock restores the time saved a minute before: earlier than what is stored.
    const saved = -60_000;
    clock.set(saved);
    p = await logger(dir.path, clock, ["--clock-sync", "none"]);
    const untrusted = await p.waitForRecord((r) => String(r.message).startsWith("the wall clock is not trusted"));
    const expected = Date.now() + saved < BUILD_TIME_MS ? /earlier than this build/ : /newest reading stored/;
    assert.match(String(untrusted.reason), expected);
    const second = new Feeder(p, feeder.last);
    second.start();
    await waitFor(() => second.count >= 60, 10_000);
    clock.set(0); // NTP steps the clock to the true time
    const restamped = await restampedRecord(p);
    // Provisional stamps went on from the newest reading stored, so the correction is the time the
    // restart took, not the minute the clock was behind.
    assert.ok(Number(restamped.correction_ms) >= 0, `corrected by ${restamped.correction_ms} ms`);
    await waitFor(() => second.count >= 100, 10_000);
    await stopped(p, second);
    assert.ok(first >= 20);
    assertTrueTimes(join(dir.path, "e.db"), feeder, second);
  },
});

Deno.test({
  name: "a clock five minutes behind is not trusted until sync arrives and steps it forward",
  ignore,
  fn: async () => {
    faketime.check();
    await using dir = await tempDir();
    const clock = new FakeClock(dir.path);
    clock.set(-300_000);
    const synced = join(dir.path, "synchronized");
    const p = await logger(dir.path, clock, ["--clock-sync", `file:${synced}`]);
    const untrusted = await p.waitForRecord((r) => String(r.message).startsWith("the wall clock is not trusted"));
    assert.match(String(untrusted.reason), /has not reported the clock synchronized/);
    const feeder = new Feeder(p);
    feeder.start();
    await waitFor(() => feeder.count >= 60, 10_000);
    clock.set(0);
    Deno.writeTextFileSync(synced, "");
    const restamped = await restampedRecord(p);
    assert.ok(Math.abs(Number(restamped.correction_ms) - 300_000) < 5000, `corrected by ${restamped.correction_ms} ms`);
    await waitFor(() => feeder.count >= 120, 10_000);
    await stopped(p, feeder);
    assertTrueTimes(join(dir.path, "e.db"), feeder);
  },
});

Deno.test({
  name: "a backward step never reorders readings: they keep the monotonic time until the wall clock is right again",
  ignore,
  fn: async () => {
    faketime.check();
    await using dir = await tempDir();
    const clock = new FakeClock(dir.path);
    clock.set(0);
    const synced = join(dir.path, "synchronized");
    Deno.writeTextFileSync(synced, "");
    const p = await logger(dir.path, clock, ["--clock-sync", `file:${synced}`]);
    const feeder = new Feeder(p);
    feeder.start();
    await waitFor(() => feeder.count >= 40, 10_000);
    clock.set(-600_000); // someone sets the clock ten minutes back
    const untrusted = await p.waitForRecord((r) => String(r.message).startsWith("the wall clock is not trusted"));
    // The step is seen as the wall clock's move against the monotonic clock's between two looks:
    // ten minutes, give or take the milliseconds of the look itself (599,999 was seen).
    const stepped = Number(/stepped back by (\d+) ms/.exec(String(untrusted.reason))?.[1]);
    assert.ok(Math.abs(stepped - 600_000) <= TOLERANCE_MS, `the reason names a ten-minute step: ${untrusted.reason}`);
    await waitFor(() => feeder.count >= 100, 10_000);
    clock.set(0); // and NTP puts it right
    const restamped = await restampedRecord(p);
    assert.ok(Math.abs(Number(restamped.correction_ms)) <= TOLERANCE_MS, `corrected by ${restamped.correction_ms} ms`);
    await waitFor(() => feeder.count >= 140, 10_000);
    await stopped(p, feeder);
    assertTrueTimes(join(dir.path, "e.db"), feeder);
    const stats = JSON.parse((await runOnce(["stats", "--json", "--db", join(dir.path, "e.db")])).stdout);
    assert.equal(stats.clock.last_segment.reason, String(untrusted.reason));
  },
});

/** A line-protocol upstream in the test: every line it was sent, with the true time it came. */
function lineReceiver(): { url: string; lines: { line: string; at: number }[] } & AsyncDisposable {
  const lines: { line: string; at: number }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const text = await request.text();
    const at = Date.now();
    for (const line of text.split("\n")) if (line) lines.push({ line, at });
    return new Response(null, { status: 204 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/write`,
    lines,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

Deno.test({
  name: "forwarders hold provisional readings until they are re-stamped, then send them with their true times",
  ignore,
  fn: async () => {
    faketime.check();
    await using dir = await tempDir();
    await using upstream = lineReceiver();
    const clock = new FakeClock(dir.path);
    clock.set(TO_1970());
    const synced = join(dir.path, "synchronized");
    const p = await logger(dir.path, clock, [
      "--clock-sync",
      `file:${synced}`,
      "--forward",
      upstream.url,
      "--listen",
      "127.0.0.1:0",
    ]);
    const listening = await p.waitForRecord((r) => typeof r.port === "number");
    const base = `http://127.0.0.1:${listening.port}`;
    const feeder = new Feeder(p);
    feeder.start();
    await waitFor(() => feeder.count >= 60, 10_000);
    let status: { forwarders: { held_readings: number }[]; clock: { trusted: boolean } } | undefined;
    await waitFor(
      async () => {
        status = await (await fetch(`${base}/api/v1/status`)).json();
        return status!.forwarders[0].held_readings >= 40;
      },
      10_000,
      () => `status: ${JSON.stringify(status)}`,
    );
    assert.equal(status!.clock.trusted, false);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^edgelog_clock_trusted 0$/m);
    assert.match(metrics, /^edgelog_forwarder_held_readings\{forwarder="[^"]+"\} [1-9]\d*$/m);
    assert.equal(upstream.lines.filter((l) => l.line.startsWith("edgelog,sensor=probe")).length, 0, "nothing sent");
    clock.set(0);
    Deno.writeTextFileSync(synced, "");
    await restampedRecord(p);
    await waitFor(() => feeder.count >= 100, 10_000);
    const after = await (await fetch(`${base}/metrics`)).text();
    assert.match(after, /^edgelog_clock_trusted 1$/m);
    assert.match(after, /^edgelog_clock_restamped_readings_total [1-9]\d*$/m);
    await feeder.stop();
    const probes = feeder.sent.size;
    await waitFor(() => upstream.lines.filter((l) => l.line.includes("sensor=probe")).length >= probes, 15_000);
    await stopped(p, feeder);
    for (const { line } of upstream.lines.filter((l) => l.line.includes("sensor=probe"))) {
      const m = /value=([\d.]+) (\d+)$/.exec(line)!;
      const seq = Number(m[1]);
      const tsMs = Number(m[2].length > 13 ? m[2].slice(0, 13) : m[2]);
      assert.ok(Math.abs(tsMs - feeder.sent.get(seq)!) <= TOLERANCE_MS, `forwarded ${line}`);
    }
  },
});

Deno.test({
  name:
    "a restart while the clock is untrusted loses nothing: the earlier run's readings are re-stamped from the boot's clock",
  ignore,
  fn: async () => {
    faketime.check();
    await using dir = await tempDir();
    const clock = new FakeClock(dir.path);
    clock.set(TO_1970());
    const synced = join(dir.path, "synchronized");
    let p = await logger(dir.path, clock, ["--clock-sync", `file:${synced}`]);
    const first = new Feeder(p);
    first.start();
    await waitFor(() => first.count >= 40, 10_000);
    await stopped(p, first); // systemd restarts it, still without a synchronized clock
    p = await logger(dir.path, clock, ["--clock-sync", `file:${synced}`]);
    await p.waitForRecord((r) => String(r.message).includes("earlier run of this boot"));
    const second = new Feeder(p, first.last);
    second.start();
    await waitFor(() => second.count >= 40, 10_000);
    clock.set(0);
    Deno.writeTextFileSync(synced, "");
    await restampedRecord(p);
    await waitFor(() => p.records.filter((r) => String(r.message).startsWith("re-stamped")).length >= 2, 10_000);
    await waitFor(() => second.count >= 80, 10_000);
    await stopped(p, second);
    assertTrueTimes(join(dir.path, "e.db"), first, second);
    const stats = JSON.parse((await runOnce(["stats", "--json", "--db", join(dir.path, "e.db")])).stdout);
    assert.equal(stats.clock.provisional_readings, 0);
    assert.equal(stats.clock.abandoned_segments, 0);
  },
});

Deno.test({
  name: "after --clock-hold-max forwarders send provisional readings as they are, and say so",
  ignore,
  fn: async () => {
    faketime.check();
    await using dir = await tempDir();
    await using upstream = lineReceiver();
    const clock = new FakeClock(dir.path);
    clock.set(TO_1970());
    const p = await logger(dir.path, clock, [
      "--clock-sync",
      `file:${join(dir.path, "never")}`,
      "--forward",
      upstream.url,
      "--clock-hold-max",
      "2s",
    ]);
    const feeder = new Feeder(p);
    feeder.start();
    const released = await p.waitForRecord((r) => String(r.message).startsWith("forwarders held the provisional"));
    assert.equal(released.hold_max_ms, 2000);
    await waitFor(() => upstream.lines.some((l) => l.line.includes("sensor=probe")), 10_000, () => "nothing sent");
    const first = upstream.lines.find((l) => l.line.includes("sensor=probe"))!;
    const sentAfterMs = first.at - feeder.sent.values().next().value!;
    assert.ok(sentAfterMs >= 1500, `the first provisional reading went upstream ${sentAfterMs} ms after it was taken`);
    await stopped(p, feeder);
    const stats = JSON.parse((await runOnce(["stats", "--json", "--db", join(dir.path, "e.db")])).stdout);
    assert.ok(stats.clock.provisional_readings > 0);
    assert.equal(stats.clock.state, "unknown", "the run ended untrusted");
  },
});
