/**
 * Scenario 9: power cut. edgelog writes into a FUSE filesystem (`_faultfs.py`) that keeps written
 * data in memory until fsync/fdatasync and drops everything unsynced at the cut; the process is
 * SIGKILLed at the same moment. A separate watcher process records the newest reading it saw
 * committed. With `durability=full` (compaction steps running every 0.2 s) every reading the
 * watcher saw must survive exactly once, hot or compacted, with the database intact and the next
 * start recovering it; with `durability=normal` the same scenario loses
 * readings the watcher saw (the scenario discriminates: it is not passing by construction).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { countReadings, integrityCheck, withDb } from "../_helpers/database.ts";
import { spawnLogger, textLines, waitFor } from "../_helpers/process.ts";
import { FaultFs, faultFsRequirement } from "./_faultfs.ts";
import {
  assertExactlyOnce,
  assertGraceful,
  exitedWithin,
  FaultRandom,
  faultTrials,
  killQuietly,
  medianMax,
  printFigures,
  readingsSummary,
  stderrTail,
} from "./_faults.ts";

const RATE = 5_000; // readings per second: a commit group of ~1,250 readings every 250 ms
const WATCHER = fileURLToPath(new URL("./_commit_watcher.ts", import.meta.url));
const fuse = faultFsRequirement("the power-cut scenario");

/** The watcher process: the newest reading id it saw committed. */
class CommitWatcher {
  seen = 0;
  readonly errors: string[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #done: Promise<unknown>;

  constructor(db: string) {
    const child = this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", WATCHER, db],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#done = (async () => {
      for await (const line of textLines(child.stdout)) {
        if (line.startsWith("ERR")) this.errors.push(line);
        else this.seen = Math.max(this.seen, Number(line));
      }
    })();
  }

  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.#child.status;
    await this.#done;
  }
}

interface CutTrial {
  seen: number;
  rows: number;
  maxId: number;
  lost: number;
  integrity: string;
  /** Readings in chunks after the cut (a compaction step committed before it). */
  compacted: number;
}

/** One trial: log into a faultfs mount, cut power and SIGKILL at a random moment, inspect what survived. */
async function powerCut(
  durability: "full" | "normal",
  random: FaultRandom,
  existing: boolean,
  extra: string[] = [],
  afterAStep = false,
): Promise<CutTrial> {
  await using fs = await FaultFs.mount();
  const db = join(fs.mnt, "data", "edgelog.db");
  if (existing) {
    // A box that has been logging before: a run stopped gracefully left a durable database.
    const before = spawnLogger(["--db", db, "--durability", durability, "--sim-rate", String(RATE)]);
    try {
      await before.waitUntilLogging(30_000);
      await waitFor(() => countReadings(db) > 0, 30_000, () => stderrTail(before));
      before.kill("SIGTERM");
      await assertGraceful(before, await exitedWithin(before, 20_000), db);
    } finally {
      await killQuietly(before);
    }
  }
  const p = spawnLogger(["--db", db, "--durability", durability, "--sim-rate", String(RATE), ...extra]);
  let watcher: CommitWatcher | undefined;
  let seen = 0;
  try {
    await p.waitUntilLogging(30_000);
    watcher = new CommitWatcher(db);
    const w = watcher;
    await waitFor(() => w.seen > 0, 30_000, () => `the watcher saw no commit: ${w.errors[0]}\n${stderrTail(p)}`);
    if (afterAStep) {
      // A compaction step committed (unsynced), then a group commit the watcher saw synced the WAL
      // with it: that step survives any cut from now on, which falls in or between later steps.
      await waitFor(() => chunkCount(db) > 0, 30_000, () => `no compaction step committed\n${stderrTail(p)}`);
      const before = w.seen;
      await waitFor(() => w.seen > before, 30_000, () => `no commit after the step\n${stderrTail(p)}`);
    }
    await new Promise((r) => setTimeout(r, random.int(afterAStep ? 0 : 300, 2_000)));
    const cut = fs.cut(); // resolves once nothing unsynced survives
    p.kill("SIGKILL"); // at the same moment
    await cut;
    await exitedWithin(p, 20_000);
    await watcher.stop();
    seen = watcher.seen;
  } finally {
    await watcher?.stop();
    await killQuietly(p);
  }
  await fs.unmount();
  const onDisk = join(fs.backing, "data", "edgelog.db");
  const integrity = integrityCheck(onDisk);
  // durability=normal may lose even the schema of a database created in the run that lost power.
  const after = schemaSurvived(onDisk) ? readingsSummary(onDisk) : { rows: 0, maxId: 0 };
  const compacted = durability === "full" ? assertExactlyOnce(onDisk, "after the cut").compacted : 0;
  const trial = {
    seen,
    rows: after.rows,
    maxId: after.maxId,
    lost: Math.max(0, seen - after.rows),
    integrity,
    compacted,
  };
  if (durability === "full" || integrity === "ok") {
    // The next start recovers the WAL that survived and appends to it.
    const next = spawnLogger(["--db", onDisk, "--sim-rate", "1000"]);
    try {
      await next.waitUntilLogging();
      await waitFor(() => countReadings(onDisk) > after.rows, 20_000, () => stderrTail(next));
      next.kill("SIGTERM");
      await assertGraceful(next, await exitedWithin(next, 20_000), onDisk, after.rows);
    } finally {
      await killQuietly(next);
    }
  }
  return trial;
}

/** Chunks in `db` (0 while the schema is not there yet). */
function chunkCount(db: string): number {
  try {
    return withDb(db, (c) => Number((c.prepare("SELECT count(*) AS n FROM chunks").get() as { n: number }).n));
  } catch {
    return 0;
  }
}

/** True when the readings table exists in `db`. */
function schemaSurvived(db: string): boolean {
  return withDb(db, (c) => c.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'readings'").get() !== undefined);
}

Deno.test({
  name: "a power cut with durability=full keeps every reading a separate reader saw committed, intact",
  ignore: fuse.ignore,
  fn: async () => {
    fuse.check();
    const trials = faultTrials(3);
    const random = new FaultRandom();
    const seen: number[] = [];
    const compacted: number[] = [];
    for (let i = 0; i < trials; i++) {
      // Compaction steps of 1,024 readings, one every 0.2 s: the cut often falls in or between them.
      const t = await powerCut("full", random, i % 2 === 1, ["--compact-step", "1024"], true);
      assert.equal(t.integrity, "ok", `trial ${i}: never a corrupt database after a power cut`);
      assert.equal(t.rows, t.maxId, `trial ${i}: ids are contiguous: no committed row is missing in the middle`);
      assert.ok(
        t.rows >= t.seen,
        `trial ${i}: every reading the watcher saw committed survives the power cut: ${t.rows} on disk, ` +
          `${t.seen} seen committed, ${t.seen - t.rows} lost (seed ${random.seed})`,
      );
      seen.push(t.seen);
      compacted.push(t.compacted);
    }
    // Each cut came after a step and a synced group commit after it.
    assert.ok(compacted.every((n) => n > 0), `compaction ran before every cut: ${compacted.join(", ")} compacted`);
    const s = medianMax(seen);
    printFigures([{
      scenario: `9. power cut + SIGKILL, durability=full (FUSE, unsynced data dropped; sim-rate ${RATE}/s)`,
      trials,
      lost: 0,
      exits: `SIGKILL×${trials}; recovery runs 0×${trials}`,
      stopMs: "-",
      notes:
        `fresh and existing databases alternate, compaction steps of 1,024 readings; readings seen committed before the cut: ` +
        `median ${s.median}, max ${s.max}, compacted ${compacted.join(" / ")}; all survived exactly once, integrity ok`,
    }], random.seed);
  },
});

Deno.test({
  name: "the same power cut with durability=normal loses readings a reader saw committed (the scenario discriminates)",
  ignore: fuse.ignore,
  fn: async () => {
    fuse.check();
    const maxTrials = faultTrials(6);
    const random = new FaultRandom();
    const losses: number[] = [];
    for (let i = 0; i < maxTrials && !losses.some((n) => n > 0); i++) {
      const t = await powerCut("normal", random, true);
      assert.equal(t.integrity, "ok", `trial ${i}: durability=normal may lose commits, never the database`);
      losses.push(t.lost);
    }
    assert.ok(
      losses.some((n) => n > 0),
      `durability=normal lost nothing in ${losses.length} power cuts: the scenario does not discriminate ` +
        `(seed ${random.seed})`,
    );
    printFigures([{
      scenario: "9b. the same power cut, durability=normal",
      trials: losses.length,
      lost: losses.join(", "),
      exits: `SIGKILL×${losses.length}`,
      stopMs: "-",
      notes: "on a database a graceful run left; runs until a trial loses readings seen committed; integrity ok",
    }], random.seed);
  },
});
