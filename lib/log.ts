/**
 * Logging through LogTape: readable lines on a terminal, JSON lines otherwise, always to stderr.
 *
 * The sink writes synchronously, so a record logged just before `Deno.exit` is never lost and
 * records from a dying process come out in order.
 *
 * @module
 */

import {
  configureSync,
  disposeSync,
  getAnsiColorFormatter,
  getJsonLinesFormatter,
  getLogger,
  getTextFormatter,
  type Logger,
  type LogRecord,
  type Sink,
  type TextFormatter,
} from "@logtape/logtape";

/** `auto` picks `pretty` on a terminal and `json` otherwise. */
export type LogFormat = "auto" | "pretty" | "json";
/** Log levels accepted by `--log-level`. */
export type LogLevelName = "debug" | "info" | "warning" | "error";

/** Options of {@link setupLogging}. */
export interface LogOptions {
  format: LogFormat;
  level: LogLevelName;
  /** Where lines go; stderr by default. */
  write?: (bytes: Uint8Array) => void;
}

/** The logger edgelog's modules log through, optionally with a sub-category. */
export function logger(...sub: string[]): Logger {
  return getLogger(["edgelog", ...sub]);
}

/**
 * Configures LogTape once per process; `auto` picks pretty output on a terminal.
 *
 * @example
 * ```ts
 * setupLogging({ format: "json", level: "info" });
 * logger().info("started {db}", { db: "./data/edgelog.db" });
 * ```
 */
export function setupLogging(options: LogOptions): void {
  const pretty = options.format === "pretty" || (options.format === "auto" && Deno.stderr.isTerminal());
  // Pretty lines read as sentences: values without quotes (JSON keeps its typed fields). NO_COLOR
  // (https://no-color.org) turns the colours off; Deno reads it at start, no permission needed.
  const formatter: TextFormatter = pretty
    ? (Deno.noColor ? getTextFormatter : getAnsiColorFormatter)({
      timestamp: "date-time-tz",
      category: ".",
      value: "bare",
    })
    : getJsonLinesFormatter({ properties: "flatten", message: "rendered" });
  const write = options.write ?? writeStderr;
  const encoder = new TextEncoder();
  const sink: Sink = (record: LogRecord) => write(encoder.encode(formatter(record)));
  configured = true;
  configureSync({
    reset: true,
    sinks: { stderr: sink },
    loggers: [
      { category: ["edgelog"], sinks: ["stderr"], lowestLevel: options.level },
      { category: ["logtape", "meta"], sinks: ["stderr"], lowestLevel: "warning" },
    ],
  });
}

let configured = false;

/** True once {@link setupLogging} ran (subcommands may print plain lines instead). */
export function isLoggingConfigured(): boolean {
  return configured;
}

/** Flushes and detaches the sinks; call once before the process exits. */
export function flushLogs(): void {
  disposeSync();
}

function writeStderr(bytes: Uint8Array): void {
  try {
    let off = 0;
    while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
  } catch {
    // stderr is gone (closed pipe): there is nowhere left to report to.
  }
}
