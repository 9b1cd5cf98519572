import assert from "node:assert/strict";
import { join } from "node:path";
import { countReadings, integrityCheck, tempDir, walSize } from "../_helpers/database.ts";
import { requirement } from "../_helpers/requirements.ts";
import { childPid, listensForStop, type LoggerProcess, runOnce, spawnLogger, waitFor } from "../_helpers/process.ts";

/** Starts a logger, waits until it has committed at least `minStored` rows, sends `signal`. */
async function logThenSignal(p: LoggerProcess, dbPath: string, signal: Deno.Signal, minStored = 1000) {
  await p.waitUntilLogging();
  await waitFor(() => countReadings(dbPath) >= minStored, 20_000, () => p.stderrLines.join("\n"));
  p.kill(signal);
  return await p.exited();
}

/** Asserts the contract of a graceful stop on what is on disk. */
async function assertGracefulStop(p: LoggerProcess, status: Deno.CommandStatus, dbPath: string) {
  assert.equal(status.code, 0, p.stderrLines.join("\n"));
  const final = p.finalRecord();
  assert.ok(final, "final log record present");
  assert.equal(final.stored, final.taken, "every reading taken was stored");
  assert.equal(countReadings(dbPath), final.stored, "rows on disk equal the logger's count");
  assert.equal(integrityCheck(dbPath), "ok");
  assert.equal(walSize(dbPath), 0, "the WAL was checkpointed and truncated");
  // The .db file alone, copied without its -wal/-shm, holds every row.
  await using copy = await tempDir();
  const alone = join(copy.path, "copy.db");
  await Deno.copyFile(dbPath, alone);
  assert.equal(countReadings(alone), final.stored);
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`${signal} under load commits every reading taken and checkpoints the WAL`, async () => {
    await using dir = await tempDir();
    const db = join(dir.path, "data", "edgelog.db");
    const p = spawnLogger(["--db", db, "--sim-rate", "50000"]);
    const status = await logThenSignal(p, db, signal, 20_000);
    await assertGracefulStop(p, status, db);
  });
}

Deno.test("the default database path is ./data/edgelog.db with owner-only permissions", async () => {
  await using dir = await tempDir();
  const p = spawnLogger(["--sim-rate", "1000"], { cwd: dir.path });
  const db = join(dir.path, "data", "edgelog.db");
  const status = await logThenSignal(p, db, "SIGTERM", 100);
  await assertGracefulStop(p, status, db);
  assert.equal(Deno.statSync(db).mode! & 0o777, 0o600);
  assert.equal(Deno.statSync(join(dir.path, "data")).mode! & 0o777, 0o700);
});

const pidNamespace = requirement("the PID 1 stop test", { root: true, commands: { unshare: "util-linux" } });

Deno.test("SIGTERM as PID 1 of a fresh PID namespace stops cleanly", { ignore: pidNamespace.ignore }, async () => {
  pidNamespace.check();
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const p = spawnLogger(["--db", db, "--sim-rate", "20000"], {
    prefix: ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child=SIGKILL"],
  });
  const start = await p.waitUntilLogging();
  assert.equal(start.pid, 1, "edgelog is PID 1 inside the namespace");
  await waitFor(() => countReadings(db) >= 5000);
  // Signal the namespace's PID 1 (unshare forks it as its only child).
  const pid1 = await childPid(p.pid);
  Deno.kill(pid1, "SIGTERM");
  const status = await p.exited();
  await assertGracefulStop(p, status, db);
});

Deno.test("SIGTERM during start-up, before the database is open, exits 0 and loses nothing", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const p = spawnLogger(["--db", db, "--sim-rate", "1000"]);
  // As soon as the program has its handler installed (SigCgt in /proc), ask it to stop.
  await waitFor(() => listensForStop(p.pid));
  p.kill("SIGTERM");
  const status = await p.exited();
  assert.equal(status.code, 0, p.stderrLines.join("\n"));
  const final = p.finalRecord();
  assert.ok(final);
  assert.equal(final.stored, final.taken);
  let rows = 0;
  try {
    rows = countReadings(db);
  } catch { /* the database was never created: nothing was taken */ }
  assert.equal(rows, final.stored);
});

/** A TCP server that accepts connections and never answers: an upstream that hangs. */
function hangingUpstream(): { port: number; accepted: () => number } & AsyncDisposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  (async () => {
    for await (const conn of listener) held.push(conn);
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    accepted: () => held.length,
    [Symbol.asyncDispose]: async () => {
      listener.close();
      for (const c of held) c.close();
      await Promise.resolve();
    },
  };
}

/**
 * Runs `fn` on a logger at `rate` readings/s forwarding to an upstream that hangs, once it has
 * committed `minRows` readings and the upstream has taken a connection.
 */
async function withHungUpstream<T>(
  rate: number,
  shutdownTimeoutS: number,
  minRows: number,
  fn: (p: LoggerProcess, db: string) => Promise<T>,
): Promise<T> {
  await using dir = await tempDir();
  await using upstream = hangingUpstream();
  const db = join(dir.path, "edgelog.db");
  const p = spawnLogger([
    "--db",
    db,
    "--sim-rate",
    String(rate),
    "--shutdown-timeout",
    String(shutdownTimeoutS),
    "--forward",
    `http://127.0.0.1:${upstream.port}/write?name=hung&timeout=120`,
  ]);
  await p.waitUntilLogging();
  await waitFor(() => countReadings(db) >= minRows && upstream.accepted() > 0, 20_000, () => p.stderrLines.join("\n"));
  return await fn(p, db);
}

Deno.test("a second SIGTERM after the stop began skips the forwarders' flush, still commits everything and closes", async () => {
  const shutdownTimeoutS = 30; // the forwarders' flush may take half of it: 15 s against a hung upstream
  await withHungUpstream(20_000, shutdownTimeoutS, 5_000, async (p, db) => {
    p.kill("SIGTERM");
    // The second signal comes once the first was observed, as an impatient operator's would.
    await p.waitForRecord((r) => r.message.startsWith("stopping ("));
    const t0 = performance.now();
    p.kill("SIGTERM");
    const status = await p.exited();
    const hurriedMs = performance.now() - t0;
    await assertGracefulStop(p, status, db);
    assert.ok(
      p.records.some((r) => r.level === "WARN" && /again: hurrying the shutdown/.test(r.message)),
      `the second signal was seen as such; stderr:\n${p.stderrLines.join("\n")}`,
    );
    const forwarder = p.records.find((r) => r.name === "hung" && typeof r.rows === "number");
    assert.ok(forwarder, "the forwarder reported where it stopped");
    assert.ok(Number(forwarder.rows) > 0, "what the hung upstream did not acknowledge stays in the outbox");
    // Unhurried, the flush would wait for the hung upstream for 15 s; hurried it is skipped.
    const flushBudgetMs = (shutdownTimeoutS * 1000) / 2;
    assert.ok(
      hurriedMs < flushBudgetMs / 3,
      `exited ${
        Math.round(hurriedMs)
      } ms after the second signal: the flush was not skipped (budget ${flushBudgetMs} ms)`,
    );
  });
});

/**
 * One graceful stop with a forwarder whose upstream hangs: the forwarder's flush (`flush_ms` of its
 * "stopped at id" record) and the exit.
 */
function stopWithHungUpstream(shutdownTimeoutS: number): Promise<{ flushMs: number; exitMs: number }> {
  return withHungUpstream(2_000, shutdownTimeoutS, 1_000, async (p, db) => {
    const t0 = performance.now();
    p.kill("SIGTERM");
    const status = await p.exited();
    const exitMs = performance.now() - t0;
    await assertGracefulStop(p, status, db);
    const forwarder = p.records.find((r) => r.name === "hung" && typeof r.flush_ms === "number");
    assert.ok(forwarder, `the forwarder reported its flush; stderr:\n${p.stderrLines.join("\n")}`);
    assert.ok(Number(forwarder.rows) > 0, "what the hung upstream did not acknowledge stays in the outbox");
    return { flushMs: Number(forwarder.flush_ms), exitMs };
  });
}

Deno.test("against a hung upstream the forwarders' flush gets half of what is left of the deadline, never its last 1.5 s", async () => {
  // 6 s: half of what is left (about 3 s) is less than all but 1.5 s (about 4.5 s).
  const half = await stopWithHungUpstream(6);
  assert.ok(
    half.flushMs >= 2_500 && half.flushMs <= 3_600,
    `flush ${half.flushMs} ms of a 6 s deadline: about half (3 s), not all but the last 1.5 s (4.5 s)`,
  );
  assert.ok(half.exitMs < 6_000, `exit ${Math.round(half.exitMs)} ms after SIGTERM, within the deadline`);
  // 1.6 s: all but 1.5 s (about 0.1 s) is less than half (about 0.8 s).
  const reserve = await stopWithHungUpstream(1.6);
  assert.ok(
    reserve.flushMs <= 500,
    `flush ${reserve.flushMs} ms of a 1.6 s deadline: the last 1.5 s are kept for the checkpoint (half would be 0.8 s)`,
  );
  console.log(
    `forwarders' flush against a hung upstream: ${half.flushMs} ms of a 6 s deadline, ${reserve.flushMs} ms of 1.6 s; ` +
      `exits after ${Math.round(half.exitMs)} and ${Math.round(reserve.exitMs)} ms`,
  );
});

Deno.test("SIGKILL leaves an intact database and the next run appends to it", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const first = spawnLogger(["--db", db, "--sim-rate", "50000"]);
  await first.waitUntilLogging();
  await waitFor(() => countReadings(db) >= 10_000);
  first.kill("SIGKILL");
  const killed = await first.exited();
  assert.equal(killed.signal, "SIGKILL");
  assert.equal(integrityCheck(db), "ok");
  const survived = countReadings(db);
  assert.ok(survived >= 10_000);

  const second = spawnLogger(["--db", db, "--sim-rate", "5000"]);
  const status = await logThenSignal(second, db, "SIGTERM", survived + 1000);
  assert.equal(status.code, 0, second.stderrLines.join("\n"));
  const final = second.finalRecord()!;
  assert.equal(final.stored, final.taken);
  assert.equal(countReadings(db), survived + final.stored, "old rows kept, new rows appended");
  assert.equal(integrityCheck(db), "ok");
  assert.equal(walSize(db), 0);
});

Deno.test("a second writer on the same database exits 3 naming the first, which keeps logging", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const first = spawnLogger(["--db", db, "--sim-rate", "2000"]);
  await first.waitUntilLogging();
  const second = await runOnce(["--db", db]);
  assert.equal(second.code, 3);
  assert.match(second.stderr, new RegExp(`another edgelog \\(pid ${first.pid}\\)`));
  const before = countReadings(db);
  await waitFor(() => countReadings(db) > before + 500);
  first.kill("SIGTERM");
  const status = await first.exited();
  await assertGracefulStop(first, status, db);
});

Deno.test("readers on their own connections work while the logger writes", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const p = spawnLogger(["--db", db, "--sim-rate", "50000"]);
  await p.waitUntilLogging();
  let last = 0;
  for (let i = 0; i < 50; i++) {
    const n = countReadings(db);
    assert.ok(n >= last, "row count never goes backwards");
    last = n;
    await new Promise((r) => setTimeout(r, 10));
  }
  p.kill("SIGTERM");
  await assertGracefulStop(p, await p.exited(), db);
});

Deno.test("a bad flag exits 2 with a message naming it, and creates nothing", async () => {
  await using dir = await tempDir();
  const r = await runOnce(["--commit-interval", "soon", "--sim-rate=-5"], { cwd: dir.path });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--commit-interval/);
  assert.match(r.stderr, /--sim-rate/);
  const unknown = await runOnce(["--no-such-flag"], { cwd: dir.path });
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no-such-flag/);
  assert.deepEqual([...Deno.readDirSync(dir.path)], []);
});

Deno.test("--version and --help exit 0", async () => {
  const v = await runOnce(["--version"]);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^edgelog \d+\.\d+\.\d+/);
  const h = await runOnce(["--help"]);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /--commit-interval/);
  assert.match(h.stdout, /EDGELOG_DB/);
});
