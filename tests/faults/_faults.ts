/**
 * Shared pieces of the fault suite: trial counts and their knobs, a seeded random source (the
 * seed is printed so a failing run can be replayed), the checks every graceful trial makes on
 * disk, and the figures table each scenario prints.
 *
 * Knobs (environment):
 * - `EDGELOG_FAULT_TRIALS=N`: trials per random-moment scenario (signals, hard kill, container
 *   and systemd stops); CI-sized defaults otherwise.
 * - `EDGELOG_FAULT_CYCLES=N`: start/stop cycles of the restart scenario (default 30).
 * - `EDGELOG_FAULT_SEED=N`: replay the random moments of an earlier run.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { Reader } from "../../lib/store/mod.ts";
import { countReadings, integrityCheck, tempDir, walSize, withDb } from "../_helpers/database.ts";
import type { LoggerProcess, LogRecord } from "../_helpers/process.ts";
import { requirement } from "../_helpers/requirements.ts";

/** The final log record with the counters a fault trial checks. */
export type FinalRecord = LogRecord & {
  taken: number;
  stored: number;
  dropped: number;
  commit_errors: number;
  shutdown_ms: number;
  unstored: number;
  wal_truncated: boolean;
};

/** Reads a positive whole number from the environment, or `fallback`. */
export function envCount(name: string, fallback: number): number {
  const raw = Deno.env.get(name);
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a whole number >= 1, got ${raw}`);
  return n;
}

/** Trials of a random-moment scenario: `EDGELOG_FAULT_TRIALS`, else the CI-sized `ciDefault`. */
export function faultTrials(ciDefault: number): number {
  return envCount("EDGELOG_FAULT_TRIALS", ciDefault);
}

/** A small seeded PRNG (mulberry32), so the random moments of a run can be replayed. */
export class FaultRandom {
  readonly seed: number;
  #state: number;
  constructor(seed: number = envCount("EDGELOG_FAULT_SEED", 1 + Math.floor(Math.random() * 2 ** 31))) {
    this.seed = seed;
    this.#state = seed >>> 0;
  }

  /** A number in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A whole number in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
}

/** Median and maximum of `values` (0 for none). */
export function medianMax(values: readonly number[]): { median: number; max: number } {
  if (values.length === 0) return { median: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median: Math.round(median), max: Math.round(sorted[sorted.length - 1]) };
}

/** One row of the figures table. */
export interface FigureRow {
  scenario: string;
  trials: number | string;
  lost: number | string;
  exits: string;
  stopMs: string;
  notes: string;
}

/** Prints the figures of one scenario as markdown table rows (header included), ready to copy. */
export function printFigures(rows: readonly FigureRow[], seed?: number): void {
  const lines = [
    "| scenario | trials | readings lost | exit codes | stop latency median / max (ms) | notes |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) => `| ${r.scenario} | ${r.trials} | ${r.lost} | ${r.exits} | ${r.stopMs} | ${r.notes} |`),
  ];
  if (seed !== undefined) lines.push(`(EDGELOG_FAULT_SEED=${seed} replays these moments)`);
  console.log("\n" + lines.join("\n"));
}

/** Counts of each exit code, e.g. `0×12`. */
export function exitSummary(codes: readonly (number | string)[]): string {
  const counts = new Map<string, number>();
  for (const c of codes) counts.set(String(c), (counts.get(String(c)) ?? 0) + 1);
  return [...counts].map(([c, n]) => `${c}×${n}`).join(", ");
}

/** The final record of a finished logger, failing with its stderr when missing. */
export function requireFinal(p: LoggerProcess): FinalRecord {
  const final = p.finalRecord() as FinalRecord | undefined;
  assert.ok(final, `final log record present; stderr:\n${stderrTail(p)}`);
  return final;
}

/** The last lines of a logger's stderr, for assertion messages. */
export function stderrTail(p: LoggerProcess, lines = 30): string {
  return p.stderrLines.slice(-lines).join("\n");
}

/**
 * Asserts the contract of a graceful stop on what is on disk: exit 0, every reading taken was
 * stored, the rows on disk are `rowsBefore` plus what this run stored, integrity ok, WAL empty,
 * and the `.db` file alone (copied without `-wal`/`-shm`) holds every row. Returns the final record.
 */
export async function assertGraceful(
  p: LoggerProcess,
  status: Deno.CommandStatus,
  dbPath: string,
  rowsBefore = 0,
): Promise<FinalRecord> {
  assert.equal(status.code, 0, `exit code 0; stderr:\n${stderrTail(p)}`);
  const final = requireFinal(p);
  assert.equal(final.stored, final.taken, "every reading taken was stored");
  assert.equal(final.unstored, 0, "nothing left unstored");
  if (final.taken === 0 && !exists(dbPath)) return final; // stopped before the database was created
  assert.equal(countReadings(dbPath), rowsBefore + final.stored, "rows on disk equal what the logger stored");
  assert.equal(integrityCheck(dbPath), "ok");
  assert.equal(final.wal_truncated, true, "the final record says the WAL was truncated");
  assert.equal(
    walSize(dbPath),
    0,
    `the WAL was checkpointed and truncated; final checkpoint ${JSON.stringify(final.checkpoint)}, ` +
      `shutdown ${final.shutdown_ms} ms; stderr:\n${stderrTail(p)}`,
  );
  await using copy = await tempDir("edgelog-fault-copy-");
  const alone = join(copy.path, "alone.db");
  await Deno.copyFile(dbPath, alone);
  assert.equal(countReadings(alone), rowsBefore + final.stored, "the .db file alone holds every row");
  return final;
}

/** True when `path` exists. */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Every reading exactly once: the log (compaction steps, then the hot table) holds ids 1..N in
 * order, none missing or repeated, and the count agrees; `each` may check every reading
 * (`[id, sensorId, ts, value]`) on the way. Returns N, and how many are hot and compacted.
 */
export function assertExactlyOnce(
  dbPath: string,
  what: string,
  each?: (row: readonly [number, number, number, number]) => void,
): { rows: number; hot: number; compacted: number } {
  using reader = Reader.open(dbPath);
  let expected = 1;
  for (let page = reader.pageById(0, {}, 50_000); page.length > 0; page = reader.pageById(expected - 1, {}, 50_000)) {
    for (const row of page) {
      assert.equal(row[0], expected, `${what}: reading ${expected} is missing or repeated (found ${row[0]})`);
      each?.(row);
      expected++;
    }
  }
  const rows = expected - 1;
  assert.equal(reader.readingCount(), rows, `${what}: the count of hot and compacted readings agrees with the log`);
  const hot = withDb(
    dbPath,
    (db) => Number((db.prepare("SELECT count(*) AS n FROM readings").get() as { n: number }).n),
  );
  return { rows, hot, compacted: rows - hot };
}

/**
 * Row count, highest id and oldest/newest ts of the readings stored, hot and compacted (zeros for
 * none), through the reader: the logger moves its hot table into chunks as soon as it holds a step.
 */
export function readingsSummary(dbPath: string): { rows: number; maxId: number; minTs: number; maxTs: number } {
  using reader = Reader.open(dbPath);
  const { first, last } = reader.timeSpan();
  return { rows: reader.readingCount(), maxId: reader.maxId(), minTs: first ?? 0, maxTs: last ?? 0 };
}

/**
 * Waits for `p` to exit; after `timeoutMs` it is SIGKILLed and the wait fails, so a logger that
 * ignored a stop request fails the trial instead of hanging the suite.
 */
export async function exitedWithin(p: LoggerProcess, timeoutMs: number): Promise<Deno.CommandStatus> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), timeoutMs));
  try {
    const first = await Promise.race([p.exited(), timedOut]);
    if (first !== "timeout") return first;
    try {
      p.kill("SIGKILL");
    } catch { /* exited meanwhile */ }
    await p.exited();
    throw new Error(`the logger did not exit within ${timeoutMs} ms; stderr:\n${stderrTail(p)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Sends `signal` to `pid` and resolves with the time until `p` exited (ms) and its status. */
export async function signalAndTime(
  p: LoggerProcess,
  pid: number,
  signal: Deno.Signal,
  timeoutMs = 20_000,
): Promise<{ status: Deno.CommandStatus; ms: number }> {
  const t0 = performance.now();
  Deno.kill(pid, signal);
  const status = await exitedWithin(p, timeoutMs);
  return { status, ms: performance.now() - t0 };
}

/** SIGKILLs `p` if it still runs and waits for it (for `finally` blocks). */
export async function killQuietly(p: LoggerProcess): Promise<void> {
  try {
    p.kill("SIGKILL");
  } catch { /* already exited */ }
  await p.exited();
}

/**
 * For `ignore:` of root-only scenarios: true (ignored, with a line saying why) when not root
 * outside CI. In CI (`CI=true`) it returns false: the scenario runs and fails without root.
 */
export function rootOnly(what: string): boolean {
  return requirement(what, { root: true }).ignore;
}
