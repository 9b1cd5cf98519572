/**
 * The store: the only owner of SQLite in edgelog. Every connection (the writer's, the readers',
 * the outbox's, `replay`'s) is opened here, vetted the same way, and every statement lives here.
 *
 * - {@link Store}: the one writer (group commits, forwarder cursors, checkpoints, retention).
 * - {@link Reader}: read-only access for the commands and the HTTP read API.
 * - {@link OutboxReader}: forwarders page through committed readings by id.
 *
 * @example
 * ```ts
 * import { Reader, Store } from "./lib/store/mod.ts";
 * const store = Store.open("./data/edgelog.db", { durability: "full" });
 * store.append([{ sensor: "t1", ts: Date.now(), value: 21.5, unit: "°C" }]);
 * store.close();
 * using reader = Reader.open("./data/edgelog.db");
 * console.log(reader.readingCount()); // 1
 * ```
 *
 * @module
 */

export type { DbUsage } from "./_connection.ts";
export { writerPid } from "./lock.ts";
export { ClockLog, type ClockSummary, type EarlierSegment, type SegmentRecord, type StampStatus } from "./clock_log.ts";
export { type ForwardLag, OutboxReader, rewindCursor, type StoredReading } from "./outbox.ts";
export { type Bucket, Reader, type ReadRange, type SensorInfo } from "./reader.ts";
export {
  DEFAULT_COMPACT_AFTER_MS,
  Retention,
  type RetentionCounters,
  type RetentionOptions,
  type StepOutcome,
} from "./retention.ts";
export type { OnDamage } from "./open.ts";
export { type Diagnosis, type Quarantined, quarantinedBeside } from "./quarantine.ts";
export { type Salvaged, salvageFile, type SalvageReport } from "./salvage.ts";
export { APPLICATION_ID, AUTO_CHECKPOINT_BYTES, type Durability, SCHEMA_VERSION } from "./schema.ts";
export { isCorruptionError, isTransientWriteError } from "./sqlite_errors.ts";
export { type CheckpointCounts, type CheckpointResult, Store, type StoreOptions } from "./writer.ts";

/** Where the logger and the read commands look when no `--db` or `EDGELOG_DB` is given. */
export const DEFAULT_DB_PATH = "./data/edgelog.db";
