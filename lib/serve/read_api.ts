/**
 * The read API of the HTTP listener: `GET /api/v1/sensors` and `GET /api/v1/readings`.
 *
 * It reads through its own read-only connection, so the writer is never blocked (WAL readers
 * see the last committed state and take no write lock), and in its own worker thread
 * ({@link ReadApiWorker}), so a long scan never delays the writer's commits either.
 *
 * Parsing and queries are the read side's ({@link Reader} in `lib/store/`), shared with the
 * `query` subcommand, so downsampled history reads the same way in both.
 *
 * @module
 */

import { ConfigError, DatabaseError } from "../errors.ts";
import { Reader } from "../store/mod.ts";
import { parseDurationMs, parseTime } from "../units.ts";

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

/** One sensor with its newest reading, as `GET /api/v1/sensors` lists it. */
export interface SensorSummary {
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

/** Parses a duration parameter such as `500ms`, `10s`, `5m`, `1h`, `2d` or plain milliseconds. */
function durationParam(text: string, name: string): number {
  let ms = NaN;
  try {
    ms = parseDurationMs(text, "ms");
  } catch { /* reported below */ }
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new ReadApiError(`${name}: expected a duration such as 10s, 5m or 1h, got ${JSON.stringify(text)}`);
  }
  return ms;
}

/**
 * Parses a time parameter: unix milliseconds, an ISO 8601 date, `now`, or a duration before now
 * (`-1h`), with the same rules as the read commands; a bad one is a 400 naming the parameter.
 */
function timeParam(text: string, name: string, now: number): number {
  try {
    return parseTime(text, name, now);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new ReadApiError(`${name}: expected unix ms, an ISO 8601 time, 'now' or '-1h', got ${JSON.stringify(text)}`);
  }
}

/** Read-only access to one edgelog database for the HTTP API, through the shared {@link Reader}. */
export class ReadApi {
  readonly #path: string;
  readonly #now: () => number;
  #reader: Reader | undefined;

  /** `path` is the database file; `now` the wall clock (injectable for tests). */
  constructor(path: string, now: () => number = Date.now) {
    this.#path = path;
    this.#now = now;
  }

  #open(): Reader {
    try {
      this.#reader ??= Reader.open(this.#path);
    } catch (e) {
      if (e instanceof DatabaseError) throw new ReadApiError(e.message, 503);
      throw e;
    }
    this.#reader.reloadSensors();
    return this.#reader;
  }

  /** Every sensor, by name, with its newest reading. */
  sensors(): SensorSummary[] {
    const reader = this.#open();
    return reader.sensors()
      .map((s) => {
        const last = reader.latest(s);
        return { name: s.name, unit: s.unit, last_ts: last?.ts ?? null, last_value: last?.value ?? null };
      })
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Readings of one sensor from `params` (`sensor`, `since`, `until`, `every`, `limit`). */
  readings(params: URLSearchParams): ReadingsResult {
    const now = this.#now();
    const sensor = params.get("sensor");
    if (!sensor) throw new ReadApiError("sensor: required, e.g. ?sensor=temperature-1");
    const until = params.has("until") ? timeParam(params.get("until")!, "until", now) : now;
    const since = params.has("since") ? timeParam(params.get("since")!, "since", now) : until - DEFAULT_SPAN_MS;
    if (since > until) throw new ReadApiError("since: must not be after until");
    const every = params.has("every") ? durationParam(params.get("every")!, "every") : null;
    const limit = params.has("limit") ? Number(params.get("limit")) : MAX_RAW_POINTS;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RAW_POINTS) {
      throw new ReadApiError(`limit: expected an integer from 1 to ${MAX_RAW_POINTS}`);
    }
    const reader = this.#open();
    const info = reader.sensors().find((s) => s.name === sensor);
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
    // `until` is inclusive here; the reader's ranges end before `until`.
    const range = { sensors: [info], since, until: until + 1 };
    if (every === null) {
      for (const r of reader.readings(range, limit + 1)) {
        if (result.t.length === limit) {
          result.truncated = true;
          break;
        }
        result.t.push(r.ts);
        result.value.push(r.value);
      }
      return result;
    }
    if ((until - since) / every > MAX_BUCKETS) {
      throw new ReadApiError(`every: too fine for this range (more than ${MAX_BUCKETS} buckets); use a larger one`);
    }
    result.min = [];
    result.max = [];
    result.count = [];
    for (const b of reader.buckets(range, every)) {
      result.t.push(b.ts);
      result.value.push(b.avg);
      result.min.push(b.min);
      result.max.push(b.max);
      result.count.push(b.count);
    }
    return result;
  }

  /** Closes the read connection (before the writer's final checkpoint). */
  close(): void {
    this.#reader?.close();
    this.#reader = undefined;
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

  /** Reads the database at `path` from now on (a fresh file after a damaged one was moved aside). */
  async reopen(path: string): Promise<void> {
    await this.#request({ kind: "open", path });
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
  async sensors(): Promise<SensorSummary[]> {
    return await this.#request({ kind: "sensors" }) as SensorSummary[];
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
