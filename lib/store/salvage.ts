/**
 * Reading what can still be read out of a damaged database, for `edgelog salvage`. Two passes,
 * because each finds what the other cannot:
 *
 * - **Through SQLite**, by id ranges: sensors, hot readings and compressed chunks, in id order. A
 *   range that fails is skipped by probing further ids (doubling, then bisecting back to the first
 *   id that reads again), so one bad page costs only the rows on it. Chunks are decoded one by one;
 *   one that fails its CRC or does not decode is counted and skipped. This pass sees the WAL.
 * - **Page by page**, without SQLite: every page of the file (overlaid with the newest committed
 *   copy from the WAL) that parses as a table leaf whose every cell has the shape of a `readings`
 *   row (id, sensor_id, ts, value) or of a `sensors` row. This finds rows whose leaf is intact but
 *   that SQLite cannot reach because a page above it is damaged. Pages on the free list (rows
 *   already deleted or compacted) are left out.
 *
 * Readings are keyed by their original id, so a row found by both passes counts once. What was
 * found is held in memory (about 40 bytes per reading) and returned in id order.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { scanPages } from "./_page_scan.ts";
import { decodeChunk, doubled } from "./chunk_codec.ts";

/** What {@link salvageFile} found. */
export interface Salvaged {
  /** Sensor names and units by their id in the damaged file. */
  sensors: Map<number, { name: string; unit: string | null }>;
  /** Readings in id order, as columns: original id, sensor id, timestamp, value. */
  ids: Float64Array;
  sensorIds: Float64Array;
  ts: Float64Array;
  values: Float64Array;
  length: number;
  /** How the readings were found and what was lost. */
  report: SalvageReport;
}

/** Counts of {@link salvageFile}, for the report `edgelog salvage` prints. */
export interface SalvageReport {
  /** Readings read from the hot table through SQLite. */
  hotRows: number;
  /** Readings decoded from compressed chunks. */
  chunkReadings: number;
  /** Chunks that failed their CRC or did not decode (their readings are lost). */
  chunksUndecodable: number;
  /** Readings found only by the page scan (their path through the b-tree is damaged). */
  pageScanOnly: number;
  /** Id ranges SQLite could not read (each skipped). */
  rangesSkipped: number;
  /** Whether SQLite could open the file and read its schema at all. */
  sqliteReadable: boolean;
  /** Error texts met on the way (the first few). */
  errors: string[];
}

const MAX_ERRORS = 10;

/** Growable columns of readings keyed by original id. */
class Found {
  ids = new Float64Array(1024);
  sensorIds = new Float64Array(1024);
  ts = new Float64Array(1024);
  values = new Float64Array(1024);
  length = 0;

  add(id: number, sensorId: number, ts: number, value: number): void {
    if (this.length === this.ids.length) {
      this.ids = doubled(this.ids);
      this.sensorIds = doubled(this.sensorIds);
      this.ts = doubled(this.ts);
      this.values = doubled(this.values);
    }
    const i = this.length++;
    this.ids[i] = id;
    this.sensorIds[i] = sensorId;
    this.ts[i] = ts;
    this.values[i] = value;
  }

  /** Sorted by id, each id once (the first found wins: SQLite's pass runs first). */
  sortedUnique(): { order: Uint32Array; length: number } {
    const order = new Uint32Array(this.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    order.sort((a, b) => this.ids[a] - this.ids[b] || a - b);
    let n = 0;
    for (let i = 0; i < order.length; i++) {
      if (n > 0 && this.ids[order[n - 1]] === this.ids[order[i]]) continue;
      order[n++] = order[i];
    }
    return { order, length: n };
  }
}

/**
 * Reads every reading that can still be read out of the (damaged) database at `path`, which is
 * opened read-only and never modified.
 *
 * @example
 * ```ts
 * const s = salvageFile("/data/edgelog.db.damaged-20261127T112733Z");
 * console.log(s.length, s.report);
 * ```
 */
export function salvageFile(path: string): Salvaged {
  const report: SalvageReport = {
    hotRows: 0,
    chunkReadings: 0,
    chunksUndecodable: 0,
    pageScanOnly: 0,
    rangesSkipped: 0,
    sqliteReadable: false,
    errors: [],
  };
  const note = (e: unknown) => {
    if (report.errors.length < MAX_ERRORS) report.errors.push((e as Error).message ?? String(e));
  };
  const sensors = new Map<number, { name: string; unit: string | null }>();
  const found = new Found();
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path, { readOnly: true });
    db.prepare("SELECT count(*) FROM sqlite_schema").get();
    report.sqliteReadable = true;
  } catch (e) {
    note(e);
    try {
      db?.close();
    } catch { /* nothing to lose */ }
    db = undefined;
  }
  if (db !== undefined) {
    try {
      const sensorRows = db.prepare("SELECT id, name, unit FROM sensors WHERE id >= ? ORDER BY id");
      byIdRanges(sensorRows, report, note, (r) => {
        sensors.set(Number(r.id), { name: String(r.name), unit: r.unit === null ? null : String(r.unit) });
      });
    } catch (e) {
      note(e);
    }
    try {
      const hot = db.prepare("SELECT id, sensor_id, ts, value FROM readings WHERE id >= ? ORDER BY id");
      byIdRanges(hot, report, note, (r) => {
        found.add(Number(r.id), Number(r.sensor_id), Number(r.ts), Number(r.value));
        report.hotRows++;
      });
    } catch (e) {
      note(e);
    }
    try {
      const chunks = db.prepare("SELECT id, sensor_id, data FROM chunks WHERE id >= ? ORDER BY id");
      byIdRanges(chunks, report, note, (r) => {
        try {
          const c = decodeChunk(r.data as Uint8Array);
          for (let i = 0; i < c.length; i++) found.add(c.ids[i], Number(r.sensor_id), c.ts[i], c.values[i]);
          report.chunkReadings += c.length;
        } catch (e) {
          report.chunksUndecodable++;
          note(e);
        }
      });
    } catch (e) {
      note(e); // a schema-1/2 file has no chunks
    }
    db.close();
  }
  const beforeScan = found.length;
  const known = new Set(found.ids.subarray(0, found.length));
  scanPages(path, (kind, rowid, cols) => {
    if (kind === "sensor") {
      if (!sensors.has(rowid)) sensors.set(rowid, { name: String(cols[1]), unit: cols[2] as string | null });
    } else if (!known.has(rowid)) {
      found.add(rowid, cols[1] as number, cols[2] as number, cols[3] as number);
    }
  }, note);
  report.pageScanOnly = found.length - beforeScan;
  const { order, length } = found.sortedUnique();
  const pick = (a: Float64Array) => Float64Array.from(order.subarray(0, length), (i) => a[i]);
  return {
    sensors,
    ids: pick(found.ids),
    sensorIds: pick(found.sensorIds),
    ts: pick(found.ts),
    values: pick(found.values),
    length,
    report,
  };
}

type Row = Record<string, unknown>;
/** Largest id probed past a damaged range before giving up. */
const MAX_ID = 2 ** 53;

/**
 * Runs `statement` (`… WHERE id >= ? ORDER BY id`) from id 0 to the end, handing each row to
 * `each`; a range that throws is skipped by probing further ids.
 */
function byIdRanges(
  statement: ReturnType<DatabaseSync["prepare"]>,
  report: SalvageReport,
  note: (e: unknown) => void,
  each: (row: Row) => void,
): void {
  let from = 0;
  for (;;) {
    let last = from - 1;
    try {
      for (const row of statement.iterate(from) as Iterable<Row>) {
        last = Number(row.id);
        each(row);
      }
      return;
    } catch (e) {
      note(e);
      report.rangesSkipped++;
    }
    // Past `last` something failed. Double the step until a seek reads, then bisect back to the
    // first id whose seek reads, so rows just after the damaged page are not skipped.
    const reads = (id: number) => {
      try {
        statement.iterate(id).next();
        return true;
      } catch {
        return false;
      }
    };
    let bad = last + 1;
    let step = 1;
    while (bad + step < MAX_ID && !reads(bad + step)) {
      bad += step;
      step *= 2;
    }
    if (bad + step >= MAX_ID) return;
    let good = bad + step;
    while (good - bad > 1) {
      const mid = Math.floor((good + bad) / 2);
      if (reads(mid)) good = mid;
      else bad = mid;
    }
    from = good;
  }
}
