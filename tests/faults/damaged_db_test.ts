/**
 * Scenario 9: edgelog's own database is damaged — random pages overwritten, the file truncated,
 * a power cut on a card that lost writes it had acknowledged, damage found by a commit while
 * logging. With `--on-damage quarantine` (the default) the damaged file is moved aside
 * byte-identical, logging goes on in a fresh database, /healthz says degraded with the reason,
 * and `edgelog salvage` recovers every reading on the pages that are intact.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { countReadings, integrityCheck, sha256File, tempDir, withDb } from "../_helpers/database.ts";
import { listenerUrl } from "../_helpers/network.ts";
import { type LoggerProcess, runOnce, spawnLogger, waitFor } from "../_helpers/process.ts";
import { assertGraceful, exitedWithin, FaultRandom, printFigures, stderrTail } from "./_faults.ts";

/** The logger on `db`; these scenarios damage pages of the hot table, so its readings stay there. */
function spawnHot(db: string, ...args: string[]): LoggerProcess {
  return spawnLogger(["--db", db, "--compact-step", "10000000", ...args]);
}

/** A real database, written by the logger and stopped gracefully, with at least `bytes` in it. */
async function makeDb(db: string, bytes = 600 * 1024, extra: string[] = []): Promise<void> {
  const p = spawnHot(db, "--sim-rate", "20000", "--sim-sensors", "7", ...extra);
  await p.waitUntilLogging();
  await waitFor(() => Deno.statSync(db).size + fileSize(`${db}-wal`) > bytes, 30_000);
  p.kill("SIGTERM");
  await assertGraceful(p, await exitedWithin(p, 20_000), db);
}

/** Readings in `db`, 0 while it is being created. */
function safeCount(db: string): number {
  try {
    return countReadings(db);
  } catch {
    return 0;
  }
}

function fileSize(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}

/** Every reading of the file, keyed `sensor|unit|ts|value`, counted; with its page per id. */
function readingsWithPages(db: string): { rows: Map<number, string>; pageOf: Map<number, number>; pages: number[] } {
  return withDb(db, (conn) => {
    const rows = new Map<number, string>();
    for (
      const r of conn.prepare(
        "SELECT r.id, s.name, s.unit, r.ts, r.value FROM readings r JOIN sensors s ON s.id = r.sensor_id ORDER BY r.id",
      ).all() as { id: number; name: string; unit: string | null; ts: number; value: number }[]
    ) rows.set(r.id, `${r.name}|${r.unit}|${r.ts}|${r.value}`);
    // dbstat lists the leaves of the table in key order with their cell counts: SQLite's own
    // answer to "which page holds which reading".
    const leaves = conn.prepare(
      "SELECT pageno, ncell FROM dbstat WHERE name = 'readings' AND pagetype = 'leaf' ORDER BY path",
    ).all() as { pageno: number; ncell: number }[];
    const pageOf = new Map<number, number>();
    const ids = [...rows.keys()];
    let i = 0;
    for (const leaf of leaves) for (let k = 0; k < leaf.ncell; k++) pageOf.set(ids[i++], leaf.pageno);
    assert.equal(i, ids.length, "dbstat accounts for every reading");
    const pages = (conn.prepare("SELECT pageno FROM dbstat WHERE name = 'readings'").all() as { pageno: number }[])
      .map((r) => r.pageno);
    return { rows, pageOf, pages };
  });
}

/** The readings of `db` as counted keys `sensor|unit|ts|value`. */
function readingKeys(db: string): Map<string, number> {
  return withDb(db, (conn) => {
    const keys = new Map<string, number>();
    for (
      const r of conn.prepare(
        "SELECT s.name, s.unit, r.ts, r.value FROM readings r JOIN sensors s ON s.id = r.sensor_id",
      ).all() as { name: string; unit: string | null; ts: number; value: number }[]
    ) {
      const key = `${r.name}|${r.unit}|${r.ts}|${r.value}`;
      keys.set(key, (keys.get(key) ?? 0) + 1);
    }
    return keys;
  });
}

function countKeys(keys: Iterable<string>): Map<string, number> {
  const counted = new Map<string, number>();
  for (const k of keys) counted.set(k, (counted.get(k) ?? 0) + 1);
  return counted;
}

function pageSizeOf(db: string): number {
  return withDb(db, (conn) => Number((conn.prepare("PRAGMA page_size").get() as { page_size: number }).page_size));
}

/** Overwrites page `n` (1-based) of `path` with random bytes. */
function overwritePage(path: string, n: number, pageSize: number, random: FaultRandom): void {
  const bytes = new Uint8Array(pageSize);
  for (let i = 0; i < pageSize; i++) bytes[i] = random.int(0, 255);
  const file = Deno.openSync(path, { write: true });
  try {
    file.seekSync((n - 1) * pageSize, Deno.SeekMode.Start);
    file.writeSync(bytes);
  } finally {
    file.close();
  }
}

/** Whether SQLite's full `integrity_check` finds `path` damaged (or cannot read it at all). */
function sqliteCallsDamaged(path: string): boolean {
  try {
    return integrityCheck(path) !== "ok";
  } catch {
    return true;
  }
}

/** The `<db>.damaged-*` files beside `db` (not their -wal/-shm). */
function quarantinedFiles(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name)
    .filter((n) => n.startsWith("edgelog.db.damaged-") && !/-(wal|shm)$/.test(n))
    .map((n) => join(dir, n));
}

/**
 * Starts the logger on a damaged `db` with a listener and checks the promise: it logs into a
 * fresh database, /healthz says degraded (200) with the reason, the metric counts it, the
 * damaged file is moved aside byte-identical. Returns the quarantined path.
 */
async function expectQuarantinedAndLogging(db: string, dir: string, sha: string): Promise<string> {
  const p = spawnHot(db, "--sim-rate", "500", "--listen", "127.0.0.1:0", "--commit-interval", "100");
  try {
    const record = await p.waitForRecord((r) => r.message.startsWith("DAMAGED DATABASE"));
    await p.waitUntilLogging();
    const url = await listenerUrl(p);
    await waitFor(() => safeCount(db) > 100, 20_000, () => stderrTail(p));
    const health = await fetch(`${url}/healthz`);
    const body = await health.json();
    assert.equal(health.status, 200, "degraded still answers 200: the box is logging");
    assert.equal(body.status, "degraded");
    assert.match(body.reason, /damaged.*moved to .*edgelog salvage/);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /^edgelog_database_quarantined_total 1$/m);
    p.kill("SIGTERM");
    await assertGraceful(p, await exitedWithin(p, 20_000), db);
    const moved = quarantinedFiles(dir);
    assert.equal(moved.length, 1, "one file moved aside");
    assert.equal(record.to, moved[0]);
    assert.equal(await sha256File(moved[0]), sha, "the damaged file is byte-identical");
    const stats = await runOnce(["stats", "--json", "--db", db]);
    assert.deepEqual(JSON.parse(stats.stdout).quarantined, moved, "stats names the file moved aside");
    return moved[0];
  } finally {
    await stopQuietly(p);
  }
}

async function stopQuietly(p: LoggerProcess): Promise<void> {
  try {
    p.kill("SIGKILL");
  } catch { /* already gone */ }
  await p.exited();
}

/** Runs `edgelog salvage damaged --db target`; returns the readings it wrote, counted by key. */
async function salvage(damaged: string, target: string): Promise<{ keys: Map<string, number>; out: string }> {
  const r = await runOnce(["salvage", damaged, "--db", target]);
  assert.equal(r.code, 0, `salvage exits 0; stderr:\n${r.stderr}`);
  assert.equal(integrityCheck(target), "ok");
  return { keys: readingKeys(target), out: r.stdout };
}

Deno.test("random pages overwritten: the file is moved aside unchanged, logging goes on, salvage recovers every reading on intact pages", async () => {
  await using dir = await tempDir("edgelog-fault-damage-");
  const db = join(dir.path, "edgelog.db");
  await makeDb(db);
  const random = new FaultRandom();
  const { rows, pageOf, pages } = readingsWithPages(db);
  const pageSize = pageSizeOf(db);
  // Pages of the readings table, leaves and interior pages alike (page 1, the header, holds the
  // application_id: without it no file can be told from another application's, which is refused).
  const damaged = new Set<number>();
  while (damaged.size < 12) damaged.add(pages[random.int(0, pages.length - 1)]);
  for (const n of damaged) overwritePage(db, n, pageSize, random);
  const sha = await sha256File(db);

  const moved = await expectQuarantinedAndLogging(db, dir.path, sha);
  const expected = countKeys([...rows].filter(([id]) => !damaged.has(pageOf.get(id)!)).map(([, key]) => key));
  const { keys, out } = await salvage(moved, join(dir.path, "salvaged.db"));
  assert.deepEqual(
    keys,
    expected,
    `salvage recovers exactly the readings on intact pages (seed ${random.seed})\n${out}`,
  );
  assert.equal(await sha256File(moved), sha, "salvage did not modify the damaged file");
  const recovered = [...keys.values()].reduce((a, b) => a + b, 0);
  printFigures([{
    scenario: "10. random pages overwritten",
    trials: 1,
    lost: `${rows.size - recovered} of ${rows.size} (on ${damaged.size} damaged pages)`,
    exits: "0",
    stopMs: "-",
    notes: `moved aside unchanged, logging went on; salvage recovered ${recovered}`,
  }], random.seed);
});

Deno.test("a truncated database is moved aside unchanged, logging goes on, salvage recovers the readings on the pages left", async () => {
  await using dir = await tempDir("edgelog-fault-damage-");
  const db = join(dir.path, "edgelog.db");
  await makeDb(db);
  const { rows, pageOf } = readingsWithPages(db);
  const pageSize = pageSizeOf(db);
  const kept = Math.floor(Deno.statSync(db).size / pageSize / 2);
  Deno.truncateSync(db, kept * pageSize);
  const sha = await sha256File(db);
  const moved = await expectQuarantinedAndLogging(db, dir.path, sha);
  const expected = countKeys([...rows].filter(([id]) => pageOf.get(id)! <= kept).map(([, key]) => key));
  const { keys, out } = await salvage(moved, join(dir.path, "salvaged.db"));
  assert.deepEqual(keys, expected, `salvage recovers every reading on the pages left\n${out}`);
});

/**
 * The logger at 20,000 readings/s, stopped gracefully (the copy), started again on the same
 * file with a checkpoint every 200 ms until they have written 200 KiB more, and stopped again.
 * Returns the file as it was at the copy and at the end, the pages of the copy that the second
 * run's checkpoints rewrote, and what had been committed. The power cut these files stand for
 * came after the card acknowledged those writes and before it had kept all of them.
 *
 * Both files are consistent: the graceful stops checkpoint the whole WAL. (A SIGKILL could land
 * in a checkpoint, and the file without its WAL would then be damaged by the test, not by a card.)
 */
async function powerCutAfterCheckpoints(dir: string): Promise<{
  db: string;
  before: Uint8Array;
  after: Uint8Array;
  pageSize: number;
  changed: number[];
  committed: Map<string, number>;
}> {
  const db = join(dir, "edgelog.db");
  const run = async (grown: () => boolean) => {
    const rowsBefore = safeCount(db);
    const p = spawnHot(db, "--sim-rate", "20000", "--sim-sensors", "7", "--checkpoint-interval", "200ms");
    try {
      await p.waitUntilLogging();
      await waitFor(grown, 30_000);
      p.kill("SIGTERM");
      await assertGraceful(p, await exitedWithin(p, 20_000), db, rowsBefore);
    } finally {
      await stopQuietly(p);
    }
  };
  await run(() => fileSize(db) > 300 * 1024);
  const before = Deno.readFileSync(db);
  await run(() => fileSize(db) > before.length + 200 * 1024);
  assert.equal(fileSize(`${db}-wal`), 0, "the graceful stop left nothing in the WAL");
  const committed = readingKeys(db);
  const after = Deno.readFileSync(db);
  const pageSize = new DataView(after.buffer).getUint16(16);
  const changed: number[] = [];
  for (let at = pageSize; at < before.length; at += pageSize) {
    if (after.subarray(at, at + pageSize).some((b, i) => b !== before[at + i])) changed.push(at);
  }
  assert.ok(changed.length > 0, "checkpoints rewrote pages of the file after the copy");
  for (const f of [`${db}-wal`, `${db}-shm`]) {
    try {
      Deno.removeSync(f);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return { db, before, after, pageSize, changed, committed };
}

/**
 * Draws which of the `changed` pages the card lost (put back as they were `before`) until
 * `wanted(candidate file)` holds; at most 50 draws. Returns the file and the pages reverted.
 */
function drawLostWrites(
  cut: { before: Uint8Array; after: Uint8Array; pageSize: number; changed: number[] },
  random: FaultRandom,
  probe: string,
  wanted: (path: string) => boolean,
): { file: Uint8Array; reverted: number } | undefined {
  for (let attempt = 0; attempt < 50; attempt++) {
    const file = cut.after.slice();
    const lost = cut.changed.filter(() => random.next() < 0.5);
    if (lost.length === 0) lost.push(cut.changed[random.int(0, cut.changed.length - 1)]);
    for (const at of lost) file.set(cut.before.subarray(at, at + cut.pageSize), at);
    Deno.writeFileSync(probe, file);
    if (wanted(probe)) return { file, reverted: lost.length };
  }
  return undefined;
}

Deno.test("a power cut on a card that lost acknowledged writes: moved aside unchanged, salvage recovers only real readings", async () => {
  await using dir = await tempDir("edgelog-fault-damage-");
  const random = new FaultRandom();
  const cut = await powerCutAfterCheckpoints(dir.path);
  const { db, committed } = cut;
  // Which pages the card kept is chance, and some choices leave a file SQLite finds consistent
  // (the next test): draw until SQLite's own full integrity_check, on a copy, calls it damaged.
  const drawn = drawLostWrites(cut, random, join(dir.path, "probe.db"), sqliteCallsDamaged);
  assert.ok(
    drawn,
    `a reversion SQLite calls damaged among 50 draws of ${cut.changed.length} pages (seed ${random.seed})`,
  );
  Deno.writeFileSync(db, drawn.file);
  const sha = await sha256File(db);

  const moved = await expectQuarantinedAndLogging(db, dir.path, sha);
  const { keys, out } = await salvage(moved, join(dir.path, "salvaged.db"));
  const invented = [...keys].filter(([k, n]) => (committed.get(k) ?? 0) < n);
  assert.deepEqual(invented, [], `salvage recovers only readings that were logged (seed ${random.seed})`);
  const recovered = [...keys.values()].reduce((a, b) => a + b, 0);
  const total = [...committed.values()].reduce((a, b) => a + b, 0);
  assert.ok(recovered > total / 2, `most readings recovered: ${recovered} of ${total}\n${out}`);
  printFigures([{
    scenario: "10. power cut, card lost acknowledged writes",
    trials: 1,
    lost: `${total - recovered} of ${total} (${drawn.reverted} of ${cut.changed.length} changed pages reverted)`,
    exits: "0",
    stopMs: "-",
    notes: "moved aside unchanged, logging went on",
  }], random.seed);
});

Deno.test("a power cut whose lost writes leave a consistent file: nothing can tell, the logger goes on in it and invents nothing", async () => {
  await using dir = await tempDir("edgelog-fault-damage-");
  const cut = await powerCutAfterCheckpoints(dir.path);
  const { db, committed } = cut;
  // One page put back at a time: a leaf of the readings table at its state of the copy still
  // fits its parents, and SQLite pages carry no checksum, so integrity_check calls the file ok.
  // That needs the copy's last leaf to have had room for the second run's first rows; when it
  // was full (SQLite then starts a new leaf and leaves it alone), the card that lost every write
  // since the copy stands in: the copy itself, consistent as a graceful stop left it.
  const probe = join(dir.path, "probe.db");
  const cutKeys = readingKeys(db).size;
  const candidates = cut.changed.map((at) => {
    const file = cut.after.slice();
    file.set(cut.before.subarray(at, at + cut.pageSize), at);
    return { file, reverted: `page ${at / cut.pageSize + 1} reverted` };
  });
  candidates.push({
    file: cut.before.slice(),
    reverted: `all ${cut.changed.length} changed pages reverted, file cut back`,
  });
  let consistent: string | undefined;
  for (const { file, reverted } of candidates) {
    Deno.writeFileSync(probe, file);
    if (!sqliteCallsDamaged(probe) && readingKeys(probe).size < cutKeys) {
      Deno.writeFileSync(db, file);
      consistent = reverted;
      break;
    }
  }
  assert.ok(consistent !== undefined, `a reversion of the ${cut.changed.length} changed pages is consistent`);
  const left = readingKeys(db);
  const startCount = [...left.values()].reduce((a, b) => a + b, 0);
  const total = [...committed.values()].reduce((a, b) => a + b, 0);

  const p = spawnHot(db, "--sim-rate", "500", "--commit-interval", "100");
  try {
    await p.waitUntilLogging();
    await waitFor(() => safeCount(db) > startCount + 100, 20_000, () => stderrTail(p));
    p.kill("SIGTERM");
    await assertGraceful(p, await exitedWithin(p, 20_000), db, startCount);
  } finally {
    await stopQuietly(p);
  }
  assert.deepEqual(quarantinedFiles(dir.path), [], "a consistent file is not moved aside");
  assert.ok(!p.records.some((r) => r.message.startsWith("DAMAGED DATABASE")), "no damage reported");
  assert.equal(integrityCheck(db), "ok");
  // Every reading of the cut file is still there, none changed, and the new ones were added.
  const kept = readingKeys(db);
  const missing = [...left].filter(([k, n]) => (kept.get(k) ?? 0) < n);
  assert.deepEqual(missing, [], "the logger kept every reading of the file it was given");
  const invented = [...left].filter(([k, n]) => (committed.get(k) ?? 0) < n);
  assert.deepEqual(invented, [], "the reverted page holds only readings that were logged");
  printFigures([{
    scenario: "10. power cut, lost writes leave a consistent file",
    trials: 1,
    lost: `${total - startCount} of ${total} (${consistent}; not detectable)`,
    exits: "0",
    stopMs: "-",
    notes: "not moved aside, logging went on in the same file",
  }]);
});

/**
 * Damages the running logger's database under it: checkpoints the WAL into the file, overwrites
 * every page of the readings table but page 1, and commits a change of page 1 so that the
 * writer's page cache is dropped. Its next commit finds the file corrupt.
 */
function damageUnderTheWriter(db: string): void {
  const raw = new DatabaseSync(db, { timeout: 5000 });
  try {
    raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    const pageSize = Number((raw.prepare("PRAGMA page_size").get() as { page_size: number }).page_size);
    const pages = (raw.prepare("SELECT pageno FROM dbstat WHERE name = 'readings'").all() as { pageno: number }[])
      .map((r) => r.pageno);
    const random = new FaultRandom(1);
    for (const n of pages) overwritePage(db, n, pageSize, random);
    const id = Number((raw.prepare("PRAGMA application_id").get() as { application_id: number }).application_id);
    raw.exec(`PRAGMA application_id = ${id}`);
  } finally {
    raw.close();
  }
}

Deno.test("damage found by a commit while logging: the file is moved aside, logging goes on in a fresh one, nothing taken is lost", async () => {
  await using dir = await tempDir("edgelog-fault-damage-");
  const db = join(dir.path, "edgelog.db");
  const p = spawnHot(db, "--sim-rate", "2000", "--commit-interval", "100", "--listen", "127.0.0.1:0");
  try {
    await p.waitUntilLogging();
    const url = await listenerUrl(p);
    await waitFor(() => safeCount(db) > 2000, 20_000);
    damageUnderTheWriter(db);
    await p.waitForRecord((r) => r.message.startsWith("DAMAGED DATABASE"));
    await waitFor(() => safeCount(db) > 500, 20_000, () => stderrTail(p));
    const body = await (await fetch(`${url}/healthz`)).json();
    assert.equal(body.status, "degraded");
    // The read API reads the fresh database, not the damaged file moved aside.
    const sensors = (await (await fetch(`${url}/api/v1/sensors`)).json()).sensors as { name: string }[];
    const read = await fetch(`${url}/api/v1/readings?sensor=${encodeURIComponent(sensors[0].name)}&since=-1h`);
    assert.equal(read.status, 200, await read.text());
    p.kill("SIGTERM");
    const status = await exitedWithin(p, 20_000);
    assert.equal(status.code, 0, `exit 0; stderr:\n${stderrTail(p)}`);
    const final = p.finalRecord()!;
    assert.equal(final.dropped, 0, "nothing dropped while the file was moved aside");
    assert.equal(final.stored, final.taken, "every reading taken was committed, before or after the move");
    assert.equal(integrityCheck(db), "ok");
    assert.equal(quarantinedFiles(dir.path).length, 1);
  } finally {
    await stopQuietly(p);
  }
});

Deno.test("with --on-damage refuse, damage found while logging still stops the logger with exit 4", async () => {
  await using dir = await tempDir("edgelog-fault-damage-");
  const db = join(dir.path, "edgelog.db");
  const p = spawnHot(db, "--sim-rate", "2000", "--commit-interval", "100", "--on-damage", "refuse");
  try {
    await p.waitUntilLogging();
    await waitFor(() => safeCount(db) > 2000, 20_000);
    damageUnderTheWriter(db);
    const status = await exitedWithin(p, 20_000);
    assert.equal(status.code, 4, `exit 4; stderr:\n${stderrTail(p)}`);
    assert.equal(quarantinedFiles(dir.path).length, 0, "nothing moved aside");
  } finally {
    await stopQuietly(p);
  }
});
