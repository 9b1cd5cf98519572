/**
 * `deno task bench [--quick]`: edgelog side by side with SQLite's own ceiling and the naive
 * commit-per-reading logger, in one run on one machine; prints markdown tables with ratios.
 *
 * Default run: under 10 minutes. `--quick`: under 2 minutes (CI runs it to keep it working;
 * the figures of a quick run are indicative only).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { ReadingBatch } from "../lib/reading.ts";
import { Store } from "../lib/store/mod.ts";
import { maxReadingId } from "../tests/_helpers/database.ts";
import { hasCommand, spawnLogger, waitFor } from "../tests/_helpers/process.ts";
import { storageBench } from "./storage.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { quick: { type: "boolean" }, only: { type: "string" } },
});
const QUICK = values.quick ?? false;
const ONLY = values.only?.split(",");
const RUNS = QUICK ? 1 : 3;

const work = Deno.makeTempDirSync({ prefix: "edgelog-bench-" });
const out: string[] = [];
const print = (line = "") => {
  console.log(line);
  out.push(line);
};

// ---------- helpers ----------

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmtRate = (r: number) =>
  r >= 1e6 ? `${(r / 1e6).toFixed(2)}M` : r >= 1e3 ? `${(r / 1e3).toFixed(1)}k` : r.toFixed(0);
const fmtX = (x: number) => x >= 100 ? `${x.toFixed(0)}x` : x >= 10 ? `${x.toFixed(1)}x` : `${x.toFixed(2)}x`;
let dbCounter = 0;
const freshDb = () => join(work, `b${++dbCounter}.db`);

function rmDb(path: string) {
  for (const suffix of ["", "-wal", "-shm", ".lock"]) {
    try {
      Deno.removeSync(path + suffix);
    } catch { /* absent */ }
  }
}

/** Highest reading id, hot or compacted, i.e. the number of rows written; 0 before the schema exists. */
function maxId(path: string): number {
  try {
    return maxReadingId(path);
  } catch {
    return 0;
  }
}

function procStatus(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const line of Deno.readTextFileSync(`/proc/${pid}/status`).split("\n")) {
      const m = /^(\w+):\s+(\d+) kB/.exec(line);
      if (m) out[m[1]] = Number(m[2]);
    }
  } catch { /* exited */ }
  return out;
}

const SCHEMA = `
  CREATE TABLE sensors(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, unit TEXT);
  CREATE TABLE readings(id INTEGER PRIMARY KEY, sensor_id INTEGER NOT NULL REFERENCES sensors(id),
                        ts INTEGER NOT NULL, value REAL NOT NULL);
  INSERT INTO sensors(name, unit) VALUES ('temperature-1','°C'), ('humidity-1','%'), ('pressure-1','hPa');`;

function pragmas(sync: "FULL" | "NORMAL") {
  // The connection settings edgelog's writer uses (foreign keys not enforced, see lib/store/schema.ts).
  return `PRAGMA page_size=1024; PRAGMA journal_mode=WAL; PRAGMA synchronous=${sync}; PRAGMA foreign_keys=OFF;`;
}

/** The same rows for everyone: 3 sensors round robin, 1 ms apart, a random walk. */
function rows(n: number): { sensorId: number; ts: number; value: number }[] {
  let v = 21;
  return Array.from({ length: n }, (_, i) => {
    v += (Math.random() - 0.5) * 0.1;
    return { sensorId: (i % 3) + 1, ts: 1_700_000_000_000 + i, value: v };
  });
}

async function run(cmd: string, args: string[], stdin?: string): Promise<{ ms: number; code: number; stderr: string }> {
  const t0 = performance.now();
  const child = new Deno.Command(cmd, { args, stdin: stdin ? "piped" : "null", stdout: "null", stderr: "piped" })
    .spawn();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const o = await child.output();
  return { ms: performance.now() - t0, code: o.code, stderr: new TextDecoder().decode(o.stderr) };
}

const section = (name: string) => !ONLY || ONLY.includes(name);

// ---------- machine ----------

const sqliteVersionDeno = (() => {
  const db = new DatabaseSync(":memory:");
  const v = (db.prepare("SELECT sqlite_version() AS v").get() as { v: string }).v;
  db.close();
  return v;
})();
const cpu = Deno.readTextFileSync("/proc/cpuinfo").match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown";
const sqliteCli = hasCommand("sqlite3")
  ? new TextDecoder().decode(new Deno.Command("sqlite3", { args: ["--version"] }).outputSync().stdout).split(" ")[0]
  : "absent";
const python = hasCommand("python3");

print(`# edgelog benchmarks${QUICK ? " (quick: 1 run per figure, indicative only)" : ""}`);
print();
print(
  `Machine: ${navigator.hardwareConcurrency} cores (${cpu}), ${
    Math.round(Deno.systemMemoryInfo().total / 2 ** 30)
  } GiB; ` +
    `Deno ${Deno.version.deno} (SQLite ${sqliteVersionDeno}); sqlite3 CLI ${sqliteCli}; ${
      new Date().toISOString().slice(0, 10)
    }; ` +
    `medians of ${RUNS} run(s)`,
);
print();

// ---------- 1. SQLite's ceiling, naive loggers, edgelog's writer ----------

const N = QUICK ? 200_000 : 1_000_000;
const data = rows(N);

/** sqlite3 CLI: the same rows as multi-row INSERT text in one transaction. */
async function sqliteCliText(sync: "FULL" | "NORMAL"): Promise<number> {
  const sql: string[] = [pragmas(sync), SCHEMA, "BEGIN;"];
  for (let i = 0; i < N; i += 500) {
    sql.push(
      "INSERT INTO readings(sensor_id,ts,value) VALUES " +
        data.slice(i, i + 500).map((r) => `(${r.sensorId},${r.ts},${r.value})`).join(",") + ";",
    );
  }
  sql.push("COMMIT;");
  return await sqliteCliRate(sql.join("\n"));
}

/** Runs `script` with the sqlite3 CLI on a fresh database `runs` times; N rows / median time. */
async function sqliteCliRate(script: string, runs = RUNS): Promise<number> {
  const times: number[] = [];
  for (let k = 0; k < runs; k++) {
    const db = freshDb();
    const r = await run("sqlite3", [db], script);
    if (r.code !== 0) throw new Error(`sqlite3 failed: ${r.stderr}`);
    times.push(r.ms);
    rmDb(db);
  }
  return N / (median(times) / 1000);
}

/** sqlite3 CLI generating the rows itself (no parsing, no calls): the engine's own limit. */
async function sqliteCliSeries(sync: "FULL" | "NORMAL", runs = RUNS): Promise<number> {
  const script = `${pragmas(sync)} ${SCHEMA} BEGIN;
    INSERT INTO readings(sensor_id, ts, value)
      SELECT value % 3 + 1, 1700000000000 + value, 21 + (random() % 1000) / 10000.0 FROM generate_series(0, ${N - 1});
    COMMIT;`;
  return await sqliteCliRate(script, runs);
}

/** The naive logger in Deno: one transaction (autocommit) per reading, WAL. Time-boxed. */
function naiveDeno(sync: "FULL" | "NORMAL"): number {
  const rates: number[] = [];
  for (let k = 0; k < RUNS; k++) {
    const path = freshDb();
    const db = new DatabaseSync(path);
    db.exec(pragmas(sync) + SCHEMA);
    const ins = db.prepare("INSERT INTO readings(sensor_id, ts, value) VALUES (?, ?, ?)");
    const budgetMs = QUICK ? 500 : 2000;
    const t0 = performance.now();
    let i = 0;
    while (performance.now() - t0 < budgetMs) {
      const r = data[i % N];
      ins.run(r.sensorId, r.ts, r.value);
      i++;
    }
    rates.push(i / ((performance.now() - t0) / 1000));
    db.close();
    rmDb(path);
  }
  return median(rates);
}

/** The naive logger in Python's sqlite3 module: commit per reading, WAL. Time-boxed. */
async function naivePython(sync: "FULL" | "NORMAL"): Promise<number> {
  const rates: number[] = [];
  for (let k = 0; k < RUNS; k++) {
    const path = freshDb();
    const script = `
import sqlite3, time, random
db = sqlite3.connect(${JSON.stringify(path)}, isolation_level=None)
db.executescript(${JSON.stringify(pragmas(sync) + SCHEMA)})
budget = ${QUICK ? 0.5 : 2.0}
t0 = time.perf_counter(); i = 0; v = 21.0
while time.perf_counter() - t0 < budget:
    v += (random.random() - 0.5) * 0.1
    db.execute("INSERT INTO readings(sensor_id, ts, value) VALUES (?, ?, ?)", (i % 3 + 1, 1700000000000 + i, v))
    i += 1
print(i / (time.perf_counter() - t0))
`;
    const o = await new Deno.Command("python3", { args: ["-c", script], stdout: "piped", stderr: "piped" }).output();
    if (!o.success) throw new Error(new TextDecoder().decode(o.stderr));
    rates.push(Number(new TextDecoder().decode(o.stdout).trim()));
    rmDb(path);
  }
  return median(rates);
}

/** edgelog's writer in-process (Store.appendBatch, the pipeline's path): one transaction per batch. */
function edgelogWriter(durability: "full" | "normal", batch = 5000): number {
  const readings = ReadingBatch.of(data.map((r) => ({
    sensor: ["temperature-1", "humidity-1", "pressure-1"][r.sensorId - 1],
    ts: r.ts,
    value: r.value,
  })));
  const rates: number[] = [];
  for (let k = 0; k < RUNS; k++) {
    const path = freshDb();
    const store = Store.open(path, { durability });
    const t0 = performance.now();
    for (let i = 0; i < N; i += batch) store.appendBatch(readings, i, Math.min(N, i + batch));
    rates.push(N / ((performance.now() - t0) / 1000));
    store.close();
    rmDb(path);
  }
  return median(rates);
}

/**
 * The whole program: edgelog with its simulated source driven past the writer's limit; rows
 * stored per second between 1 s after start-up and the end of the window.
 */
async function edgelogProgram(args: string[], seconds: number, db = freshDb(), keep = false) {
  const p = spawnLogger(["--db", db, "--sim-rate", "5000000", "--sim-sensors", "3", ...args]);
  try {
    await p.waitUntilLogging();
    await new Promise((r) => setTimeout(r, 1000));
    const n0 = maxId(db), t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const n1 = maxId(db), t1 = performance.now();
    const status = procStatus(p.pid);
    const k0 = performance.now();
    p.kill("SIGTERM");
    const st = await p.exited();
    const stopMs = performance.now() - k0;
    if (st.code !== 0) throw new Error(`edgelog exited ${st.code}: ${p.stderrLines.join("\n")}`);
    return { rate: (n1 - n0) / ((t1 - t0) / 1000), stopMs, rssKb: status.VmHWM ?? 0, anonKb: status.RssAnon ?? 0 };
  } finally {
    if (!keep) rmDb(db);
  }
}

const results: Record<string, number> = {};

/** The program's maximum rate: from the throughput section, or measured once when it was skipped. */
async function maxRate(): Promise<number> {
  results.max ??= (await edgelogProgram([], 2)).rate;
  return results.max;
}
if (section("throughput")) {
  print("## Durable ingest throughput (readings/s)");
  print();
  print(
    `Same schema (the hot readings table: no per-sensor index, foreign key to sensors declared, not enforced, 1 KiB pages, as in edgelog) and the same ${
      fmtRate(N)
    } rows for everyone, WAL mode.`,
  );
  print();
  const hasCli = sqliteCli !== "absent";
  const ceilingFull = hasCli ? await sqliteCliText("FULL") : NaN;
  const seriesFull = hasCli ? await sqliteCliSeries("FULL") : NaN;
  const writerFull = edgelogWriter("full");
  const writerNormal = edgelogWriter("normal");
  const writerBig = edgelogWriter("full", 20_000);
  const naiveDenoFull = naiveDeno("FULL");
  const naiveDenoNormal = naiveDeno("NORMAL");
  const naivePyFull = python ? await naivePython("FULL") : NaN;
  const naivePyNormal = python ? await naivePython("NORMAL") : NaN;
  const prog: Record<string, number> = {};
  const progSeconds = QUICK ? 1.5 : 3;
  const progConfigs: [string, string[]][] = QUICK
    ? [["full, batch 5000 (default)", []], ["normal, batch 5000", ["--durability", "normal"]]]
    : [
      ["full, batch 5000 (default)", []],
      ["full, batch 1000", ["--batch-size", "1000"]],
      ["full, batch 20000", ["--batch-size", "20000"]],
      ["normal, batch 5000", ["--durability", "normal"]],
      ["normal, batch 20000", ["--durability", "normal", "--batch-size", "20000"]],
    ];
  // The default configuration alternates with the engine-only figure, one run of each at a time: both move with the
  // machine's load (1.1M-1.5M engine-only within one hour here), and a ratio of two medians taken minutes apart can
  // carry that drift. The target is held to the median of the ratios of these pairs. Each engine-only figure of a
  // pair is itself the median of 3 runs, as the block above (a single run comes out slower: nothing is warm), and
  // `sync` comes before each side, so that neither pays for the other's pages still being written back.
  const pairs: number[] = [];
  for (const [name, args] of progConfigs) {
    const rs: number[] = [];
    for (let k = 0; k < RUNS; k++) {
      const paired = hasCli && args.length === 0;
      if (paired) await run("sync", []);
      const engine = paired ? await sqliteCliSeries("FULL", 3) : NaN;
      if (paired) await run("sync", []);
      rs.push((await edgelogProgram(args, progSeconds)).rate);
      if (paired) pairs.push(rs[k] / engine);
    }
    prog[name] = median(rs);
  }
  results.max = prog["full, batch 5000 (default)"];
  results.ceiling = ceilingFull;
  const rowsOut: [string, number][] = [
    ["sqlite3 CLI, same rows as INSERT text, one transaction, FULL (**ceiling**)", ceilingFull],
    ["sqlite3 CLI, rows generated in SQL (generate_series), FULL: engine only", seriesFull],
    ...Object.entries(prog).map(([k, v]) =>
      [`**edgelog program**, simulated source at its limit, ${k}`, v] as [string, number]
    ),
    ["edgelog writer in-process (Store.appendBatch), full, batch 5000", writerFull],
    ["edgelog writer in-process (Store.appendBatch), full, batch 20000", writerBig],
    ["edgelog writer in-process (Store.appendBatch), normal, batch 5000", writerNormal],
    ["naive logger, Deno node:sqlite, commit per reading, FULL", naiveDenoFull],
    ["naive logger, Deno node:sqlite, commit per reading, NORMAL", naiveDenoNormal],
    ["naive logger, Python sqlite3, commit per reading, FULL", naivePyFull],
    ["naive logger, Python sqlite3, commit per reading, NORMAL", naivePyNormal],
  ];
  print("| what | readings/s | vs ceiling |");
  print("| --- | ---: | ---: |");
  for (const [name, rate] of rowsOut) {
    print(
      `| ${name} | ${Number.isNaN(rate) ? "n/a" : fmtRate(rate)} | ${
        Number.isNaN(rate / ceilingFull) ? "n/a" : fmtX(rate / ceilingFull)
      } |`,
    );
  }
  print();
  const naiveBest = Math.max(naiveDenoFull, Number.isNaN(naivePyFull) ? 0 : naivePyFull);
  print(
    `edgelog (program, full) = **${fmtX(results.max / ceilingFull)}** SQLite's ceiling, ` +
      `**${fmtX(results.max / seriesFull)}** the engine-only figure, and **${
        fmtX(results.max / naiveBest)
      }** the best naive logger at synchronous=FULL.`,
  );
  if (pairs.length > 0) {
    results.pairedEngineRatio = median(pairs);
    print();
    print(
      `Program (full, batch 5000) against the engine-only figure, one run of each in turn: ${
        pairs.map(fmtX).join(", ")
      }; median **${fmtX(results.pairedEngineRatio)}** (target ≥ 0.6x).`,
    );
  }
  print();
}

// ---------- 2. Stop latency ----------

if (section("stop")) {
  const max = await maxRate();
  print("## Stop latency (SIGTERM to exit, including the final commit and the TRUNCATE checkpoint)");
  print();
  print("| load | sim-rate | median ms | max ms | runs |");
  print("| --- | ---: | ---: | ---: | ---: |");
  const stopRuns = QUICK ? 3 : 7;
  for (
    const [label, rate] of [["10% of max", max * 0.1], ["50% of max", max * 0.5], ["100% of max", max], [
      "overdriven (5M/s asked)",
      5_000_000,
    ]] as const
  ) {
    const ms: number[] = [];
    for (let k = 0; k < stopRuns; k++) {
      const db = freshDb();
      const p = spawnLogger(["--db", db, "--sim-rate", String(Math.round(rate))]);
      await p.waitUntilLogging();
      await new Promise((r) => setTimeout(r, 700 + Math.random() * 300));
      const t0 = performance.now();
      p.kill("SIGTERM");
      const st = await p.exited();
      ms.push(performance.now() - t0);
      if (st.code !== 0) throw new Error(`exit ${st.code}`);
      const f = p.finalRecord()!;
      if (f.stored !== f.taken) throw new Error(`lost readings: ${JSON.stringify(f)}`);
      rmDb(db);
    }
    print(`| ${label} | ${fmtRate(rate)} | ${median(ms).toFixed(0)} | ${Math.max(...ms).toFixed(0)} | ${stopRuns} |`);
  }
  print();
}

// ---------- 3. Memory ----------

if (section("memory")) {
  const max = await maxRate();
  print("## Memory (peak RSS = VmHWM; anon = RssAnon, excluding the mapped deno executable)");
  print();
  print("| load | peak RSS MB | anon RSS MB |");
  print("| --- | ---: | ---: |");
  for (const [label, rate] of [["idle (sim-rate 0)", 0], ["10k readings/s", 10_000], ["max rate", max]] as const) {
    const db = freshDb();
    const p = spawnLogger(["--db", db, "--sim-rate", String(Math.round(rate))]);
    await p.waitUntilLogging();
    await new Promise((r) => setTimeout(r, QUICK ? 2000 : 5000));
    const s = procStatus(p.pid);
    p.kill("SIGTERM");
    await p.exited();
    rmDb(db);
    print(`| ${label} | ${(s.VmHWM / 1024).toFixed(0)} | ${(s.RssAnon / 1024).toFixed(0)} |`);
  }
  print();
  const soakS = QUICK ? 10 : 60;
  const db = freshDb();
  const p = spawnLogger(["--db", db, "--sim-rate", String(Math.round(max))]);
  await p.waitUntilLogging();
  const samples: number[] = [];
  for (let t = 0; t <= soakS; t += 5) {
    await new Promise((r) => setTimeout(r, t === 0 ? 0 : 5000));
    samples.push(procStatus(p.pid).VmRSS / 1024);
  }
  const soakPeak = procStatus(p.pid).VmHWM / 1024;
  p.kill("SIGTERM");
  await p.exited();
  rmDb(db);
  const after10 = samples[Math.min(2, samples.length - 1)];
  print(
    `RSS over a ${soakS} s run at the max rate, every 5 s (MB): ${samples.map((x) => x.toFixed(0)).join(", ")} — ` +
      `growth after the first 10 s: ${(samples.at(-1)! - after10).toFixed(1)} MB; peak RSS (VmHWM) over the run: ` +
      `**${soakPeak.toFixed(0)} MB**.`,
  );
  print();
}

// ---------- 4. Start-up, bytes per reading ----------

if (section("startup")) {
  print("## Start-up and disk use");
  print();
  for (const interval of [250, 10]) {
    const ms: number[] = [];
    for (let k = 0; k < (QUICK ? 2 : 5); k++) {
      const db = freshDb();
      const t0 = performance.now();
      const p = spawnLogger(["--db", db, "--sim-rate", "1000", "--commit-interval", String(interval)]);
      await waitFor(() => maxId(db) > 0, 20_000);
      ms.push(performance.now() - t0);
      p.kill("SIGTERM");
      await p.exited();
      rmDb(db);
    }
    print(
      `- process start to first committed reading, commit-interval ${interval} ms: median **${
        median(ms).toFixed(0)
      } ms**`,
    );
  }
  const db = freshDb();
  await edgelogProgram([], QUICK ? 1 : 3, db, true);
  const rowsOnDisk = maxId(db);
  const bytes = Deno.statSync(db).size;
  print(
    `- bytes on disk per stored reading (${fmtRate(rowsOnDisk)} rows, after the TRUNCATE checkpoint): **${
      (bytes / rowsOnDisk).toFixed(1)
    }**`,
  );
  rmDb(db);
  print();
}

// ---------- 5. How cost grows with the database ----------

if (section("growth")) {
  print("## Throughput and stop latency with rows already present");
  print();
  print("| rows present | readings/s (full) | stop ms |");
  print("| ---: | ---: | ---: |");
  const sizes = QUICK ? [1e5, 1e6] : [1e5, 1e6, 1e7];
  for (const size of sizes) {
    const db = freshDb();
    const s = Store.open(db, { durability: "normal" });
    s.close();
    const c = new DatabaseSync(db);
    c.exec(
      "PRAGMA synchronous=OFF; INSERT INTO sensors(name, unit) VALUES ('temperature-1','°C'), ('humidity-1','%'), ('pressure-1','hPa');",
    );
    c.exec(`WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x < ${size - 1})
            INSERT INTO readings(sensor_id, ts, value) SELECT x % 3 + 1, 1600000000000 + x, 21.0 FROM n;
            PRAGMA wal_checkpoint(TRUNCATE);`);
    c.close();
    const r = await edgelogProgram([], QUICK ? 1.5 : 3, db);
    print(`| ${fmtRate(size)} | ${fmtRate(r.rate)} | ${r.stopMs.toFixed(0)} |`);
  }
  print();
}

// ---------- 6. Storage: flash writes and bytes on disk, beside the previous layout ----------

if (section("storage")) {
  await storageBench({ quick: QUICK, print, work });
}

Deno.removeSync(work, { recursive: true });
console.error(`bench: done in ${(performance.now() / 1000).toFixed(0)} s`);
