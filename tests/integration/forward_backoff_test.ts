import assert from "node:assert/strict";
import { join } from "node:path";
import { cursorOf, logRows, tempDir } from "../_helpers/database.ts";
import { type LoggerProcess, residentKib, spawnLogger, waitFor } from "../_helpers/process.ts";

/** What the fake upstream answers to request number n (1-based), in order; then 204. */
const SCRIPT = ["500", "500", "500", "429", "400", "slow", "503"] as const;

/** Readings per second logged while the upstream fails. */
const RATE = 20_000;
/** How much the logger's resident memory may grow during the outage (allocator and GC noise). */
const MAX_GROWTH_KIB = 12 * 1024;

/** Lower bounds of the wait before request n+1 after answer n, ms (backoff 0.5 s .. 2 s, permanent 3 s). */
const MIN_GAP_MS: Record<(typeof SCRIPT)[number], (failures: number) => number> = {
  "500": (f) => Math.min(2000, 500 * 2 ** (f - 1)) / 2,
  "429": () => 2000, // Retry-After: 2
  "400": () => 0.9 * 3000, // permanent: backoff-permanent=3, jitter ±10 %
  "slow": (f) => Math.min(2000, 500 * 2 ** (f - 1)) / 2,
  "503": () => 1000, // Retry-After: 1
};

Deno.test("a failing upstream gets retries with backoff, Retry-After and a long pause after 400, never a tight loop", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const times: number[] = [];
  const received = new Set<string>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const n = times.push(performance.now());
    const body = await req.text();
    const step = SCRIPT[n - 1];
    if (step === "500") return new Response("boom", { status: 500 });
    if (step === "429") return new Response("slow down", { status: 429, headers: { "retry-after": "2" } });
    if (step === "503") return new Response("busy", { status: 503, headers: { "retry-after": "1" } });
    if (step === "400") return new Response("unable to parse", { status: 400 });
    if (step === "slow") {
      await new Promise((r) => setTimeout(r, 3000)); // longer than timeout=1
      return new Response(null, { status: 204 });
    }
    for (const line of body.split("\n")) {
      const m = /sensor=([^ ,]+).* value=\S+ (\d+)$/.exec(line);
      if (m) received.add(`${m[1]}|${m[2]}`);
    }
    return new Response(null, { status: 204 });
  });
  const url = `http://127.0.0.1:${server.addr.port}/write`;
  const forward = `${url}?backoff-min=0.5&backoff-max=2&backoff-permanent=3&timeout=1&batch=10000`;
  let p: LoggerProcess | undefined;
  try {
    p = spawnLogger(["--db", db, "--sim-rate", String(RATE), "--commit-interval", "100", "--forward", forward]);
    await p.waitUntilLogging();
    const rss: { at: number; kib: number }[] = [];
    await waitFor(
      () => {
        rss.push({ at: performance.now(), kib: residentKib(p!.pid) ?? NaN });
        return times.length > SCRIPT.length + 2 && (cursorOf(db, url) ?? 0) > 0;
      },
      60_000,
      () => `${times.length} requests; ${p!.stderrLines.slice(-10).join("\n")}`,
    );
    // Backoff: every retry after a failure came no sooner than the policy allows.
    for (let i = 0; i < SCRIPT.length; i++) {
      const failures = i + 1;
      const gap = times[i + 1] - times[i];
      const slowExtra = SCRIPT[i] === "slow" ? 1000 : 0; // the request itself waited for timeout=1
      const min = MIN_GAP_MS[SCRIPT[i]](failures) + slowExtra;
      assert.ok(gap >= min - 50, `request ${i + 2} came ${Math.round(gap)} ms after a ${SCRIPT[i]}, expected ≥ ${min}`);
    }
    // The 400 was logged loudly as an error that retrying will not fix.
    assert.ok(p.records.some((r) => r.level === "ERROR" && String(r.message).includes("retrying will not help")));
    // No memory growth while the upstream failed: the outbox is the database, not the heap. From
    // the second failed request to the first accepted one, RATE × that time readings pile up in
    // the outbox (about 200,000; half of them in the second half); kept in the heap they would
    // take tens of MiB.
    const outage = rss.filter((r) => r.at >= times[1] && r.at <= times[SCRIPT.length]);
    const backlog = Math.round((RATE * (times[SCRIPT.length] - times[1])) / 1000);
    // Growth from the first half of the outage (median, past the start-up plateau) to the peak of the second.
    const half = outage.length >> 1;
    const firstHalf = outage.slice(0, half).map((r) => r.kib).sort((a, b) => a - b);
    const growth = Math.max(...outage.slice(half).map((r) => r.kib)) - firstHalf[firstHalf.length >> 1];
    assert.ok(
      growth <= MAX_GROWTH_KIB,
      `RSS grew by ${growth} KiB while ${backlog} readings waited in the outbox (bound ${MAX_GROWTH_KIB} KiB)`,
    );
    console.log(`outage: ${backlog} readings in the outbox, RSS growth ${growth} KiB`);
    p.kill("SIGTERM");
    assert.equal((await p.exited()).code, 0);
    // Every reading up to the cursor was delivered by an acknowledged request.
    const cursor = cursorOf(db, url)!;
    // By id, not by (sensor, ts): at this rate two readings of a sensor can share a millisecond.
    const upToCursor = logRows(db).filter((r) => r.id <= cursor);
    const lost = upToCursor.filter((r) => !received.has(`${r.sensor}|${r.ts}`));
    assert.equal(upToCursor.length, cursor, "ids up to the cursor are all there");
    assert.deepEqual(lost.slice(0, 3), [], `every acknowledged reading reached the upstream (${lost.length} missing)`);
    assert.ok(times.length < 200, `${times.length} requests: no tight loop`);
  } finally {
    try {
      p?.kill("SIGKILL");
    } catch { /* exited */ }
    await p?.exited();
    await server.shutdown();
  }
});
