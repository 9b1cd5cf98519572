/**
 * Splits a byte stream into lines with a bound on line length, decoding each line as strict
 * UTF-8 on its own, so one bad line never spoils its neighbours and memory stays bounded.
 *
 * @module
 */

import type { RejectReason } from "./_reading_parser.ts";

/** Receives each non-blank line (without `\n` or `\r\n`) and its 1-based number. */
export type OnLine = (line: string, lineNo: number) => void;
/** Receives each line that could not be decoded or was too long. */
export type OnBadLine = (reason: RejectReason, message: string, lineNo: number) => void;

const NL = 0x0a;
const CR = 0x0d;

/**
 * Incremental line splitter.
 *
 * @example
 * ```ts
 * const lines = new LineSplitter(65536, (line, n) => console.log(n, line), () => {});
 * lines.push(new TextEncoder().encode("a 1\nb 2\n"));
 * lines.end();
 * ```
 */
export class LineSplitter {
  readonly #maxLineBytes: number;
  readonly #onLine: OnLine;
  readonly #onBad: OnBadLine;
  readonly #decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  /** Bytes of the unfinished line, at most maxLineBytes. */
  #parts: Uint8Array[] = [];
  #partBytes = 0;
  /** The unfinished line is over the limit: its bytes are discarded up to the next newline. */
  #tooLong = false;
  #lineNo = 0;

  constructor(maxLineBytes: number, onLine: OnLine, onBad: OnBadLine) {
    this.#maxLineBytes = maxLineBytes;
    this.#onLine = onLine;
    this.#onBad = onBad;
  }

  /** Number of lines completed so far. */
  get lines(): number {
    return this.#lineNo;
  }

  /** Feeds the next chunk of bytes. */
  push(chunk: Uint8Array): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NL, start);
      if (nl < 0) {
        this.#keep(chunk.subarray(start));
        return;
      }
      if (this.#partBytes === 0 && !this.#tooLong) {
        this.#finish(chunk.subarray(start, nl), nl - start);
      } else {
        this.#keep(chunk.subarray(start, nl));
        this.#finish(this.#joined(), this.#partBytes);
      }
      this.#parts = [];
      this.#partBytes = 0;
      this.#tooLong = false;
      start = nl + 1;
    }
  }

  /** Ends the stream: a last line without a newline still counts. */
  end(): void {
    if (this.#partBytes > 0 || this.#tooLong) this.#finish(this.#joined(), this.#partBytes);
    this.#parts = [];
    this.#partBytes = 0;
    this.#tooLong = false;
  }

  #keep(bytes: Uint8Array): void {
    if (this.#tooLong) return;
    if (this.#partBytes + bytes.length > this.#maxLineBytes) {
      this.#tooLong = true;
      this.#parts = [];
      this.#partBytes = 0;
      return;
    }
    // Copy: the caller may reuse its buffer.
    this.#parts.push(bytes.slice());
    this.#partBytes += bytes.length;
  }

  #joined(): Uint8Array {
    if (this.#parts.length === 1) return this.#parts[0];
    const all = new Uint8Array(this.#partBytes);
    let off = 0;
    for (const p of this.#parts) {
      all.set(p, off);
      off += p.length;
    }
    return all;
  }

  #finish(bytes: Uint8Array, length: number): void {
    const lineNo = ++this.#lineNo;
    if (this.#tooLong || length > this.#maxLineBytes) {
      this.#onBad("line_too_long", `line longer than ${this.#maxLineBytes} bytes`, lineNo);
      return;
    }
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === CR) end--;
    let line: string;
    try {
      line = this.#decoder.decode(bytes.subarray(0, end));
    } catch {
      this.#onBad("invalid_utf8", "line is not valid UTF-8", lineNo);
      return;
    }
    if (line.trim() === "") return;
    this.#onLine(line, lineNo);
  }
}
