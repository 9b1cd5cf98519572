/**
 * The `http` source: `POST /api/v1/readings` on the shared HTTP listener, with an NDJSON body
 * (one reading per line; any Content-Type but `application/json`) or, with Content-Type
 * `application/json`, a JSON array of readings.
 *
 * Responses: 202 once the readings are queued, or with `?sync=1` 200 once they are committed;
 * 400 when any line is invalid — the valid lines of such a body are still stored and the
 * response lists every rejected line (so exactly the lines not listed were stored), unless more
 * than {@link MAX_LISTED_ERRORS} lines are invalid, in which case nothing is stored; 413 over the
 * size limit, and when the body holds more readings than the whole buffer (`--buffer-size`) can
 * ever take (retrying cannot help; nothing stored); 503 with `Retry-After` when the buffer cannot
 * take the whole body now (nothing stored).
 *
 * @module
 */

import type { HttpServer } from "../serve/mod.ts";
import type { Emit } from "../pipeline.ts";
import type { Reading } from "../reading.ts";
import { LineSplitter } from "./_lines.ts";
import {
  LIMITS,
  parseJsonLine,
  type ParseResult,
  readingFromJson,
  type RejectReason,
  type SensorLimit,
} from "./_reading_parser.ts";
import type { Rejections } from "./_rejections.ts";
import type { Source } from "./source.ts";

/** The ingest path. */
export const INGEST_PATH = "/api/v1/readings";
/** Beyond this many invalid lines in one body, the body is refused as a whole. */
export const MAX_LISTED_ERRORS = 1000;

/** What the ingest endpoint needs from the pipeline. */
export interface IngestPipeline {
  /** Free places in the buffer now. */
  readonly room: number;
  /** Readings in the buffer now: with {@link room}, the buffer's whole size. */
  readonly pendingCount: number;
  readonly counters: { readonly taken: number };
  waitStored(target: number): Promise<boolean>;
}

/** Options of {@link HttpIngestSource}. */
export interface HttpIngestOptions {
  http: HttpServer;
  pipeline: IngestPipeline;
  rejections: Rejections;
  maxBodyBytes: number;
  /** The `--max-sensors` limit shared by the push sources; none when absent. */
  sensorLimit?: SensorLimit;
  /** Longest wait for the commit of a `?sync=1` request before answering 504, ms (default 10 000). */
  syncTimeoutMs?: number;
  /** Wall clock in unix ms, fills a missing `ts`; injectable for tests. */
  now?: () => number;
}

/** One rejected line (NDJSON, 1-based) or array element (0-based). */
interface LineError {
  line?: number;
  index?: number;
  reason: RejectReason;
  message: string;
}

/** Rejected lines of one body by reason: how many, and the first one's problem. */
type Tally = Map<RejectReason, { n: number; message: string; where: string }>;

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** Reads at most `max` bytes of `body`; null when it is longer. */
async function readLimited(body: ReadableStream<Uint8Array> | null, max: number): Promise<Uint8Array | null> {
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel().catch(() => {});
      return null;
    }
    parts.push(value);
  }
  if (parts.length === 1) return parts[0];
  const all = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  return all;
}

/** Readings pushed by HTTP clients. */
export class HttpIngestSource implements Source {
  readonly name = "http";
  readonly #options: HttpIngestOptions;
  readonly #now: () => number;
  #emit: Emit | undefined;

  /** Registers the route at once; until {@link start} (and after {@link stop}) it answers 503. */
  constructor(options: HttpIngestOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    options.http.route("POST", INGEST_PATH, (request, url) => this.handle(request, url));
  }

  /** Starts taking readings. */
  start(emit: Emit): void {
    this.#emit = emit;
  }

  /** Refuses new bodies (503); the listener itself is stopped by the lifecycle. */
  stop(): void {
    this.#emit = undefined;
  }

  /** Handles one POST; public so tests can call it without a socket. */
  async handle(request: Request, url: URL): Promise<Response> {
    const { maxBodyBytes, rejections, pipeline } = this.#options;
    if (!this.#emit) {
      return json(503, { error: "not taking readings now (starting or stopping)", accepted: 0 }, {
        "retry-after": "5",
      });
    }
    const encoding = request.headers.get("content-encoding");
    if (encoding !== null && encoding.trim().toLowerCase() !== "identity") {
      return json(415, { error: "Content-Encoding is not supported; send the body uncompressed", accepted: 0 });
    }
    const declared = Number(request.headers.get("content-length") ?? NaN);
    const body = declared > maxBodyBytes ? null : await readLimited(request.body, maxBodyBytes);
    if (body === null) {
      rejections.reject("body_too_large", `body larger than ${maxBodyBytes} bytes`, "POST " + INGEST_PATH);
      return json(413, { error: `body larger than ${maxBodyBytes} bytes; send smaller batches` });
    }

    const readings: Reading[] = [];
    const errors: LineError[] = [];
    const tally: Tally = new Map();
    const bad = (reason: RejectReason, message: string, where: { line?: number; index?: number }) => {
      const seen = tally.get(reason);
      if (seen) seen.n++;
      else tally.set(reason, { n: 1, message, where: where.line ? `line ${where.line}` : `element ${where.index}` });
      if (errors.length <= MAX_LISTED_ERRORS) errors.push({ ...where, reason, message });
    };
    const now = this.#now();
    const limit = this.#options.sensorLimit;
    const admit = (r: ParseResult): ParseResult => limit?.admit(r) ?? r;
    const mediaType = (request.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    if (mediaType === "application/json") {
      let text: string;
      try {
        text = new TextDecoder("utf-8", { fatal: true }).decode(body);
      } catch {
        rejections.reject("invalid_utf8", "body is not valid UTF-8", "POST " + INGEST_PATH);
        return json(400, { error: "body is not valid UTF-8", accepted: 0 });
      }
      let items: unknown;
      try {
        items = JSON.parse(text);
      } catch (e) {
        // SyntaxError, or RangeError for absurdly deep nesting: either way not a usable array.
        rejections.reject("invalid_json", "body is not a valid JSON array", "POST " + INGEST_PATH);
        return json(400, {
          error: `body is not a valid JSON array: ${(e as Error).message.slice(0, 200)}`,
          accepted: 0,
        });
      }
      if (!Array.isArray(items)) {
        rejections.reject("invalid_json", "body is not a JSON array", "POST " + INGEST_PATH);
        return json(400, { error: "body is not a JSON array", accepted: 0 });
      }
      for (let i = 0; i < items.length; i++) {
        const r = admit(readingFromJson(items[i], now));
        if (r.ok) readings.push(r.reading);
        else bad(r.reason, r.message, { index: i });
      }
    } else {
      const lines = new LineSplitter(
        LIMITS.lineBytesMax,
        (line, lineNo) => {
          const r = admit(parseJsonLine(line, now));
          if (r.ok) readings.push(r.reading);
          else bad(r.reason, r.message, { line: lineNo });
        },
        (reason, message, lineNo) => bad(reason, message, { line: lineNo }),
      );
      lines.push(body);
      lines.end();
    }
    const rejected = errors.length > MAX_LISTED_ERRORS
      ? [...tally.values()].reduce((sum, t) => sum + t.n, 0)
      : errors.length;
    if (readings.length === 0 && rejected === 0) {
      return json(400, { error: "no readings in the body", accepted: 0 });
    }
    if (errors.length > MAX_LISTED_ERRORS) {
      this.#count(tally);
      rejections.reject("body_refused", "too many invalid lines", "POST " + INGEST_PATH, readings.length);
      return json(400, {
        error: `more than ${MAX_LISTED_ERRORS} invalid lines; nothing stored`,
        accepted: 0,
        rejected: rejected + readings.length,
        errors: errors.slice(0, MAX_LISTED_ERRORS),
      });
    }
    // Check and take in one synchronous step: either the whole body is taken or none of it.
    const bufferSize = pipeline.room + pipeline.pendingCount;
    if (readings.length > bufferSize) {
      return json(413, {
        error: `${readings.length} readings in one body, more than the buffer holds (--buffer-size ${bufferSize}); ` +
          "send smaller batches",
        accepted: 0,
      });
    }
    if (readings.length > pipeline.room) {
      return json(503, { error: "buffer full; retry later", accepted: 0 }, { "retry-after": "1" });
    }
    // The source may have been stopped while the body was being read.
    const emit = this.#emit;
    if (!emit) {
      return json(503, { error: "not taking readings now (stopping)", accepted: 0 }, { "retry-after": "5" });
    }
    this.#count(tally);
    const accepted = readings.length > 0 ? emit(readings) : 0;
    const target = pipeline.counters.taken;
    const sync = url.searchParams.get("sync") === "1" || url.searchParams.get("sync") === "true";
    let committed = false;
    if (sync && accepted > 0) {
      const timeoutMs = this.#options.syncTimeoutMs ?? 10_000;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), timeoutMs));
      const outcome = await Promise.race([pipeline.waitStored(target), timeout]);
      clearTimeout(timer);
      if (outcome !== true) {
        return json(outcome === "timeout" ? 504 : 500, {
          error: "readings queued but their commit was not confirmed",
          accepted,
          rejected,
          committed: false,
        });
      }
      committed = true;
    }
    if (errors.length > 0) return json(400, { accepted, rejected, committed, errors });
    return json(sync ? 200 : 202, { accepted, rejected: 0, committed });
  }

  #count(tally: Tally): void {
    for (const [reason, { n, message, where }] of tally) {
      this.#options.rejections.reject(reason, message, `${where} of a POST ${INGEST_PATH} body`, n);
    }
  }
}
