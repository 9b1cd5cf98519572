/**
 * The database's schema, its migrations and the connection settings of the writer. The schema
 * version is `PRAGMA user_version`; `PRAGMA application_id` marks the file as edgelog's.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { DatabaseError } from "../errors.ts";

/** How hard a commit is pushed to stable storage: `full` survives power loss. */
export type Durability = "full" | "normal";

/** `PRAGMA application_id` of edgelog databases: "EDLG". */
export const APPLICATION_ID = 0x45444c47;

/** The schema, one entry per version; `PRAGMA user_version` is the index of the last applied. */
const MIGRATIONS: readonly string[] = [
  "", // version 0: empty database
  `CREATE TABLE sensors(
     id INTEGER PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     unit TEXT
   );
   CREATE TABLE readings(
     id INTEGER PRIMARY KEY,
     sensor_id INTEGER NOT NULL REFERENCES sensors(id),
     ts INTEGER NOT NULL,
     value REAL NOT NULL
   );
   CREATE INDEX readings_sensor_ts ON readings(sensor_id, ts);
   CREATE TABLE forward_cursors(
     name TEXT PRIMARY KEY,
     last_id INTEGER NOT NULL
   );`,
  // version 2: per-bucket aggregates that replace raw readings older than --downsample-after.
  // `sum` (not avg) so that buckets merge exactly; `last` is the value at `last_ts`.
  `CREATE TABLE readings_downsampled(
     sensor_id INTEGER NOT NULL REFERENCES sensors(id),
     bucket_ts INTEGER NOT NULL,
     bucket_ms INTEGER NOT NULL,
     count INTEGER NOT NULL,
     sum REAL NOT NULL,
     min REAL NOT NULL,
     max REAL NOT NULL,
     last_ts INTEGER NOT NULL,
     last REAL NOT NULL,
     PRIMARY KEY(sensor_id, bucket_ts)
   ) WITHOUT ROWID;
   CREATE INDEX readings_downsampled_ts ON readings_downsampled(bucket_ts);`,
  // version 3: flash-friendly storage (docs/STORAGE.md). `readings` becomes the hot, append-only
  // table without a per-sensor index (a commit touches the last pages of one b-tree only), and
  // readings older than --compact-after move to per-sensor compressed chunks. `step_end`: a
  // compaction step moves every hot reading with id <= step_end, so the chunks of one step hold
  // one contiguous stretch of the log (forwarders and exports page through it by id).
  `DROP INDEX readings_sensor_ts;
   CREATE TABLE chunks(
     id INTEGER PRIMARY KEY,
     sensor_id INTEGER NOT NULL REFERENCES sensors(id),
     first_ts INTEGER NOT NULL,
     last_ts INTEGER NOT NULL,
     first_id INTEGER NOT NULL,
     last_id INTEGER NOT NULL,
     step_end INTEGER NOT NULL,
     count INTEGER NOT NULL,
     data BLOB NOT NULL
   );
   CREATE INDEX chunks_sensor_ts ON chunks(sensor_id, last_ts);
   CREATE INDEX chunks_step ON chunks(step_end);`,
  // version 4: clock sanity (clock_log.ts). A segment is a stretch of time the wall clock was not
  // trusted; the readings edgelog stamped in it are runs of ids, re-stamped (restamped = 1) once
  // the clock is trusted again. Readings with their own (client) timestamps are never in a run.
  `CREATE TABLE clock_segments(
     id INTEGER PRIMARY KEY,
     kind TEXT NOT NULL,
     reason TEXT NOT NULL,
     wall_at_start INTEGER NOT NULL,
     wall_anchor INTEGER NOT NULL,
     mono_anchor REAL NOT NULL,
     boot_id TEXT,
     uptime_anchor REAL,
     correction_ms INTEGER,
     restamped_at INTEGER,
     abandoned_at INTEGER
   );
   CREATE TABLE clock_provisional(
     first_id INTEGER PRIMARY KEY,
     last_id INTEGER NOT NULL,
     segment INTEGER NOT NULL,
     restamped INTEGER NOT NULL
   );`,
];

/** The schema version this build writes. */
export const SCHEMA_VERSION: number = MIGRATIONS.length - 1;

/** What a SQLite file is, as far as edgelog is concerned. */
export type Identity =
  /** A new or empty file: edgelog may make it its own. */
  | { kind: "empty" }
  /** An edgelog database of schema `version` (at most {@link SCHEMA_VERSION}). */
  | { kind: "edgelog"; version: number };

/**
 * The one answer to "is this edgelog's database?", for the writer and every reader. Throws
 * {@link DatabaseError} for another application's file (by `application_id`, or by tables when it
 * has none) and for a file from a newer edgelog.
 */
export function identify(db: DatabaseSync, path: string): Identity {
  const appId = Number((db.prepare("PRAGMA application_id").get() as { application_id: number }).application_id);
  const version = Number((db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version);
  if (appId !== 0 && appId !== APPLICATION_ID) {
    throw new DatabaseError(
      `${path} belongs to another application (application_id ${appId}); it was not modified. Choose another --db.`,
    );
  }
  if (appId === 0) {
    const tables = (db.prepare(
      "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    ).all() as { name: string }[]).map((r) => r.name);
    if (tables.length > 0) {
      throw new DatabaseError(
        `${path} is not an edgelog database (it has tables ${
          tables.slice(0, 5).join(", ")
        }); it was not modified. Choose another --db.`,
      );
    }
    return { kind: "empty" };
  }
  if (version > SCHEMA_VERSION) {
    throw new DatabaseError(
      `${path} was written by a newer edgelog (schema ${version}, this build knows ${SCHEMA_VERSION}); it was not modified. Upgrade edgelog.`,
    );
  }
  return version === 0 ? { kind: "empty" } : { kind: "edgelog", version };
}

/**
 * Page size of new databases, bytes. At low rates every commit costs whole pages (docs/STORAGE.md
 * has the cost model and the figures this was chosen from); an existing file keeps its own.
 */
export const NEW_DATABASE_PAGE_SIZE = 1024;

/**
 * WAL bytes between automatic checkpoints, at least: SQLite's default of 1,000 pages, as bytes of
 * 4 KiB pages, whatever the page size. A checkpoint copies each page once however often the WAL
 * holds it, so a hot table refilled several times within one interval is copied once
 * (docs/STORAGE.md has the breakdown); 1,000 pages of 1 KiB copied every hot page of a large step.
 */
export const AUTO_CHECKPOINT_BYTES = 4 * 1024 * 1024;
/** The most WAL bytes between automatic checkpoints (a step's worth can ask for more). */
export const MAX_AUTO_CHECKPOINT_BYTES = 16 * 1024 * 1024;
/** Bytes of WAL the commits write per hot reading: 29.5–31.8 measured with 1 KiB pages. */
const HOT_WAL_BYTES_PER_READING = 32;
/** Refills of the hot table one checkpoint interval holds at least. */
const STEPS_PER_CHECKPOINT = 4;

/**
 * WAL bytes between automatic checkpoints when compaction steps move `stepReadings` at a time:
 * enough for {@link STEPS_PER_CHECKPOINT} refills of the hot table, so that its pages are reused
 * within one interval and copied once, as few sensors' small steps are (many sensors wait for
 * bigger steps: 131,072 readings need 16 MiB). Between {@link AUTO_CHECKPOINT_BYTES} and
 * {@link MAX_AUTO_CHECKPOINT_BYTES}: a larger WAL is longer to replay after a crash and to copy at
 * a stop.
 */
export function autoCheckpointBytes(stepReadings: number): number {
  const bytes = STEPS_PER_CHECKPOINT * stepReadings * HOT_WAL_BYTES_PER_READING;
  return Math.min(MAX_AUTO_CHECKPOINT_BYTES, Math.max(AUTO_CHECKPOINT_BYTES, bytes));
}

/** Sets the writer's pragmas: WAL, the durability's `synchronous`, checkpoint and journal limits. */
export function configureWriter(db: DatabaseSync, path: string, durability: Durability): void {
  // Only an empty file takes a page size (in WAL mode it cannot change later).
  const pages = Number((db.prepare("PRAGMA page_count").get() as { page_count: number }).page_count);
  if (pages === 0) {
    db.exec(`PRAGMA page_size = ${NEW_DATABASE_PAGE_SIZE}`);
  }
  const mode = (db.prepare("PRAGMA journal_mode = WAL").get() as { journal_mode: string }).journal_mode;
  if (mode !== "wal") {
    throw new DatabaseError(
      `${path}: could not switch to WAL mode (got '${mode}'); is the file or its directory read-only?`,
    );
  }
  const pageSize = Number((db.prepare("PRAGMA page_size").get() as { page_size: number }).page_size);
  db.exec(`PRAGMA synchronous = ${durability === "full" ? "FULL" : "NORMAL"};
           PRAGMA wal_autocheckpoint = ${Math.ceil(AUTO_CHECKPOINT_BYTES / pageSize)};
           PRAGMA journal_size_limit = ${64 * 1024 * 1024};
           PRAGMA foreign_keys = OFF;
           PRAGMA temp_store = MEMORY;`);
  // foreign_keys is OFF on purpose (SQLite's default): enforcing it costs one lookup in `sensors`
  // per inserted reading (measured in docs/BENCHMARKS.md) and protects nothing here. Every
  // sensor_id the writer inserts comes from the upsert in the same transaction (or from a cache
  // that forgets ids of rolled-back transactions), and nothing deletes sensors. The REFERENCES
  // clause stays in the schema, and `edgelog check` verifies it with `PRAGMA foreign_key_check`.
}

/**
 * Brings the schema to {@link SCHEMA_VERSION} in one transaction: a crash leaves the old one, and
 * the next start does it again. Returns the version the file had (0 for a new database).
 */
export function migrate(db: DatabaseSync): number {
  const current = Number((db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version);
  if (current >= SCHEMA_VERSION) return current;
  db.exec("BEGIN IMMEDIATE");
  try {
    for (let v = current + 1; v <= SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]);
    db.exec(`PRAGMA application_id = ${APPLICATION_ID}; PRAGMA user_version = ${SCHEMA_VERSION};`);
    db.exec("COMMIT");
  } catch (e) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw e;
  }
  return current;
}
