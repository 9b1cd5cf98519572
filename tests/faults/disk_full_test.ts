/**
 * Scenario 5: the disk fills up under the logger. The database lives on a small tmpfs mounted in
 * a private mount namespace (the host never sees it); the test reaches into that namespace
 * through /proc/PID/root to fill it and to free it again.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { countReadings, integrityCheck, tempDir, walSize } from "../_helpers/database.ts";
import { childPid, LoggerProcess, MAIN, residentKib, startFlags, waitFor } from "../_helpers/process.ts";
import { exitedWithin, killQuietly, printFigures, requireFinal, stderrTail } from "./_faults.ts";
import { requirement } from "../_helpers/requirements.ts";

const namespaces = requirement("the disk-full scenario", {
  root: true,
  commands: { unshare: "util-linux", sqlite3: "sqlite3", timeout: "coreutils" },
});

const TMPFS_SIZE = "12m";
const RATE = 20_000;
const BUFFER_SIZE = 40_000;
/**
 * Bound on the logger's resident memory while the disk is full: twice the 66 MiB measured in this
 * scenario (docs/RELIABILITY.md). The bench owns the precise figures; this catches a buffer that
 * is not bounded (at 20,000 readings/s an unbounded queue grows by megabytes per second).
 */
const MAX_RSS_KIB = 128 * 1024;
/** How much the resident memory may grow while the full buffer keeps dropping readings (GC noise). */
const MAX_GROWTH_WHILE_FULL_KIB = 16 * 1024;
/** How long the test keeps the disk full after the first dropped reading. */
const FULL_FOR_MS = 3_000;

/**
 * Runs the logger with its database directory on a fresh tmpfs in a private mount namespace.
 * A shell stays as the logger's parent and, once the logger exits, copies the tmpfs content to
 * `<mnt>.out` (the namespace and its tmpfs vanish with the shell).
 */
function spawnOnTmpfs(mnt: string, args: string[]): LoggerProcess {
  const script = `mount -t tmpfs -o size=${TMPFS_SIZE},mode=0700 tmpfs "$0" || exit 97
"$@"
rc=$?
mkdir -p "$0.out" && cp -a "$0/." "$0.out/"
exit $rc`;
  const child = new Deno.Command("unshare", {
    args: [
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      script,
      mnt,
      Deno.execPath(),
      "run",
      ...startFlags(),
      MAIN,
      ...args,
    ],
    env: { EDGELOG_LOG_FORMAT: "json", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return new LoggerProcess(child);
}

/** Writes zeros to `path` until the file system is full; returns the bytes written. */
function fillUp(path: string): number {
  const file = Deno.openSync(path, { write: true, create: true });
  const chunk = new Uint8Array(64 * 1024);
  let written = 0;
  try {
    for (;;) {
      try {
        written += file.writeSync(chunk);
      } catch {
        return written; // ENOSPC
      }
    }
  } finally {
    file.close();
  }
}

/** The counters of the newest stats record (zeros before the first). */
function lastStats(p: LoggerProcess): { stored: number; dropped: number; pending: number } {
  const r = p.records.findLast((r) => r.message?.startsWith("stats"));
  return { stored: Number(r?.stored ?? 0), dropped: Number(r?.dropped ?? 0), pending: Number(r?.pending ?? 0) };
}

Deno.test("a full disk is survived: the logger keeps running, counts drops, resumes by itself and stops cleanly", {
  ignore: namespaces.ignore,
}, async () => {
  namespaces.check();
  await using dir = await tempDir("edgelog-fault-full-");
  const mnt = join(dir.path, "mnt");
  Deno.mkdirSync(mnt);
  const p = spawnOnTmpfs(mnt, [
    "--db",
    join(mnt, "edgelog.db"),
    "--sim-rate",
    String(RATE),
    "--buffer-size",
    String(BUFFER_SIZE),
    "--stats-interval",
    "0.2",
  ]);
  let rssMax = 0;
  let pendingMax = 0;
  try {
    await p.waitUntilLogging();
    const logger = await childPid(p.pid);
    // The namespace's view of the database directory, from outside.
    const inside = `/proc/${logger}/root${mnt}`;
    // SQLite resolves the /proc/PID/root link, so progress is read from the logger's stats.
    await waitFor(() => lastStats(p).stored > 0, 20_000, () => stderrTail(p));

    const filled = fillUp(join(inside, "filler"));
    assert.ok(filled > 0, "the filler took the free space");
    const failed = await p.waitForRecord((r) => r.level === "ERROR" && /commit failed/.test(r.message), 30_000);
    assert.match(failed.message, /full|disk|space/i, "the error says the disk is full");

    // Stay full until the bounded buffer overflowed and readings were dropped (and counted), then
    // keep dropping for a while: memory must not grow with the readings it cannot store.
    const watch = setInterval(() => {
      rssMax = Math.max(rssMax, residentKib(logger) ?? 0);
    }, 50);
    let rssWhenFull = 0;
    let droppedWhenFull = 0;
    try {
      await waitFor(() => lastStats(p).dropped > 0, 30_000);
      rssWhenFull = residentKib(logger) ?? 0;
      droppedWhenFull = lastStats(p).dropped;
      const fullUntil = performance.now() + FULL_FOR_MS;
      await waitFor(() => performance.now() >= fullUntil && lastStats(p).dropped > droppedWhenFull + RATE, 30_000);
    } finally {
      clearInterval(watch);
    }
    const rssAfter = residentKib(logger) ?? 0;
    for (const r of p.records) if (r.message?.startsWith("stats")) pendingMax = Math.max(pendingMax, Number(r.pending));
    assert.ok(rssMax > 0 && rssMax < MAX_RSS_KIB, `memory stays bounded while full: ${rssMax} KiB`);
    assert.ok(
      rssAfter - rssWhenFull <= MAX_GROWTH_WHILE_FULL_KIB,
      `memory did not grow while dropping ${lastStats(p).dropped - droppedWhenFull} more readings: ` +
        `${rssWhenFull} KiB -> ${rssAfter} KiB`,
    );
    assert.ok(pendingMax <= BUFFER_SIZE, `pending never exceeds the buffer (${pendingMax})`);

    // Free the space: writing resumes without any help.
    Deno.removeSync(join(inside, "filler"));
    await p.waitForRecord((r) => /writing resumed/.test(r.message), 30_000);
    const storedAtResume = lastStats(p).stored;
    await waitFor(() => lastStats(p).stored > storedAtResume, 20_000);

    Deno.kill(logger, "SIGTERM");
    const status = await exitedWithin(p, 20_000);
    assert.equal(status.code, 0, stderrTail(p));
  } finally {
    await killQuietly(p);
  }
  const final = requireFinal(p);
  const db = join(`${mnt}.out`, "edgelog.db");
  assert.ok(final.commit_errors > 0, "the failed commits were counted");
  assert.ok(final.dropped > 0, "what could not be stored was counted as dropped");
  assert.equal(final.stored, final.taken, "every reading taken was stored in the end");
  assert.equal(countReadings(db), final.stored, "the database holds every reading reported stored");
  assert.equal(integrityCheck(db), "ok");
  assert.equal(walSize(db), 0);
  printFigures([{
    scenario: `5. disk full (tmpfs ${TMPFS_SIZE}, sim-rate ${RATE}/s, buffer ${BUFFER_SIZE})`,
    trials: 1,
    lost: `0 (${final.dropped} dropped and counted while full)`,
    exits: "0×1",
    stopMs: `${final.shutdown_ms} (shutdown_ms)`,
    notes: `${final.commit_errors} failed commits retried; max RSS ${Math.round(rssMax / 1024)} MiB; ` +
      `max pending ${pendingMax}; resumed by itself`,
  }]);
});

Deno.test(
  "a stop while the disk is still full ends by the deadline, reports what it could not store, and the database stays intact",
  {
    ignore: namespaces.ignore,
  },
  async () => {
    namespaces.check();
    await using dir = await tempDir("edgelog-fault-full-stop-");
    const mnt = join(dir.path, "mnt");
    Deno.mkdirSync(mnt);
    const shutdownTimeoutMs = 2_000;
    const p = spawnOnTmpfs(mnt, [
      "--db",
      join(mnt, "edgelog.db"),
      "--sim-rate",
      String(RATE),
      "--stats-interval",
      "0.2",
      "--shutdown-timeout",
      `${shutdownTimeoutMs}ms`,
    ]);
    try {
      await p.waitUntilLogging();
      const logger = await childPid(p.pid);
      await waitFor(() => lastStats(p).stored > 0, 20_000, () => stderrTail(p));
      fillUp(`/proc/${logger}/root${mnt}/filler`);
      await p.waitForRecord((r) => r.level === "ERROR" && /commit failed/.test(r.message), 30_000);
      Deno.kill(logger, "SIGTERM");
      const status = await exitedWithin(p, 20_000);
      assert.equal(status.code, 1, `exit 1: readings were left unstored; stderr:\n${stderrTail(p)}`);
    } finally {
      await killQuietly(p);
    }
    const final = requireFinal(p);
    assert.ok(final.unstored > 0, "what could not be stored is reported");
    assert.equal(final.taken, final.stored + final.unstored, "every reading taken is either stored or reported");
    // It retried until its deadline, then ended itself (not the watchdog that ends an overrun stop).
    assert.ok(final.shutdown_ms >= shutdownTimeoutMs - 200, `retried until the deadline (${final.shutdown_ms} ms)`);
    assert.ok(!p.records.some((r) => /overran/.test(r.message)), "the stop ended by its deadline, not the watchdog");
    assert.ok(p.records.some((r) => /could not be committed/.test(r.message)), "a clear error line");
    const db = join(`${mnt}.out`, "edgelog.db");
    assert.equal(integrityCheck(db), "ok");
    assert.equal(countReadings(db), final.stored, "the database holds every reading reported stored");
    printFigures([{
      scenario: "5b. stop while the disk is still full (shutdown-timeout 2 s)",
      trials: 1,
      lost: `${final.unstored} (reported as unstored)`,
      exits: "1×1",
      stopMs: `${final.shutdown_ms} (shutdown_ms)`,
      notes: "exit 1 with 'N readings could not be committed'; database intact, rows = stored",
    }]);
  },
);

Deno.test(
  "starting on a full disk fails with a message pointing at the disk, and the next start after freeing space works",
  {
    ignore: namespaces.ignore,
  },
  async () => {
    namespaces.check();
    await using dir = await tempDir("edgelog-fault-full-start-");
    const mnt = join(dir.path, "mnt");
    Deno.mkdirSync(mnt);
    // One shell, one tmpfs: fill it, start the logger (it must fail), free it, start again.
    // Every wait has a deadline: a start that hangs is killed by timeout(1) and the test fails.
    const script = `mount -t tmpfs -o size=1m,mode=0700 tmpfs "$0" || exit 97
head -c 4m /dev/zero > "$0/filler" 2>/dev/null
timeout -s KILL 30 "$@" --sim-rate 100; echo "first exit $?" >&2
rm "$0/filler"
timeout -s KILL 60 "$@" --sim-rate 100 & pid=$! # timeout(1) passes the SIGTERM below on
i=0
until [ "$(sqlite3 -readonly "$0/edgelog.db" 'SELECT count(*) FROM readings' 2>/dev/null || echo 0)" -gt 0 ]; do
  i=$((i+1)); if [ $i -gt 600 ]; then echo "no reading committed within 30 s" >&2; break; fi; sleep 0.05
done
kill -TERM $pid; wait $pid; echo "second exit $?" >&2
cp -a "$0/." "$0.out/"`;
    Deno.mkdirSync(`${mnt}.out`);
    const out = await new Deno.Command("unshare", {
      args: [
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        mnt,
        Deno.execPath(),
        "run",
        ...startFlags(),
        MAIN,
        "--db",
        join(mnt, "edgelog.db"),
      ],
      env: { EDGELOG_LOG_FORMAT: "json", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    const first = /first exit (\d+)/.exec(stderr);
    assert.ok(first && first[1] !== "0", `the first start fails; stderr:\n${stderr}`);
    assert.match(stderr, /disk full or failing/, `the message points at the disk; stderr:\n${stderr}`);
    assert.match(stderr, /second exit 0/, `the next start after freeing space works; stderr:\n${stderr}`);
    const db = join(`${mnt}.out`, "edgelog.db");
    assert.equal(integrityCheck(db), "ok");
    const second = stderr.split("\n").filter((l) => l.includes('"taken"')).map((l) => JSON.parse(l)).at(-1);
    assert.ok(second && second.stored > 0, `the second start committed readings; stderr:\n${stderr}`);
    assert.equal(second.stored, second.taken, "and stored every reading it took");
    assert.equal(countReadings(db), second.stored, "the database holds exactly what the second start stored");
    printFigures([{
      scenario: "5c. start-up on a full disk, then space freed",
      trials: 1,
      lost: "-",
      exits: `${first![1]} then 0`,
      stopMs: "-",
      notes: "the first start names the disk as the likely cause; the second start logs and stops cleanly",
    }]);
  },
);
