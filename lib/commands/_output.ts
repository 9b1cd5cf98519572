/**
 * Buffered, synchronous text output to stdout or a file, for commands that stream large results
 * in constant memory. A closed pipe (`edgelog export | head`) ends the output quietly.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { ConfigError } from "../config.ts";

const FLUSH_BYTES = 256 * 1024;

/** Where a command writes its result. */
export class Output {
  readonly #file: Deno.FsFile | undefined;
  readonly #encoder = new TextEncoder();
  #chunks: string[] = [];
  #size = 0;
  /** True once the reader went away (broken pipe); writes are dropped from then on. */
  closedByReader = false;
  /** Bytes written so far. */
  bytes = 0;

  private constructor(file: Deno.FsFile | undefined) {
    this.#file = file;
  }

  /** Standard output. */
  static stdout(): Output {
    return new Output(undefined);
  }

  /**
   * Checks that `path` can be created (its directory exists) without creating it; ConfigError
   * naming `option` otherwise. Call before any other work so bad usage changes nothing.
   */
  static checkPath(path: string, option: string): void {
    const dir = dirname(resolve(path));
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(dir);
    } catch {
      throw new ConfigError([`${option}: the directory ${dir} does not exist; create it first`]);
    }
    if (!info.isDirectory) throw new ConfigError([`${option}: ${dir} is not a directory`]);
    try {
      if (Deno.statSync(resolve(path)).isDirectory) throw new ConfigError([`${option}: ${path} is a directory`]);
    } catch (e) {
      if (e instanceof ConfigError) throw e;
    }
  }

  /** A new (or truncated) file at `path`, owner-only readable like the database. */
  static file(path: string, option: string): Output {
    Output.checkPath(path, option);
    try {
      return new Output(Deno.openSync(path, { write: true, create: true, truncate: true, mode: 0o600 }));
    } catch (e) {
      throw new ConfigError([`${option}: cannot write ${path}: ${(e as Error).message}`]);
    }
  }

  /** True when writing to a terminal. */
  get isTerminal(): boolean {
    return this.#file === undefined && Deno.stdout.isTerminal();
  }

  /** Queues `text`; written once enough is queued. */
  write(text: string): void {
    this.#chunks.push(text);
    this.#size += text.length;
    if (this.#size >= FLUSH_BYTES) this.flush();
  }

  /** Writes everything queued. */
  flush(): void {
    if (this.#chunks.length === 0) return;
    const bytes = this.#encoder.encode(this.#chunks.join(""));
    this.#chunks = [];
    this.#size = 0;
    if (this.closedByReader) return;
    try {
      const sink = this.#file ?? Deno.stdout;
      let off = 0;
      while (off < bytes.length) off += sink.writeSync(bytes.subarray(off));
      this.bytes += bytes.length;
    } catch (e) {
      if (e instanceof Deno.errors.BrokenPipe) this.closedByReader = true;
      else throw e;
    }
  }

  /** Flushes and closes a file output (stdout stays open). */
  close(): void {
    this.flush();
    this.#file?.close();
  }
}
