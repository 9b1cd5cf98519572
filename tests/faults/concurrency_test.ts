/**
 * Scenario 7: readers hammer the database (a Deno reader on node:sqlite and the sqlite3 CLI, each
 * its own process) while the logger writes at the writer's limit. No SQLITE_BUSY reaches the
 * logger, no reader fails, nothing is lost, and a second writer is refused with exit 3.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { countReadings, tempDir, walSize } from "../_helpers/database.ts";
import { runOnce, spawnLogger, waitFor } from "../_helpers/process.ts";
import { requirement } from "../_helpers/requirements.ts";
import { assertGraceful, exitedWithin, killQuietly, printFigures, requireFinal, stderrTail } from "./_faults.ts";

const READER = fileURLToPath(new URL("./_reader.ts", import.meta.url));
/** Rows the logger commits under the readers before it is stopped. */
const TARGET_ROWS = 600_000;

interface ReaderResult {
  queries: number;
  errors: number;
  firstError?: string;
  backwards?: number;
}

/** The sqlite3 CLI in a shell loop, one process per query, counting failures. */
function sqliteCliReader(db: string, stopFile: string): Deno.ChildProcess {
  const script = `q=0; e=0; first=""
while [ ! -e "$1" ]; do
  if out=$(sqlite3 -cmd ".timeout 5000" "$0" "SELECT count(*) FROM readings; SELECT max(ts) FROM readings;" 2>&1); then
    q=$((q+2))
  else
    e=$((e+1)); [ -z "$first" ] && first=$(printf %s "$out" | head -c 200 | tr -d '"\\\\')
  fi
done
printf '{"queries":%d,"errors":%d,"firstError":"%s"}\\n' "$q" "$e" "$first"`;
  return new Deno.Command("bash", { args: ["-c", script, db, stopFile], stdout: "piped", stderr: "piped" }).spawn();
}

const sqliteCli = requirement("the concurrency scenario's sqlite3 CLI reader", { commands: { sqlite3: "sqlite3" } });

Deno.test({
  name: "readers hammering the database never disturb the logger, never fail, and a second writer is refused",
  ignore: sqliteCli.ignore,
}, async () => {
  sqliteCli.check();
  await using dir = await tempDir("edgelog-fault-readers-");
  const db = join(dir.path, "edgelog.db");
  const stopFile = join(dir.path, "stop-readers");
  const p = spawnLogger(["--db", db, "--sim-rate", "1000000"]);
  const readers: Deno.ChildProcess[] = [];
  let second: Awaited<ReturnType<typeof runOnce>> | undefined;
  try {
    await p.waitUntilLogging();
    await waitFor(() => countReadings(db) > 0, 20_000, () => stderrTail(p));
    for (let i = 0; i < 2; i++) {
      readers.push(
        new Deno.Command(Deno.execPath(), { args: ["run", "-A", READER, db, stopFile], stdout: "piped" }).spawn(),
      );
    }
    readers.push(sqliteCliReader(db, stopFile));

    await waitFor(() => countReadings(db) >= TARGET_ROWS / 2, 60_000, () => stderrTail(p));
    second = await runOnce(["--db", db, "--sim-rate", "10"]);
    assert.equal(second.code, 3, `a second writer exits 3; stderr:\n${second.stderr}`);
    assert.match(second.stderr, new RegExp(`already being written by another edgelog \\(pid ${p.pid}\\)`));
    await waitFor(() => countReadings(db) >= TARGET_ROWS, 60_000, () => stderrTail(p));

    // Stop the logger while the readers are still reading: its final checkpoint must still work.
    p.kill("SIGTERM");
    const status = await exitedWithin(p, 20_000);
    const final = await assertGraceful(p, status, db);
    assert.equal(final.commit_errors, 0, "no SQLITE_BUSY (or any other error) reached the writer");
  } finally {
    Deno.writeTextFileSync(stopFile, "");
    await killQuietly(p);
  }
  const results: ReaderResult[] = [];
  for (const reader of readers) {
    const out = await reader.output();
    results.push(JSON.parse(new TextDecoder().decode(out.stdout).trim()));
  }
  for (const r of results) {
    assert.equal(r.errors, 0, `a reader failed: ${r.firstError}`);
    assert.ok(r.queries > 0, "every reader ran queries");
    assert.ok(!r.backwards, "the row count never went backwards for a reader");
  }
  const final = p.finalRecord()!;
  printFigures([{
    scenario: `7. ${results.length} reader processes hammering while the logger writes at 1M/s offered`,
    trials: 1,
    lost: final.taken - final.stored,
    exits: `0 (logger), ${second?.code} (second writer)`,
    stopMs: `${final.shutdown_ms} (shutdown_ms)`,
    notes: `${final.stored} rows written; reader queries ${results.map((r) => r.queries).join(" / ")}, ` +
      `reader errors ${results.reduce((a, r) => a + r.errors, 0)}, writer commit_errors ${final.commit_errors}`,
  }]);
});

/** Opens a read transaction on Deno.args[0], prints its row count, holds it until Deno.args[1] exists. */
const LONG_READER = `import { DatabaseSync } from "node:sqlite";
const [path, release] = Deno.args;
const db = new DatabaseSync(path, { readOnly: true });
db.exec("BEGIN");
console.log(db.prepare("SELECT (SELECT count(*) FROM readings) + (SELECT coalesce(sum(count), 0) FROM chunks) AS n").get().n);
for (;;) {
  try { Deno.statSync(release); break; } catch { await new Promise((r) => setTimeout(r, 20)); }
}
db.exec("COMMIT");
db.close();`;

Deno.test("a reader holding a read transaction open cannot hold the stop past shutdown-timeout", async () => {
  await using dir = await tempDir("edgelog-fault-longreader-");
  const db = join(dir.path, "edgelog.db");
  const shutdownTimeoutMs = 2_000;
  const p = spawnLogger(["--db", db, "--sim-rate", "20000", "--shutdown-timeout", `${shutdownTimeoutMs}ms`]);
  const release = join(dir.path, "release-reader");
  let reader: Deno.ChildProcess | undefined;
  try {
    await p.waitUntilLogging();
    await waitFor(() => countReadings(db) > 0, 20_000, () => stderrTail(p));
    // A reader that opens a read transaction and keeps it until told to stop.
    reader = new Deno.Command(Deno.execPath(), { args: ["eval", LONG_READER, db, release], stdout: "piped" }).spawn();
    // Let the reader take its snapshot, then commit more on top so the WAL cannot be reset.
    const stdout = reader.stdout.getReader();
    const { value } = await stdout.read();
    stdout.releaseLock();
    const snapshot = Number(new TextDecoder().decode(value).trim());
    await waitFor(() => countReadings(db) > snapshot + 5000, 20_000);
    p.kill("SIGTERM");
    const status = await exitedWithin(p, 20_000);
    assert.equal(status.code, 0, stderrTail(p));
    const final = requireFinal(p);
    assert.equal(final.stored, final.taken, "every reading committed before the checkpoint");
    // Exit 0 means the watchdog (deadline + grace, exit 1) did not have to end it: the retries stopped in time.
    assert.ok(!p.records.some((r) => /overran/.test(r.message)), "the stop ended by its deadline, not the watchdog");
    const busy = p.records.find((r) => /^checkpoint TRUNCATE: busy/.test(r.message));
    assert.ok(busy, "the final checkpoint reported its result");
    assert.equal(busy.level, "WARN", "a busy final checkpoint is a warning");
    assert.equal(busy.busy, 1, `the reader's snapshot kept the checkpoint busy: ${JSON.stringify(busy)}`);
    assert.equal(final.wal_truncated, false, "the final record says the WAL was not truncated");
    assert.equal(final.level, "WARN");
    assert.match(final.message, /the WAL was NOT truncated .* copy it with the \.db file/);
    assert.ok(walSize(db) > 0, "as reported, the -wal file still holds committed readings");
    // The WAL keeps what it could not reset; every row is there for the next reader.
    Deno.writeTextFileSync(release, "");
    await reader.status;
    assert.equal(countReadings(db), final.stored);
    // As the record says, one more start folds the WAL in: then the .db alone holds everything.
    const next = spawnLogger(["--db", db, "--sim-rate", "1000"]);
    try {
      await next.waitUntilLogging();
      next.kill("SIGTERM");
      await assertGraceful(next, await exitedWithin(next, 20_000), db, final.stored);
    } finally {
      await killQuietly(next);
    }
  } finally {
    Deno.writeTextFileSync(release, "");
    await killQuietly(p);
    await reader?.status;
    await reader?.stdout.cancel().catch(() => {});
  }
});
