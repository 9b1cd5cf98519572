/**
 * The storage section of `deno task bench`: what a reading costs in flash writes and on disk,
 * with the layout it replaced measured beside it in the same run. Today's layout is the program
 * at commit {@link BASE_COMMIT} (the last one before compressed chunks), checked out in a
 * temporary git worktree; both programs run at the same time, each with its own database, and
 * each process's `write_bytes` (/proc/PID/io) is read over the same window.
 *
 * Run alone: `deno run --allow-all bench/storage.ts [--quick]`.
 *
 * @module
 */

import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { checkpointIntervalOf } from "../lib/config.ts";
import { writtenBytes } from "../lib/proc_io.ts";
import { ReadingBatch } from "../lib/reading.ts";
import { SimulatedSource } from "../lib/sources/simulated.ts";
import { DEFAULT_COMPACT_AFTER_MS, Reader, Store } from "../lib/store/mod.ts";
import { createSchema2Database, seedReadings } from "../tests/_helpers/database.ts";
import { ROOT, run } from "../tests/_helpers/process.ts";

/** The logger's default periodic checkpoint with `durability=full`, ms. */
const CHECKPOINT_MS = checkpointIntervalOf({ durability: "full" });

/** The last commit with the per-sensor index on every reading (schema 2). */
export const BASE_COMMIT = "0d5a4a7c7851bb8665c426ab52cacebc6b3c9624";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A checkout of edgelog to run: its root and the flags of its start task. */
interface Program {
  name: string;
  root: string;
}

function startFlags(root: string): string[] {
  const task = JSON.parse(Deno.readTextFileSync(join(root, "deno.json"))).tasks.start as string;
  return /^deno run (.*) main\.ts$/.exec(task)![1].split(/\s+/);
}

/** Write cost of one program over a window: bytes per second and per reading. */
interface WriteCost {
  bytesPerS: number;
  bytesPerReading: number;
  gbPerDay: number;
  /** Compaction steps committed in the window (the new layout; NaN for the old one). */
  steps: number;
}

/** Compaction steps in `db` so far (NaN without a chunks table), read-only. */
function stepCount(db: string): number {
  try {
    const d = new DatabaseSync(db, { readOnly: true, timeout: 1000 });
    try {
      return Number((d.prepare("SELECT count(DISTINCT step_end) AS n FROM chunks").get() as { n: number }).n);
    } finally {
      d.close();
    }
  } catch {
    return NaN;
  }
}

/** Runs `program` at `rate` readings/s over `sensors`, and reads its write_bytes over `seconds` after `warmS`. */
async function writeCost(
  program: Program,
  db: string,
  rate: number,
  sensors: number,
  warmS: number,
  seconds: number,
  extra: string[],
): Promise<WriteCost> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...startFlags(program.root),
      join(program.root, "main.ts"),
      ...["--db", db, "--sim-rate", String(rate), "--sim-sensors", String(sensors), "--stats-interval", "3600"],
      ...extra,
    ],
    env: { EDGELOG_LOG_FORMAT: "json" },
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await sleep(warmS * 1000);
    const w0 = writtenBytes(child.pid)!, t0 = performance.now(), s0 = stepCount(db);
    await sleep(seconds * 1000);
    const w1 = writtenBytes(child.pid)!, t1 = performance.now(), s1 = stepCount(db);
    const perS = (w1 - w0) / ((t1 - t0) / 1000);
    return { bytesPerS: perS, bytesPerReading: perS / rate, gbPerDay: (perS * 86_400) / 1e9, steps: s1 - s0 };
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

/**
 * The steady state that a window of a few minutes cannot reach: the new layout's storage code (the
 * writer, compaction and checkpoints on one connection, as in the program) driven in simulated time
 * by the simulated sensors at `rate` readings/s, a commit every 2 s, a housekeeping step every 1 s
 * (repeated while it has work, as the program's 5 ms pause does), a PASSIVE checkpoint at the
 * logger's default `--checkpoint-interval`, with `durability=full`. The figure is this process's
 * `write_bytes` over `seconds` of simulated time after `warmS`, per reading: real fsyncs and real
 * pages, only the clock is simulated, so the per-sensor chunk index reaches the size hours of
 * logging give it.
 */
export function steadyCost(
  bigDb: string,
  work: string,
  rate: number,
  sensors: number,
  warmS: number,
  seconds: number,
  compactAfterMs: number,
): { bytesPerReading: number; steps: number } {
  const path = join(work, `steady-${rate}-${sensors}.db`);
  Deno.copyFileSync(bigDb, path);
  const store = Store.open(path, { durability: "full" });
  try {
    const t0 = Date.now();
    let now = t0;
    // The logger's settings (lib/running.ts): the hot table moves as a whole.
    const retention = store.retention({
      downsampleBucketMs: 60_000,
      compactAfterMs,
      compactEarly: true,
      now: () => now,
    });
    const perCommit = Math.round(rate * 2);
    const buffer = new ReadingBatch(perCommit * 2);
    const source = new SimulatedSource({
      ratePerSecond: rate,
      sensors,
      tickMs: 3_600_000, // ticked by hand below, in simulated time
      now: () => now,
      sink: { buffer, took: (n) => void (buffer.length += n) },
    });
    source.start(() => 0);
    let w0 = 0, stored = 0, stored0 = 0, steps = 0;
    // The source makes up at most 1 s of readings per tick: tick it 4 times a second, as it would tick itself.
    let nextTick = t0 + 250, nextCommit = t0 + 2000, nextStep = t0 + 1000, nextCheckpoint = t0 + CHECKPOINT_MS;
    const warmEnd = t0 + warmS * 1000, end = warmEnd + seconds * 1000;
    let measuring = false;
    while (now < end) {
      now = Math.min(nextTick, nextCommit, nextStep, nextCheckpoint);
      if (!measuring && now >= warmEnd) {
        measuring = true;
        w0 = writtenBytes()!;
        stored0 = stored;
      }
      if (now === nextTick) {
        source.tick();
        nextTick += 250;
      } else if (now === nextCommit) {
        source.tick();
        store.appendBatch(buffer);
        stored += buffer.length;
        buffer.length = 0;
        nextCommit += 2000;
      } else if (now === nextStep) {
        for (let r = retention.step(); r !== "idle"; r = retention.step()) if (measuring && r === "compacted") steps++;
        nextStep += 1000;
      } else {
        store.checkpoint("PASSIVE");
        nextCheckpoint += CHECKPOINT_MS;
      }
    }
    source.stop();
    const readings = stored - stored0;
    if (Math.abs(readings / seconds - rate) > rate * 0.01) {
      throw new Error(`steady state: ${readings / seconds} readings/s stored, not ${rate}`);
    }
    return { bytesPerReading: (writtenBytes()! - w0) / readings, steps };
  } finally {
    store.close();
  }
}

/** Options of {@link storageBench}. */
export interface StorageBenchOptions {
  quick: boolean;
  print: (line?: string) => void;
  work: string;
}

/**
 * Measures and prints the storage targets table. Returns false when a target was missed (the
 * table says which).
 */
export async function storageBench(options: StorageBenchOptions): Promise<boolean> {
  const { quick, print, work } = options;
  const oldRoot = join(work, "edgelog-base");
  const add = await run("git", ["-C", ROOT, "worktree", "add", "--detach", oldRoot, BASE_COMMIT]);
  if (add.code !== 0) {
    print(`storage: cannot check out today's layout (${BASE_COMMIT.slice(0, 7)}): ${add.stderr.trim()}`);
    return false;
  }
  try {
    return await measure(quick, print, work, { name: "today's layout", root: oldRoot }, { name: "new", root: ROOT });
  } finally {
    await run("git", ["-C", ROOT, "worktree", "remove", "--force", oldRoot]);
  }
}

async function measure(
  quick: boolean,
  print: (line?: string) => void,
  work: string,
  old: Program,
  now: Program,
): Promise<boolean> {
  const bigRows = quick ? 200_000 : 4_000_000;
  const windowS = quick ? 10 : 30;
  const warmS = quick ? 6 : 15;
  // Big databases, 50 sensors: today's as it wrote them, the new one compacted (as it will be).
  const seed = { sensors: 50, startTs: Date.now() - (bigRows / 50) * 1000, stepMs: 1000 };
  const oldBig = join(work, "old-big.db"), newBig = join(work, "new-big.db");
  createSchema2Database(oldBig, bigRows, seed);
  seedReadings(newBig, bigRows, seed);
  const compactionRate = compactAll(newBig);
  const copy = (from: string, name: string) => {
    const to = join(work, name);
    Deno.copyFileSync(from, to);
    return to;
  };
  // New layout, default settings: the hot table moves into chunks whenever it holds a full step
  // (8,192 readings, 512 a sensor), so compaction runs within the windows at 100 and 1,000/s.
  const newArgs: string[] = [];
  /** Runs both programs at the same time on copies of their databases. */
  const side = async (rate: number, sensors: number, seconds: number, big: boolean, newExtra: string[] = []) => {
    const [o, n] = await Promise.all([
      writeCost(
        old,
        big ? copy(oldBig, "o.db") : join(work, `o-${rate}-${sensors}.db`),
        rate,
        sensors,
        warmS,
        seconds,
        [],
      ),
      writeCost(
        now,
        big ? copy(newBig, "n.db") : join(work, `n-${rate}-${sensors}.db`),
        rate,
        sensors,
        warmS,
        seconds,
        [...newArgs, ...newExtra],
      ),
    ]);
    return { o, n };
  };
  const r1000 = await side(1000, 50, windowS, true);
  const r100 = await side(100, 50, quick ? windowS : 90, true);
  // Compaction steps come every 8 s with 3 sensors and every 131 s with 500 (131,072 readings):
  // no real-time window of this bench holds several of the slower ones, so the steady state is
  // also measured in simulated time below.
  const r3 = await side(1000, 3, quick ? windowS : 130, true);
  const r500 = await side(1000, 500, quick ? windowS : 130, true);
  const steadyWarmS = quick ? 30 : 600, steadyS = quick ? 150 : 1800;
  const steady = (rate: number, sensors: number) =>
    steadyCost(newBig, work, rate, sensors, steadyWarmS, steadyS, DEFAULT_COMPACT_AFTER_MS);
  const s1000 = steady(1000, 50), s100 = steady(100, 50), s3 = steady(1000, 3), s500 = steady(1000, 500);
  // At 10/s the hot table moves once in 13.7 minutes: no window holds a step.
  const r10 = await side(10, 3, quick ? windowS : 60, false);
  const disk = diskBytes(work, quick ? 100_000 : 1_000_000);
  const query = await queryTimes(work, old, now, quick ? 1_000_000 : 10_000_000, quick ? 1 : 3);

  const rows: [string, string, string, string, boolean][] = [];
  const bpr = (c: WriteCost) => c.bytesPerReading.toFixed(0);
  rows.push([
    "1,000 readings/s, 50 sensors, big database: bytes written per reading",
    bpr(r1000.o),
    bpr(r1000.n),
    "≤ 150",
    r1000.n.bytesPerReading <= 150,
  ]);
  rows.push([
    "100 readings/s, 50 sensors, big database: bytes written per reading",
    bpr(r100.o),
    bpr(r100.n),
    "≤ 400",
    r100.n.bytesPerReading <= 400,
  ]);
  const ratio = (a: WriteCost, b: WriteCost) => a.bytesPerReading / b.bytesPerReading;
  rows.push([
    "1,000 readings/s: 500 active sensors / 3 sensors (bytes per reading)",
    `${ratio(r500.o, r3.o).toFixed(2)}x (${bpr(r500.o)} / ${bpr(r3.o)})`,
    `${ratio(r500.n, r3.n).toFixed(2)}x (${bpr(r500.n)} / ${bpr(r3.n)}; ${r500.n.steps} / ${r3.n.steps} steps)`,
    "≤ 1.2x",
    ratio(r500.n, r3.n) <= 1.2,
  ]);
  const sim = `${((steadyWarmS + steadyS) / 60).toFixed(0)} min simulated, last ${steadyS / 60}`;
  const steadyRow = (c: { bytesPerReading: number; steps: number }) =>
    `${c.bytesPerReading.toFixed(0)} (${c.steps} steps)`;
  rows.push([
    `steady state (${sim}): 1,000 readings/s, 50 sensors, big database`,
    "-",
    steadyRow(s1000),
    "≤ 150",
    s1000.bytesPerReading <= 150,
  ]);
  rows.push([
    `steady state (${sim}): 100 readings/s, 50 sensors, big database`,
    "-",
    steadyRow(s100),
    "≤ 400",
    s100.bytesPerReading <= 400,
  ]);
  rows.push([
    `steady state (${sim}): 1,000 readings/s, 500 / 3 sensors`,
    "-",
    `${(s500.bytesPerReading / s3.bytesPerReading).toFixed(2)}x (${steadyRow(s500)} / ${steadyRow(s3)})`,
    "≤ 1.2x",
    s500.bytesPerReading / s3.bytesPerReading <= 1.2,
  ]);
  rows.push([
    "10 readings/s, 3 sensors, new database, default settings: written per day",
    `${r10.o.gbPerDay.toFixed(2)} GB`,
    `${r10.n.gbPerDay.toFixed(2)} GB`,
    "≤ 0.5 GB",
    r10.n.gbPerDay <= 0.5,
  ]);
  rows.push([
    "on disk per reading, quantised sensor values (0.01 °C, 0.1 %RH, 0.1 hPa)",
    disk.oldQuantised.toFixed(1),
    disk.newQuantised.toFixed(1),
    "≤ 6",
    disk.newQuantised <= 6,
  ]);
  rows.push([
    "on disk per reading, full-precision noise (Math.random)",
    disk.oldNoise.toFixed(1),
    disk.newNoise.toFixed(1),
    "(reported)",
    true,
  ]);
  rows.push([
    `compaction, readings per CPU second (${(bigRows / 1e6).toFixed(1)}M readings, 50 sensors)`,
    "-",
    `${(compactionRate / 1000).toFixed(0)}k`,
    "≥ 200k",
    compactionRate >= 200_000,
  ]);
  rows.push([
    `query --sensor X --since -1d --every 1m on ${query.rows / 1e6}M readings, median ms`,
    query.oldMs.toFixed(0),
    query.newMs.toFixed(0),
    "new ≤ today",
    query.newMs <= query.oldMs,
  ]);
  print("## Storage: flash writes and bytes on disk (issue 13 targets)");
  print();
  print(
    `Process \`write_bytes\` over ${windowS} s after ${warmS} s of warm-up (90 s at 100/s, 60 s at 10/s in a full run); ` +
      `both layouts at the same time, each with its own copy of the database; big database = ${
        (bigRows / 1e6).toFixed(1)
      }M readings of 50 sensors (the new one compacted). Default settings for both: the new layout moves its hot ` +
      "table into chunks whenever it holds a full step (8,192 readings, 512 a sensor, at most 131,072), so its " +
      "compaction's own writes fall inside the windows at 1,000 readings/s (at 100/s a step of 50 sensors comes every " +
      "256 s, at 10/s one every 13.7 minutes). The new layout's compaction steps in each window are counted: a window without one measures commits " +
      "only. The steady-state rows drive the new layout's storage code (writer, compaction with the logger's policy, " +
      "checkpoints, `durability=full`, the simulated sensors) in simulated time on a copy of the big database with " +
      "default settings, and read this process's `write_bytes`: real " +
      "pages and fsyncs, simulated clock, so that the per-sensor chunk index grows as hours of logging make it.",
  );
  print();
  print("| target | today's layout | new layout | target | met |");
  print("| --- | ---: | ---: | ---: | :---: |");
  for (const [what, o, n, target, met] of rows) {
    print(`| ${what} | ${o} | ${n} | ${target} | ${met ? "yes" : "**no**"} |`);
  }
  print();
  print("Raw write costs (bytes/s, bytes/reading, GB/day):");
  print();
  for (
    const [name, r] of Object.entries({
      "1000/s×50": r1000,
      "100/s×50": r100,
      "1000/s×3": r3,
      "1000/s×500": r500,
      "10/s×3": r10,
    })
  ) {
    const f = (c: WriteCost) =>
      `${c.bytesPerS.toFixed(0)} B/s, ${c.bytesPerReading.toFixed(0)} B, ${c.gbPerDay.toFixed(2)} GB`;
    print(`- ${name}: today ${f(r.o)}; new ${f(r.n)}`);
  }
  print();
  return rows.every((r) => r[4]);
}

/** CPU seconds (user + system) this process has used, from /proc/self/stat. */
function cpuSeconds(): number {
  const fields = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** Compacts every reading of `path`; returns readings compacted per second of CPU time (load-independent). */
function compactAll(path: string): number {
  const store = Store.open(path, { durability: "normal" });
  try {
    const retention = store.retention({
      downsampleBucketMs: 60_000,
      compactAfterMs: 0,
      compactMinRows: 1,
      now: () => Number.MAX_SAFE_INTEGER / 4,
    });
    const t0 = cpuSeconds();
    while (retention.step() === "compacted");
    return retention.counters.compacted / Math.max(0.01, cpuSeconds() - t0);
  } finally {
    store.close();
  }
}

/** Pages in use per reading of `rows` readings of 50 sensors, quantised and noisy, both layouts. */
function diskBytes(work: string, rows: number) {
  const walk = (noise: boolean) => {
    const values = new Float64Array(rows);
    const state = new Float64Array(50).fill(21);
    for (let i = 0; i < rows; i++) {
      const s = i % 50;
      state[s] += (Math.random() - 0.5) * 0.1;
      values[i] = noise ? Math.random() * 100 : Math.round(state[s] * 100) / 100;
    }
    return values;
  };
  const measure = (noise: boolean, layout: "old" | "new") => {
    const path = join(work, `disk-${layout}-${noise}.db`);
    const values = walk(noise);
    const readings = Array.from({ length: rows }, (_, i) => ({
      sensor: `s-${i % 50}`,
      ts: 1_780_000_000_000 + Math.floor(i / 50) * 1000 + Math.floor(Math.random() * 5),
      value: values[i],
    }));
    if (layout === "old") {
      createSchema2Database(path, 0, { sensors: 50 });
      oldInsert(path, readings);
    } else {
      const store = Store.open(path, { durability: "normal" });
      for (let i = 0; i < rows; i += 5000) store.append(readings, i, Math.min(rows, i + 5000));
      store.close();
      compactAll(path);
    }
    using reader = Reader.open(path);
    const usage = reader.usage();
    return usage.usedBytes / reader.readingCount();
  };
  return {
    oldQuantised: measure(false, "old"),
    newQuantised: measure(false, "new"),
    oldNoise: measure(true, "old"),
    newNoise: measure(true, "new"),
  };
}

/** Inserts readings into a schema 2 database as edgelog 0.1 did (with the per-sensor index). */
function oldInsert(path: string, readings: { sensor: string; ts: number; value: number }[]): void {
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA synchronous = OFF; BEGIN");
    const insert = db.prepare("INSERT INTO readings(sensor_id, ts, value) VALUES (?, ?, ?)");
    for (const r of readings) insert.run(Number(r.sensor.slice(2)) + 1, r.ts, r.value);
    db.exec("COMMIT; PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
}

/** Times `query --sensor X --since -1d --every 1m` (the whole program) on `rows` readings, both layouts. */
async function queryTimes(work: string, old: Program, now: Program, rows: number, runs: number) {
  const seed = { sensors: 10, startTs: Date.now() - (rows / 10) * 1000, stepMs: 1000 };
  const oldDb = join(work, "q-old.db"), newDb = join(work, "q-new.db");
  createSchema2Database(oldDb, rows, seed);
  seedReadings(newDb, rows, seed);
  compactAll(newDb);
  const time = async (program: Program, db: string) => {
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const r = await run(Deno.execPath(), [
        "run",
        ...startFlags(program.root),
        join(program.root, "main.ts"),
        ...["query", "--db", db, "--sensor", "s-3", "--since", "-1d", "--every", "1m", "--format", "csv"],
      ]);
      if (r.code !== 0) throw new Error(`query failed: ${r.stderr}`);
      ms.push(performance.now() - t0);
    }
    return median(ms);
  };
  return { rows, oldMs: await time(old, oldDb), newMs: await time(now, newDb) };
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { quick: { type: "boolean" } } });
  const work = Deno.makeTempDirSync({ prefix: "edgelog-bench-storage-" });
  try {
    await storageBench({ quick: values.quick ?? false, print: (l = "") => console.log(l), work });
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
}
