/**
 * The read API of the HTTP listener: `GET /api/v1/sensors` and `GET /api/v1/readings`.
 *
 * It reads through its own read-only connection, so the writer is never blocked (WAL readers
 * see the last committed state and take no write lock), and in its own worker thread
 * ({@link ReadApiWorker}), so a long scan never delays the writer's commits either.
 *
 * TODO: the `query` subcommand's read engine is being written at the same time; once both are
 * merged, this module should call that engine instead of carrying its own SQL and time parsing.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";

/** Rows a raw (not downsampled) readings request returns at most. */
export const MAX_RAW_POINTS = 100_000;
/** Buckets a downsampled request returns at most. */
export const MAX_BUCKETS = 100_000;
/** Default span of a readings request: the last hour. */
export const DEFAULT_SPAN_MS = 3_600_000;

/** A bad request, answered with 400 (or 404 for an unknown sensor) and its message. */
export class ReadApiError extends Error {
  readonly status: number;
  constructor(message: string, status = 400) {
    super(message);
    this.name = "ReadApiError";
    this.status = status;
  }
}

/** One sensor with its newest reading. */
export interface SensorInfo {
  name: string;
  unit: string | null;
  /** Newest reading's time (unix ms) and value; null when the sensor has none. */
  last_ts: number | null;
  last_value: number | null;
}

/** Readings of one sensor, in columns (the shape charting libraries take). */
export interface ReadingsResult {
  sensor: string;
  unit: string | null;
  since: number;
  until: number;
  /** Bucket width in ms when downsampled, null for raw readings. */
  every_ms: number | null;
  /** Times (unix ms; bucket starts when downsampled) and values (bucket averages). */
  t: number[];
  value: number[];
  /** Per-bucket minimum, maximum and count; present only when downsampled. */
  min?: number[];
  max?: number[];
  count?: number[];
  /** True when a raw request hit {@link MAX_RAW_POINTS} (ask for fewer, or use `every`). */
  truncated: boolean;
}

const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses a duration such as `500ms`, `10s`, `5m`, `1h`, `2d` or plain milliseconds. */
export function parseDuration(text: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  const ms = m ? Number(m[1]) * UNITS_MS[m[2] ?? "ms"] : NaN;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new ReadApiError(`${name}: expected a duration such as 10s, 5m or 1h, got ${JSON.stringify(text)}`);
  }
  return Math.round(ms);
}

/**
 * Parses a time: unix milliseconds, an ISO 8601 date, `now`, or a duration before now (`-1h`).
 */
export function parseTime(text: string, name: string, now: number): number {
  const t = text.trim();
  if (t === "now") return now;
  if (t.startsWith("-")) return now - parseDuration(t.slice(1), name);
  if (/^\d+$/.test(t)) return Number(t);
  const ms = Date.parse(t);
  if (Number.isNaN(ms)) {
    throw new ReadApiError(`${name}: expected unix ms, an ISO 8601 time, 'now' or '-1h', got ${JSON.stringify(text)}`);
  }
  return ms;
}

/** Read-only access to one edgelog database for the HTTP API. */
export class ReadApi {
  readonly #path: string;
  readonly #now: () => number;
  #db: DatabaseSync | undefined;
  #statements = new Map<string, StatementSync>();

  /** `path` is the database file; `now` the wall clock (injectable for tests). */
  constructor(path: string, now: () => number = Date.now) {
    this.#path = path;
    this.#now = now;
  }

  #prepare(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      this.#db ??= new DatabaseSync(this.#path, { readOnly: true, timeout: 1000 });
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** Every sensor, by name, with its newest reading. */
  sensors(): SensorInfo[] {
    const rows = this.#prepare(
      `SELECT s.name, s.unit,
              (SELECT r.ts FROM readings r WHERE r.sensor_id = s.id ORDER BY r.ts DESC LIMIT 1) AS last_ts,
              (SELECT r.value FROM readings r WHERE r.sensor_id = s.id ORDER BY r.ts DESC LIMIT 1) AS last_value
         FROM sensors s ORDER BY s.name`,
    ).all() as { name: string; unit: string | null; last_ts: number | null; last_value: number | null }[];
    return rows.map((r) => ({ name: r.name, unit: r.unit, last_ts: r.last_ts, last_value: r.last_value }));
  }

  /** Readings of one sensor from `params` (`sensor`, `since`, `until`, `every`, `limit`). */
  readings(params: URLSearchParams): ReadingsResult {
    const now = this.#now();
    const sensor = params.get("sensor");
    if (!sensor) throw new ReadApiError("sensor: required, e.g. ?sensor=temperature-1");
    const until = params.has("until") ? parseTime(params.get("until")!, "until", now) : now;
    const since = params.has("since") ? parseTime(params.get("since")!, "since", now) : until - DEFAULT_SPAN_MS;
    if (since > until) throw new ReadApiError("since: must not be after until");
    const every = params.has("every") ? parseDuration(params.get("every")!, "every") : null;
    const limit = params.has("limit") ? Number(params.get("limit")) : MAX_RAW_POINTS;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RAW_POINTS) {
      throw new ReadApiError(`limit: expected an integer from 1 to ${MAX_RAW_POINTS}`);
    }
    const info = this.#prepare("SELECT id, unit FROM sensors WHERE name = ?").get(sensor) as
      | { id: number; unit: string | null }
      | undefined;
    if (info === undefined) throw new ReadApiError(`sensor: no sensor named ${JSON.stringify(sensor)}`, 404);
    const result: ReadingsResult = {
      sensor,
      unit: info.unit,
      since,
      until,
      every_ms: every,
      t: [],
      value: [],
      truncated: false,
    };
    if (every === null) {
      const rows = this.#prepare(
        "SELECT ts, value FROM readings WHERE sensor_id = ? AND ts >= ? AND ts <= ? ORDER BY ts LIMIT ?",
      ).all(info.id, since, until, limit + 1) as { ts: number; value: number }[];
      result.truncated = rows.length > limit;
      for (const r of rows.slice(0, limit)) {
        result.t.push(r.ts);
        result.value.push(r.value);
      }
      return result;
    }
    if ((until - since) / every > MAX_BUCKETS) {
      throw new ReadApiError(`every: too fine for this range (more than ${MAX_BUCKETS} buckets); use a larger one`);
    }
    const rows = this.#prepare(
      `SELECT (ts / CAST(?1 AS INTEGER)) * CAST(?1 AS INTEGER) AS t,
              avg(value) AS avg, min(value) AS min, max(value) AS max, count(*) AS n
         FROM readings WHERE sensor_id = ?2 AND ts >= ?3 AND ts <= ?4
        GROUP BY t ORDER BY t`,
    ).all(every, info.id, since, until) as { t: number; avg: number; min: number; max: number; n: number }[];
    result.min = [];
    result.max = [];
    result.count = [];
    for (const r of rows) {
      result.t.push(r.t);
      result.value.push(r.avg);
      result.min.push(r.min);
      result.max.push(r.max);
      result.count.push(r.n);
    }
    return result;
  }

  /** Closes the read connection (before the writer's final checkpoint). */
  close(): void {
    this.#statements.clear();
    this.#db?.close();
    this.#db = undefined;
  }
}

/** A request to the read worker. */
export type ReadRequest =
  | { id: number; kind: "open"; path: string }
  | { id: number; kind: "sensors" }
  | { id: number; kind: "readings"; query: string }
  | { id: number; kind: "close" };

/** The read worker's answer to the request with the same `id`. */
export type ReadReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; status: number; message: string };

/** Requests waiting for the worker at most; beyond it requests are answered 503 at once. */
export const MAX_QUEUED_READS = 64;

/**
 * {@link ReadApi} in a worker thread: queries run off the logger's event loop, so a scan over
 * millions of rows delays no commit.
 *
 * @example
 * ```ts
 * const reads = await ReadApiWorker.open("./data/edgelog.db");
 * console.log(await reads.sensors());
 * await reads.close();
 * ```
 */
export class ReadApiWorker {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #closed = false;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.onmessage = ({ data: reply }: MessageEvent<ReadReply>) => {
      const waiter = this.#waiting.get(reply.id);
      if (waiter === undefined) return;
      this.#waiting.delete(reply.id);
      if (reply.ok) waiter.resolve(reply.value);
      else waiter.reject(new ReadApiError(reply.message, reply.status));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      this.#failAll(`the read worker failed: ${event.message}`);
    };
  }

  /** Starts the worker and opens `path` read-only in it. */
  static async open(path: string): Promise<ReadApiWorker> {
    const worker = new Worker(new URL("./read_worker.ts", import.meta.url), { type: "module" });
    const reads = new ReadApiWorker(worker);
    try {
      await reads.#request({ kind: "open", path });
    } catch (e) {
      worker.terminate();
      throw e;
    }
    return reads;
  }

  #request(
    request: { kind: "open"; path: string } | { kind: "sensors" | "close" } | {
      kind: "readings";
      query: string;
    },
  ): Promise<unknown> {
    if (this.#closed) return Promise.reject(new ReadApiError("the read API is closed", 503));
    if (this.#waiting.size >= MAX_QUEUED_READS) {
      return Promise.reject(new ReadApiError("too many read requests at once; try again", 503));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#worker.postMessage({ ...request, id } as ReadRequest);
    });
  }

  #failAll(message: string): void {
    for (const waiter of this.#waiting.values()) waiter.reject(new ReadApiError(message, 503));
    this.#waiting.clear();
  }

  /** See {@link ReadApi.sensors}. */
  async sensors(): Promise<SensorInfo[]> {
    return await this.#request({ kind: "sensors" }) as SensorInfo[];
  }

  /** See {@link ReadApi.readings}. */
  async readings(params: URLSearchParams): Promise<ReadingsResult> {
    return await this.#request({ kind: "readings", query: params.toString() }) as ReadingsResult;
  }

  /**
   * Closes the read connection (waiting at most `timeoutMs` for a query in progress) and ends
   * the worker; requests still waiting are answered 503.
   */
  async close(timeoutMs = 2000): Promise<void> {
    if (this.#closed) return;
    const closing = this.#request({ kind: "close" });
    this.#closed = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      closing.catch(() => {}),
      new Promise((resolve) => timer = setTimeout(resolve, timeoutMs)),
    ]);
    clearTimeout(timer);
    this.#worker.terminate();
    this.#failAll("the read API is closed");
  }
}
