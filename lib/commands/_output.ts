/**
 * Buffered, synchronous text output to stdout or a file, for commands that stream large results
 * in constant memory. A closed pipe (`edgelog export | head`) ends the output quietly.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { ConfigError } from "../errors.ts";

const BUFFER_BYTES = 256 * 1024;

/** Where a command writes its result. */
export class Output {
  readonly #file: Deno.FsFile | undefined;
  readonly #encoder = new TextEncoder();
  /** One buffer for the whole run: output costs no allocation per write. */
  readonly #buffer = new Uint8Array(BUFFER_BYTES);
  #used = 0;
  /** True once the reader went away (broken pipe); writes are dropped from then on. */
  closedByReader = false;
  /** Bytes written out so far. */
  bytesWritten = 0;

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

  /** Encodes `text` into the fixed buffer, writing the buffer out whenever it fills. */
  write(text: string): void {
    let rest = text;
    while (rest.length > 0) {
      this.reserve(4 * 1024);
      const { read, written } = this.#encoder.encodeInto(rest, this.#buffer.subarray(this.#used));
      this.#used += written;
      rest = read < rest.length ? rest.slice(read) : "";
    }
  }

  /**
   * Makes room for `bytes` more bytes (at most 64 KiB) before a series of the unchecked
   * writes below ({@link bytes}, {@link ascii}, {@link integer}, {@link isoTime}); they
   * let a hot loop format a record without allocating strings.
   */
  reserve(bytes: number): void {
    if (this.#used + bytes > BUFFER_BYTES) this.flush();
  }

  /** Appends raw bytes (e.g. a pre-encoded sensor name); call {@link reserve} first. */
  bytes(b: Uint8Array): void {
    this.#buffer.set(b, this.#used);
    this.#used += b.length;
  }

  /** Appends an ASCII-only string such as `String(number)`; call {@link reserve} first. */
  ascii(text: string): void {
    const buf = this.#buffer;
    let used = this.#used;
    for (let i = 0; i < text.length; i++) buf[used++] = text.charCodeAt(i);
    this.#used = used;
  }

  /** Appends a safe integer in decimal; call {@link reserve} first. */
  integer(n: number): void {
    const buf = this.#buffer;
    let used = this.#used;
    if (n < 0) {
      buf[used++] = 45;
      n = -n;
    }
    const start = used;
    do {
      buf[used++] = 48 + (n % 10);
      n = Math.floor(n / 10);
    } while (n > 0);
    buf.subarray(start, used).reverse();
    this.#used = used;
  }

  /**
   * Appends unix-ms `ts` as ISO 8601 UTC (`2026-01-31T12:00:00.000Z`, what `toISOString`
   * prints for years 0..9999); call {@link reserve} first.
   */
  isoTime(ts: number): void {
    const days = Math.floor(ts / 86_400_000);
    let msOfDay = ts - days * 86_400_000;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    const z = days + 719_468;
    const era = Math.floor(z / 146_097);
    const doe = z - era * 146_097;
    const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
    const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
    const mp = Math.floor((5 * doy + 2) / 153);
    const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
    const month = mp < 10 ? mp + 3 : mp - 9;
    const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    if (year < 0 || year > 9999) {
      this.ascii(new Date(ts).toISOString());
      return;
    }
    const h = Math.floor(msOfDay / 3_600_000);
    msOfDay -= h * 3_600_000;
    const m = Math.floor(msOfDay / 60_000);
    msOfDay -= m * 60_000;
    const sec = Math.floor(msOfDay / 1000);
    const ms = msOfDay - sec * 1000;
    this.#digits(year, 4);
    this.#buffer[this.#used++] = 45;
    this.#digits(month, 2);
    this.#buffer[this.#used++] = 45;
    this.#digits(day, 2);
    this.#buffer[this.#used++] = 84; // T
    this.#digits(h, 2);
    this.#buffer[this.#used++] = 58;
    this.#digits(m, 2);
    this.#buffer[this.#used++] = 58;
    this.#digits(sec, 2);
    this.#buffer[this.#used++] = 46;
    this.#digits(ms, 3);
    this.#buffer[this.#used++] = 90; // Z
  }

  #digits(n: number, width: number): void {
    for (let i = width - 1; i >= 0; i--) {
      this.#buffer[this.#used + i] = 48 + (n % 10);
      n = Math.floor(n / 10);
    }
    this.#used += width;
  }

  /** Writes everything buffered. */
  flush(): void {
    const bytes = this.#buffer.subarray(0, this.#used);
    this.#used = 0;
    if (this.closedByReader || bytes.length === 0) return;
    try {
      const sink = this.#file ?? Deno.stdout;
      let off = 0;
      while (off < bytes.length) off += sink.writeSync(bytes.subarray(off));
      this.bytesWritten += bytes.length;
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
