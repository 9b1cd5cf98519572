/**
 * The `stdin` source: NDJSON readings from a pipe, one per line
 * (`{"sensor":"t1","value":21.5,"ts":1732280000000,"unit":"°C"}`, `ts` optional).
 *
 * Reading from a pipe is pulled, so this source applies real back-pressure: while the buffer is
 * full it stops reading, and the writer of the pipe blocks instead of readings being dropped.
 * End of input ends the source; when every source has ended the logger stops gracefully.
 *
 * @module
 */

import type { Emit } from "../pipeline.ts";
import type { Reading } from "../reading.ts";
import { LineSplitter } from "./_lines.ts";
import { LIMITS, type LineFormat, parseLine, type SensorLimit } from "./_reading_parser.ts";
import type { Rejections } from "./_rejections.ts";
import type { Source } from "./source.ts";
import { logger } from "../log.ts";

/** Options of {@link StdinSource}. */
export interface StdinOptions {
  /** The byte stream to read; `Deno.stdin.readable` by default. */
  readable?: ReadableStream<Uint8Array>;
  /** Free places in the buffer now (the pipeline's `room`), for back-pressure. */
  room: () => number;
  rejections: Rejections;
  /** `ndjson` (default) or `auto` (`name value [unit]` lines too). */
  format?: LineFormat;
  maxLineBytes?: number;
  /** The `--max-sensors` limit shared by the push sources; none when absent. */
  sensorLimit?: SensorLimit;
  /** Wall clock in unix ms, fills a missing `ts`; injectable for tests. */
  now?: () => number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Readings from standard input until end of input. */
export class StdinSource implements Source {
  readonly name = "stdin";
  readonly ended: Promise<void>;
  readonly #options: StdinOptions;
  readonly #now: () => number;
  readonly #splitter: LineSplitter;
  #resolveEnded!: () => void;
  #batch: Reading[] = [];
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #loop: Promise<void> | undefined;
  #stopping = false;

  constructor(options: StdinOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.ended = new Promise((resolve) => this.#resolveEnded = resolve);
    const format = options.format ?? "ndjson";
    this.#splitter = new LineSplitter(
      options.maxLineBytes ?? LIMITS.lineBytesMax,
      (line, lineNo) => {
        const parsed = parseLine(line, format, this.#now());
        const r = options.sensorLimit?.admit(parsed) ?? parsed;
        if (r.ok) this.#batch.push(r.reading);
        else options.rejections.reject(r.reason, r.message, `line ${lineNo}`);
      },
      (reason, message, lineNo) => options.rejections.reject(reason, message, `line ${lineNo}`),
    );
  }

  /** Starts reading in the background. */
  start(emit: Emit): void {
    this.#loop = this.#run(emit);
  }

  async #run(emit: Emit): Promise<void> {
    const reader = (this.#options.readable ?? Deno.stdin.readable).getReader();
    this.#reader = reader;
    try {
      while (!this.#stopping) {
        const { value, done } = await reader.read();
        if (done) {
          this.#splitter.end();
          await this.#deliver(emit);
          if (!this.#stopping) {
            logger("sources").info("stdin: end of input after {lines} lines", { lines: this.#splitter.lines });
          }
          break;
        }
        this.#splitter.push(value);
        await this.#deliver(emit);
      }
    } catch (e) {
      if (!this.#stopping) logger("sources").error("stdin: reading failed: {error}", { error: String(e) });
    } finally {
      reader.releaseLock();
      this.#resolveEnded();
    }
  }

  /** Hands the parsed readings to the pipeline, waiting for room rather than dropping. */
  async #deliver(emit: Emit): Promise<void> {
    while (this.#batch.length > 0) {
      const room = this.#stopping ? this.#batch.length : this.#options.room();
      if (room <= 0) {
        await sleep(10);
        continue;
      }
      if (room >= this.#batch.length) {
        const batch = this.#batch;
        this.#batch = [];
        emit(batch);
      } else {
        emit(this.#batch.slice(0, room));
        this.#batch = this.#batch.slice(room);
      }
    }
  }

  /** Stops reading; readings already read are handed over before this resolves. */
  async stop(): Promise<void> {
    this.#stopping = true;
    try {
      await this.#reader?.cancel();
    } catch {
      // already closed or released
    }
    await this.#loop;
  }
}
