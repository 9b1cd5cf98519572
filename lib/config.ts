/**
 * Typed configuration for edgelog.
 *
 * Every setting has one name used everywhere: `--commit-interval` on the command line,
 * `EDGELOG_COMMIT_INTERVAL` in the environment and `"commit-interval"` in the JSON config
 * file. Precedence: defaults < file < environment < flags. Every invalid field is reported at
 * once, each naming where it came from.
 *
 * Longer than 400 lines because the settings table is one list, read top to bottom, that the
 * parser, the environment names and `--help` are all generated from.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ConfigError, InvalidValue } from "./errors.ts";
import { argsProblem, helpWidth, optionLines, wrap } from "./help.ts";
import type { ClockSettings } from "./clock.ts";
import { parseClockSync } from "./clock_sync.ts";
import { parseForwardTarget } from "./forward/mod.ts";
import type { LogFormat, LogLevelName } from "./log.ts";
import { DEFAULT_SOURCES, parseSourceList, type SourceSettings, type SourceSpec } from "./sources/mod.ts";
import { DEFAULT_COMPACT_AFTER_MS, DEFAULT_DB_PATH, type Durability, type OnDamage } from "./store/mod.ts";
import { type DurationUnit, parseDurationMs, parseSizeBytes } from "./units.ts";

/**
 * Settings of the `run` subcommand (the logger itself). The inputs' settings (`sources`,
 * `simRate`, `intervalMs`, `sysfsRoot`, …) are declared by the sources, in {@link SourceSettings};
 * the clock's (`clockSync`, …) by `clock.ts`, in {@link ClockSettings}.
 */
export interface RunConfig extends SourceSettings, ClockSettings {
  db: string;
  durability: Durability;
  /** What to do with a damaged database of edgelog's own: refuse it (exit 4) or move it aside and go on. */
  onDamage: OnDamage;
  commitIntervalMs: number;
  batchSize: number;
  bufferSize: number;
  /** Between PASSIVE checkpoints (ms); undefined: {@link checkpointIntervalOf}'s default. */
  checkpointIntervalMs?: number;
  shutdownTimeoutMs: number;
  statsIntervalMs: number;
  logFormat: LogFormat;
  logLevel: LogLevelName;
  /** `HOST:PORT` of the local HTTP listener; none when undefined. */
  listen?: string;
  /** Bearer token required by the HTTP listener (mandatory off loopback). */
  httpToken?: string;
  /** Upstreams to forward readings to (`--forward URL`, repeatable); see docs/FORWARDING.md. */
  forward: string[];
  /** Readings older than this are deleted while logging (ms); kept forever when undefined. */
  retentionMs?: number;
  /** The oldest rows are deleted while the data in the file exceeds this (bytes); no cap when undefined. */
  maxDbSizeBytes?: number;
  /** Raw readings older than this are replaced by per-bucket aggregates (ms); never when undefined. */
  downsampleAfterMs?: number;
  /** Width of the buckets that downsampling keeps (ms). */
  downsampleBucketMs: number;
  /** Readings older than this move from the hot table into compressed chunks (ms). */
  compactAfterMs: number;
  /**
   * Readings the hot table gathers before it moves into chunks as a whole; undefined: 8,192, or
   * 512 per active sensor, at most 131,072 (docs/STORAGE.md).
   */
  compactStep?: number;
}

type Parser<T> = (raw: unknown) => T;

interface Field<K extends keyof RunConfig = keyof RunConfig> {
  key: K;
  /** The flag name without dashes; also the JSON key and (upper-cased) the env suffix. */
  name: string;
  parse: Parser<RunConfig[K]>;
  /** The value's placeholder in `--help`: `PATH`, `N`, `full|normal`. */
  arg: string;
  /** The default as `--help` shows it: `250`, `off`, `keep forever`. */
  default: string;
  help: string;
  /**
   * Repeatable: the flag may be given several times, the JSON value is an array of strings and
   * the environment value a list separated by newlines or `;`. `parse` receives a string[]; a
   * later layer replaces the whole list of an earlier one.
   */
  multiple?: true;
}

function text(raw: unknown): string {
  if (typeof raw !== "string" || raw.trim() === "") throw new InvalidValue("expected a non-empty string");
  return raw;
}

function oneOf<T extends string>(...choices: T[]): Parser<T> {
  return (raw) => {
    if (typeof raw === "string" && (choices as string[]).includes(raw.toLowerCase())) {
      return raw.toLowerCase() as T;
    }
    throw new InvalidValue(`expected one of ${choices.join(", ")}, got ${JSON.stringify(raw)}`);
  };
}

function integer(min: number, max: number): Parser<number> {
  return (raw) => {
    const n = typeof raw === "number" ? raw : typeof raw === "string" && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n)) throw new InvalidValue(`expected a whole number, got ${JSON.stringify(raw)}`);
    if (n < min || n > max) throw new InvalidValue(`must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

function duration(defaultUnit: DurationUnit, minMs: number, maxMs: number): Parser<number> {
  return (raw) => {
    const ms = parseDurationMs(raw, defaultUnit);
    if (ms < minMs || ms > maxMs) {
      throw new InvalidValue(`must be between ${minMs} ms and ${maxMs} ms, got ${ms} ms`);
    }
    return ms;
  };
}

/** A list of values, each checked by `each`; every bad element is reported with its position. */
function eachOf(each: (raw: string) => string): Parser<string[]> {
  return (raw) => {
    const items = raw as string[];
    const problems: string[] = [];
    const out = items.map((item, i) => {
      try {
        if (typeof item !== "string" || item.trim() === "") throw new InvalidValue("expected a non-empty string");
        return each(item.trim());
      } catch (e) {
        problems.push(`${items.length > 1 ? `[${i}] ` : ""}${(e as Error).message}`);
        return "";
      }
    });
    if (problems.length > 0) throw new InvalidValue(problems.join("; "));
    return out;
  };
}

/** A `--forward` URL: validated here (exit 2) so a typo never starts a logger that cannot forward. */
function forwardUrl(raw: string): string {
  parseForwardTarget(raw);
  return raw;
}

/** Checks that no two forwarders share a cursor name. */
function forwardList(raw: unknown): string[] {
  const urls = eachOf(forwardUrl)(raw);
  const names = urls.map((u) => parseForwardTarget(u).name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new InvalidValue(`two forwarders named ${dup}; give one a distinct name=`);
  return urls;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

function size(minBytes: number): Parser<number> {
  return (raw) => {
    const bytes = parseSizeBytes(raw);
    if (bytes < minBytes) throw new InvalidValue(`must be at least ${minBytes} bytes, got ${bytes}`);
    return bytes;
  };
}

function sourceList(raw: unknown): SourceSpec[] {
  return parseSourceList(raw as string[]);
}

/** Default `--checkpoint-interval` with `durability=full` and with `normal`, ms ({@link checkpointIntervalOf}). */
const CHECKPOINT_INTERVAL_FULL_MS = 300_000;
const CHECKPOINT_INTERVAL_NORMAL_MS = 60_000;

/** The settings of `run`, in the order `--help` lists them. */
const RUN_FIELDS: readonly Field[] = [
  { key: "db", name: "db", parse: text, arg: "PATH", default: "./data/edgelog.db", help: "database file" },
  {
    key: "durability",
    name: "durability",
    parse: oneOf("full", "normal"),
    arg: "full|normal",
    default: "full",
    help: "full: commits survive power loss (synchronous=FULL); normal: survive process death",
  },
  {
    key: "onDamage",
    name: "on-damage",
    parse: oneOf("quarantine", "refuse"),
    arg: "quarantine|refuse",
    default: "quarantine",
    help:
      "a damaged database of edgelog's own: quarantine moves it aside (renamed, kept) and logs into a fresh one; refuse exits with code 4",
  },
  {
    key: "commitIntervalMs",
    name: "commit-interval",
    parse: duration("ms", 1, HOUR_MS),
    arg: "MS",
    default: "2000",
    help:
      "longest time a reading waits before its group commits (the loss window of a power cut), in ms or a duration like 2s",
  },
  {
    key: "batchSize",
    name: "batch-size",
    parse: integer(1, 1_000_000),
    arg: "N",
    default: "5000",
    help: "readings per transaction at most; a full batch commits at once",
  },
  {
    key: "bufferSize",
    name: "buffer-size",
    parse: integer(1, 10_000_000),
    arg: "N",
    default: "50000",
    help: "readings held in memory waiting for the writer; beyond it sources drop",
  },
  {
    key: "checkpointIntervalMs",
    name: "checkpoint-interval",
    parse: duration("s", 100, 24 * HOUR_MS),
    arg: "SECONDS",
    default: `${CHECKPOINT_INTERVAL_FULL_MS / 1000} (${CHECKPOINT_INTERVAL_NORMAL_MS / 1000} with --durability normal)`,
    help: "seconds between PASSIVE WAL checkpoints (besides one after 4-16 MiB of WAL); longer writes less flash",
  },
  {
    key: "shutdownTimeoutMs",
    name: "shutdown-timeout",
    parse: duration("s", 100, HOUR_MS),
    arg: "SECONDS",
    default: "8, below Docker's 10",
    help: "seconds a graceful stop may take at most",
  },
  {
    key: "simRate",
    name: "sim-rate",
    parse: integer(0, 100_000_000),
    arg: "N",
    default: "10",
    help: "readings per second of the simulated source, all sensors together",
  },
  {
    key: "simSensors",
    name: "sim-sensors",
    parse: integer(1, 100_000),
    arg: "N",
    default: "3",
    help: "number of simulated sensors",
  },
  {
    key: "sources",
    name: "source",
    parse: sourceList,
    multiple: true,
    arg: "KIND[:OPTIONS]",
    default: "simulated",
    help: "input, repeatable: simulated, sysfs (thermal, hwmon, IIO, 1-Wire), exec:COMMAND, stdin, http, " +
      "mqtt://HOST/TOPIC/# (or mqtts://), serial:DEVICE[?baud=N], " +
      "modbus:tcp://HOST?map=FILE (also rtu:///DEVICE, rtu+tcp://HOST:PORT); " +
      "every option in docs/SOURCES.md",
  },
  {
    key: "maxSensors",
    name: "max-sensors",
    parse: integer(1, 10_000_000),
    arg: "N",
    default: "10000",
    help: "most distinct sensors in the database; readings of push sources (stdin, exec, http, mqtt, serial) " +
      "naming a new sensor beyond it are rejected as too_many_sensors",
  },
  {
    key: "intervalMs",
    name: "interval",
    parse: duration("ms", 10, 24 * HOUR_MS),
    arg: "DURATION",
    default: "5s",
    help: "period of the polled sources sysfs and exec, ms or a duration like 5s",
  },
  {
    key: "sysfsRoot",
    name: "sysfs-root",
    parse: text,
    arg: "PATH",
    default: "/sys",
    help: "root of the sysfs tree the sysfs source reads",
  },
  {
    key: "httpMaxBodyBytes",
    name: "http-max-body",
    parse: integer(1024, 1024 * 1024 * 1024),
    arg: "BYTES",
    default: "8388608",
    help: "largest POST /api/v1/readings body in bytes; larger gets 413",
  },
  {
    key: "statsIntervalMs",
    name: "stats-interval",
    parse: duration("s", 100, 24 * HOUR_MS),
    arg: "SECONDS",
    default: "60",
    help: "seconds between periodic stats log records",
  },
  {
    key: "listen",
    name: "listen",
    parse: text,
    arg: "HOST:PORT",
    default: "off",
    help: "address of the local HTTP listener (127.0.0.1 unless a token is set)",
  },
  {
    key: "httpToken",
    name: "http-token",
    parse: text,
    arg: "TOKEN",
    default: "none",
    help: "bearer token the HTTP listener requires; mandatory on non-loopback addresses",
  },
  {
    key: "forward",
    name: "forward",
    parse: forwardList,
    multiple: true,
    arg: "URL",
    default: "none",
    help: "forward readings to URL (repeatable): http(s)://… line protocol, mqtt(s)://… MQTT; see docs/FORWARDING.md",
  },
  {
    key: "retentionMs",
    name: "retention",
    parse: duration("d", 1000, 100 * 365 * DAY_MS),
    arg: "DURATION",
    default: "keep forever",
    help: "delete readings older than this while logging, e.g. 30d",
  },
  {
    key: "maxDbSizeBytes",
    name: "max-db-size",
    parse: size(1024 * 1024),
    arg: "SIZE",
    default: "no cap",
    help: "delete the oldest readings while the data exceeds this, e.g. 500MB",
  },
  {
    key: "downsampleAfterMs",
    name: "downsample-after",
    parse: duration("d", 1000, 100 * 365 * DAY_MS),
    arg: "DURATION",
    default: "never",
    help: "replace readings older than this by per-bucket avg/min/max/count/last, e.g. 7d",
  },
  {
    key: "downsampleBucketMs",
    name: "downsample-bucket",
    parse: duration("s", 1000, DAY_MS),
    arg: "DURATION",
    default: "1m",
    help: "bucket width that downsampling keeps, e.g. 1m",
  },
  {
    key: "compactAfterMs",
    name: "compact-after",
    parse: duration("m", 1000, 30 * DAY_MS),
    arg: "DURATION",
    default: "10m",
    help: "move readings older than this into compressed per-sensor chunks (docs/STORAGE.md)",
  },
  {
    key: "compactStep",
    name: "compact-step",
    parse: integer(1024, 10_000_000),
    arg: "N",
    default: "auto (8192, 512 per sensor, at most 131072)",
    help: "readings the hot table gathers before they move into chunks together, sooner than " +
      "--compact-after; larger steps write less with many sensors and hold the writer longer",
  },
  {
    key: "clockSync",
    name: "clock-sync",
    parse: parseClockSync,
    arg: "SOURCE",
    default: "auto (timesyncd or chrony when one runs)",
    help: "auto, none, timesyncd, chrony or file:PATH: where the system says its clock is synchronized; " +
      "until it does, readings get provisional " +
      "timestamps, re-stamped once it does (file:PATH: synchronized while PATH exists; docs/RELIABILITY.md)",
  },
  {
    key: "clockStepThresholdMs",
    name: "clock-step-threshold",
    parse: duration("ms", 10, HOUR_MS),
    arg: "DURATION",
    default: "2s",
    help: "a jump of the wall clock against the monotonic clock larger than this is a step; a step back " +
      "makes timestamps provisional until the wall clock catches up",
  },
  {
    key: "clockHoldMaxMs",
    name: "clock-hold-max",
    parse: duration("m", 0, 30 * DAY_MS),
    arg: "DURATION",
    default: "1h",
    help: "forwarders hold provisional readings until they are re-stamped, at most this long; then they " +
      "send them as they are (0: never hold)",
  },
  {
    key: "logFormat",
    name: "log-format",
    parse: oneOf("auto", "pretty", "json"),
    arg: "auto|pretty|json",
    default: "auto",
    help: "auto: pretty on a terminal, JSON lines otherwise",
  },
  {
    key: "logLevel",
    name: "log-level",
    parse: oneOf("debug", "info", "warning", "error"),
    arg: "debug|info|warning|error",
    default: "info",
    help: "least severe level logged",
  },
];

/**
 * Milliseconds between the logger's PASSIVE checkpoints: `--checkpoint-interval`, or by default
 * 5 minutes with `durability=full` and 1 minute with `normal`. A checkpoint copies every page the
 * WAL holds once, so a longer interval copies pages changed again and again (the hot table's
 * last pages, interior and freelist pages) fewer times: at 100 readings/s of 50 sensors, 206 bytes
 * written a reading with 60 s, 113 with 300 s (docs/STORAGE.md). With `normal` the WAL is synced
 * only by checkpoints, so the interval bounds what a power cut can take, and stays short.
 */
export function checkpointIntervalOf(config: Pick<RunConfig, "checkpointIntervalMs" | "durability">): number {
  return config.checkpointIntervalMs ??
    (config.durability === "normal" ? CHECKPOINT_INTERVAL_NORMAL_MS : CHECKPOINT_INTERVAL_FULL_MS);
}

/** The defaults every layer starts from. */
export const DEFAULT_RUN_CONFIG: Readonly<RunConfig> = Object.freeze({
  db: DEFAULT_DB_PATH,
  durability: "full",
  onDamage: "quarantine",
  commitIntervalMs: 2000,
  batchSize: 5000,
  bufferSize: 50_000,
  shutdownTimeoutMs: 8_000,
  simRate: 10,
  simSensors: 3,
  sources: DEFAULT_SOURCES,
  intervalMs: 5_000,
  sysfsRoot: "/sys",
  httpMaxBodyBytes: 8 * 1024 * 1024,
  maxSensors: 10_000,
  statsIntervalMs: 60_000,
  downsampleBucketMs: 60_000,
  compactAfterMs: DEFAULT_COMPACT_AFTER_MS,
  clockSync: "auto",
  clockStepThresholdMs: 2000,
  clockHoldMaxMs: HOUR_MS,
  logFormat: "auto",
  logLevel: "info",
  forward: [],
});

/** What the command line asked for: a subcommand, its config, or help/version. */
export type Invocation =
  | { command: "run"; config: RunConfig }
  | { command: "help" }
  | { command: "version" };

/** Where the settings come from; injectable so tests need no real environment or files. */
export interface ConfigSources {
  args: readonly string[];
  env: (name: string) => string | undefined;
  readTextFile: (path: string) => string;
}

/** The environment variable that sets a field, e.g. `EDGELOG_COMMIT_INTERVAL`. */
export function envName(flag: string): string {
  return "EDGELOG_" + flag.toUpperCase().replaceAll("-", "_");
}

/**
 * Parses the command line, config file and environment into an {@link Invocation}.
 * Throws {@link ConfigError} listing every invalid field.
 *
 * @example
 * ```ts
 * const inv = parseInvocation({ args: ["--sim-rate", "500"], env: () => undefined, readTextFile: Deno.readTextFileSync });
 * ```
 */
export function parseInvocation(sources: ConfigSources): Invocation {
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {
    config: { type: "string" },
    help: { type: "boolean", short: "h" },
    version: { type: "boolean", short: "V" },
  };
  for (const f of RUN_FIELDS) options[f.name] = f.multiple ? { type: "string", multiple: true } : { type: "string" };

  let parsed;
  try {
    parsed = parseArgs({ args: [...sources.args], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new ConfigError([`${argsProblem(e)}; see 'edgelog --help'`]);
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: "help" };
  if (values.version) return { command: "version" };
  const [command = "run", ...extra] = positionals;
  if (command === "help") return { command: "help" };
  if (command === "version") return { command: "version" };
  if (command !== "run") throw new ConfigError([`unknown command '${command}'; see 'edgelog --help'`]);
  if (extra.length > 0) throw new ConfigError([`unexpected argument '${extra[0]}'; see 'edgelog --help'`]);

  const problems: string[] = [];
  const config: Record<string, unknown> = { ...DEFAULT_RUN_CONFIG };
  const apply = (field: Field, raw: unknown, origin: string) => {
    try {
      config[field.key] = field.parse(field.multiple ? listOf(raw) : raw);
    } catch (e) {
      if (!(e instanceof InvalidValue)) throw e;
      problems.push(`${origin}: ${e.message}`);
    }
  };

  const configPath = (values.config as string | undefined) ?? sources.env("EDGELOG_CONFIG");
  if (configPath !== undefined) {
    const file = readConfigFile(configPath, sources.readTextFile);
    for (const [key, raw] of Object.entries(file)) {
      const field = RUN_FIELDS.find((f) => f.name === key);
      if (!field) problems.push(`config file ${configPath}: unknown setting "${key}"`);
      else apply(field, raw, `config file ${configPath}: "${key}"`);
    }
  }
  for (const field of RUN_FIELDS) {
    const raw = sources.env(envName(field.name));
    if (raw !== undefined) apply(field, raw, `environment ${envName(field.name)}`);
  }
  for (const field of RUN_FIELDS) {
    const raw = values[field.name];
    if (raw !== undefined) apply(field, raw, `--${field.name}`);
  }
  const run = config as unknown as RunConfig;
  if (run.sources.some((s) => s.kind === "http") && run.listen === undefined) {
    problems.push("--source http: needs the HTTP listener; add --listen HOST:PORT (e.g. 127.0.0.1:8080)");
  }
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `${p}; see 'edgelog --help'`));
  return { command: "run", config: run };
}

/**
 * The list a repeatable field got: flags give an array already, JSON an array of strings (or
 * one string), the environment one string separated by newlines or `;` ({@link splitList}).
 */
function listOf(raw: unknown): string[] {
  if (Array.isArray(raw)) {
    if (!raw.every((item) => typeof item === "string")) {
      throw new InvalidValue(`expected an array of strings, got ${JSON.stringify(raw)}`);
    }
    return raw.map((item) => item.trim()).filter((item) => item !== "");
  }
  if (typeof raw === "string") return splitList(raw).map((item) => item.trim()).filter((item) => item !== "");
  throw new InvalidValue(`expected a string or an array of strings, got ${JSON.stringify(raw)}`);
}

/**
 * Splits a list given as one string (an environment variable) at `;` and newlines, except where
 * a shell would not split either: inside '…' or "…" and after a backslash. Items are returned
 * as written, quotes and backslashes included, so `exec:` commands are split into words later by
 * the same shell rules. Throws {@link InvalidValue} on an unterminated quote.
 *
 * @example
 * ```ts
 * splitList("exec:sh -c 'a; b'; stdin"); // ["exec:sh -c 'a; b'", " stdin"]
 * ```
 */
export function splitList(text: string): string[] {
  const items: string[] = [];
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"') i++;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === "\\") {
      i++;
    } else if (c === ";" || c === "\n") {
      items.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (quote !== undefined) {
    throw new InvalidValue(`unterminated ${quote} quote; a ; or newline inside quotes does not separate items`);
  }
  items.push(text.slice(start));
  return items;
}

function readConfigFile(path: string, readTextFile: (path: string) => string): Record<string, unknown> {
  let textContent: string;
  try {
    textContent = readTextFile(path);
  } catch (e) {
    throw new ConfigError([`config file ${path}: cannot read it (${(e as Error).message})`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(textContent);
  } catch (e) {
    throw new ConfigError([`config file ${path}: not valid JSON (${(e as Error).message})`]);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError([`config file ${path}: expected a JSON object of settings`]);
  }
  return value as Record<string, unknown>;
}

/** The `--help` text, generated from the same table the parser uses. */
export function helpText(
  version: string,
  commands: readonly { name: string; summary: string }[] = [],
  width: number = helpWidth(),
): string {
  const options = [
    optionLines(
      "--config FILE",
      'JSON file of settings, keys are the option names ("sim-rate": 100); default none; env EDGELOG_CONFIG',
      width,
    ),
    ...RUN_FIELDS.map((f) =>
      optionLines(
        `--${f.name} ${f.arg}`,
        `${f.help}; default ${f.default}; env ${envName(f.name)}${
          f.multiple ? " (a list: items separated by ; or newlines outside quotes), JSON an array" : ""
        }`,
        width,
      )
    ),
    optionLines("-h, --help", "print this text and exit", width),
    optionLines("-V, --version", "print the version and exit", width),
  ];
  return [
    ...wrap(`edgelog ${version}: durable sensor logger (SQLite WAL)`, width),
    "",
    "Usage: edgelog [run] [OPTION]...",
    "       edgelog COMMAND [OPTION]...",
    "",
    ...wrap("Commands (edgelog COMMAND --help for their options):", width),
    ...commands.flatMap((c) => optionLines(c.name, c.summary, width)),
    "",
    ...wrap(
      "Logs readings into a SQLite database until SIGTERM or SIGINT, then commits everything, " +
        "checkpoints the WAL and exits 0.",
      width,
    ),
    "",
    ...wrap("Options (precedence: defaults < --config file < environment < flags):", width),
    ...options.flat(),
    "",
    ...wrap(
      "Exit codes: 0 clean stop, 1 runtime failure, 2 invalid usage or configuration, " +
        "3 database locked by another edgelog, 4 database unusable (unreadable, corrupt, foreign).",
      width,
    ),
    "",
  ].join("\n");
}
