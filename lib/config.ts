/**
 * Typed configuration for edgelog.
 *
 * Every setting has one name used everywhere: `--commit-interval` on the command line,
 * `EDGELOG_COMMIT_INTERVAL` in the environment and `"commit-interval"` in the JSON config
 * file. Precedence: defaults < file < environment < flags. Every invalid field is reported at
 * once, each naming where it came from.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parseForwardTarget } from "./forward/target.ts";

/** How hard a commit is pushed to stable storage: `full` survives power loss. */
export type Durability = "full" | "normal";
/** `auto` picks `pretty` on a terminal and `json` otherwise. */
export type LogFormat = "auto" | "pretty" | "json";
/** Log levels accepted by `--log-level`. */
export type LogLevelName = "debug" | "info" | "warning" | "error";

/** Kinds of input `--source` accepts. */
export const SOURCE_KINDS = ["simulated", "sysfs", "exec", "stdin", "http"] as const;
/** One kind of input. */
export type SourceKind = typeof SOURCE_KINDS[number];

/** One `--source KIND[:OPTIONS]`: the kind and its options text (meaning depends on the kind). */
export interface SourceSpec {
  kind: SourceKind;
  /** Everything after the first `:`, or "" (e.g. the command line of `exec`). */
  options: string;
  /** For `exec`: the parsed command and its settings. */
  exec?: ExecSpec;
}

/**
 * How an `exec` source runs its command: `exec:[mode=interval|stream] [timeout=10s]
 * [format=auto|ndjson|text] [interval=5s] [max-output=1048576] COMMAND ARGS…`.
 */
export interface ExecSpec {
  /** The program and its arguments (split like a shell would, without running one). */
  argv: string[];
  /** `interval`: run once per interval; `stream`: keep one long-running command. */
  mode: "interval" | "stream";
  /** interval: longest run; stream: longest silence. 0 = none. ms. */
  timeoutMs: number;
  /** How stdout lines are read; `auto` takes lines starting with `{` as JSON. */
  format: "auto" | "ndjson" | "text";
  /** Overrides `--interval` for this command, ms. */
  intervalMs?: number;
  /** interval mode: stdout bytes one run may print at most before it is killed. */
  maxOutputBytes: number;
}

/** Settings of the `run` subcommand (the logger itself). */
export interface RunConfig {
  db: string;
  durability: Durability;
  commitIntervalMs: number;
  batchSize: number;
  bufferSize: number;
  checkpointIntervalMs: number;
  shutdownTimeoutMs: number;
  simRate: number;
  simSensors: number;
  /** The inputs; `[{ kind: "simulated" }]` when none is configured. */
  sources: SourceSpec[];
  /** Period of polled sources (sysfs, exec), ms. */
  intervalMs: number;
  /** Root of the sysfs tree read by the `sysfs` source (`/sys`; tests point it at a fake tree). */
  sysfsRoot: string;
  /** Largest HTTP ingest body accepted, bytes (413 beyond). */
  httpMaxBodyBytes: number;
  /** Most distinct sensors the push sources (stdin, exec, http) may create. */
  maxSensors: number;
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
}

/** Raised for invalid usage or configuration; `main.ts` maps it to exit code 2. */
export class ConfigError extends Error {
  /** One human-readable line per invalid field. */
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

type Parser<T> = (raw: unknown) => T;

/** Thrown by a parser with the reason only; the caller adds where the value came from. */
class InvalidValue extends Error {}

interface Field<K extends keyof RunConfig = keyof RunConfig> {
  key: K;
  /** The flag name without dashes; also the JSON key and (upper-cased) the env suffix. */
  name: string;
  parse: Parser<RunConfig[K]>;
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

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration into milliseconds: a bare number is in `defaultUnit`, or a number with a
 * unit (`250ms`, `1.5s`, `2m`, `1h`, `30d`).
 *
 * @example
 * ```ts
 * parseDurationMs("1.5s", "ms"); // 1500
 * parseDurationMs(60, "s"); // 60000
 * ```
 */
export function parseDurationMs(raw: unknown, defaultUnit: keyof typeof UNIT_MS): number {
  const m = typeof raw === "number"
    ? [String(raw), String(raw), defaultUnit]
    : typeof raw === "string"
    ? /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(raw)
    : null;
  if (!m) throw new InvalidValue(`expected a duration like 250ms, 5s, 1m, got ${JSON.stringify(raw)}`);
  const ms = Number(m[1]) * UNIT_MS[m[2] ?? defaultUnit];
  if (!Number.isFinite(ms) || ms < 0) throw new InvalidValue(`expected a duration, got ${JSON.stringify(raw)}`);
  return Math.round(ms);
}

function duration(defaultUnit: keyof typeof UNIT_MS, minMs: number, maxMs: number): Parser<number> {
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

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 };

/**
 * Parses a size into bytes: a bare number is bytes, or a number with `KB`, `MB`, `GB`, `TB`
 * (powers of 1024, as `du -h` counts; `KiB`, `MiB`, ... are accepted too).
 *
 * @example
 * ```ts
 * parseSizeBytes("500MB"); // 524288000
 * ```
 */
export function parseSizeBytes(raw: unknown): number {
  const m = typeof raw === "number"
    ? [String(raw), String(raw), "b"]
    : typeof raw === "string"
    ? /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$/i.exec(raw)
    : null;
  if (!m) throw new InvalidValue(`expected a size like 500MB or 2GB, got ${JSON.stringify(raw)}`);
  const unit = (m[2] ?? "b").toLowerCase().replace("i", "");
  const bytes = Math.round(Number(m[1]) * SIZE_UNITS[unit.endsWith("b") ? unit : unit + "b"]);
  if (!Number.isSafeInteger(bytes)) throw new InvalidValue(`expected a size, got ${JSON.stringify(raw)}`);
  return bytes;
}

function size(minBytes: number): Parser<number> {
  return (raw) => {
    const bytes = parseSizeBytes(raw);
    if (bytes < minBytes) throw new InvalidValue(`must be at least ${minBytes} bytes, got ${bytes}`);
    return bytes;
  };
}

/**
 * Parses one `KIND[:OPTIONS]` into a {@link SourceSpec}.
 *
 * @example
 * ```ts
 * parseSourceSpec("exec:./read-sensors --json"); // { kind: "exec", options: "./read-sensors --json" }
 * ```
 */
export function parseSourceSpec(raw: string): SourceSpec {
  const colon = raw.indexOf(":");
  const kind = (colon < 0 ? raw : raw.slice(0, colon)).trim().toLowerCase();
  const options = colon < 0 ? "" : raw.slice(colon + 1).trim();
  if (!(SOURCE_KINDS as readonly string[]).includes(kind)) {
    throw new InvalidValue(`unknown source kind ${JSON.stringify(kind)}; expected one of ${SOURCE_KINDS.join(", ")}`);
  }
  if (kind === "exec" && options === "") {
    throw new InvalidValue(`exec needs a command: --source 'exec:COMMAND ARGS…'`);
  }
  if (kind !== "exec" && options !== "") {
    throw new InvalidValue(`source ${kind} takes no options, got ${JSON.stringify(options)}`);
  }
  if (kind === "exec") return { kind, options, exec: parseExecSpec(options) };
  return { kind: kind as SourceKind, options };
}

/**
 * Splits a command line into words like a POSIX shell would for plain words, '…' and "…"
 * quotes and backslash escapes; no variables, globs or operators (no shell is run).
 */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === "\\" && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (c === " " || c === "\t" || c === "\n") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new InvalidValue(`unterminated ${quote} quote in ${JSON.stringify(line)}`);
  if (inWord) words.push(word);
  return words;
}

const EXEC_SETTING = /^(mode|timeout|format|interval|max-output)=(.*)$/;

function parseExecSpec(options: string): ExecSpec {
  const words = splitCommandLine(options);
  const spec: ExecSpec = { argv: [], mode: "interval", timeoutMs: -1, format: "auto", maxOutputBytes: 1024 * 1024 };
  let i = 0;
  for (; i < words.length; i++) {
    const m = EXEC_SETTING.exec(words[i]);
    if (!m) break;
    const [, key, value] = m;
    if (key === "mode") spec.mode = oneOf("interval", "stream")(value);
    else if (key === "format") spec.format = oneOf("auto", "ndjson", "text")(value);
    else if (key === "timeout") spec.timeoutMs = duration("ms", 0, 24 * HOUR_MS)(value);
    else if (key === "interval") spec.intervalMs = duration("ms", 10, 24 * HOUR_MS)(value);
    else spec.maxOutputBytes = integer(1, 1024 * 1024 * 1024)(value);
  }
  spec.argv = words.slice(i);
  if (spec.argv.length === 0) throw new InvalidValue(`exec needs a command: --source 'exec:COMMAND ARGS…'`);
  if (spec.timeoutMs < 0) spec.timeoutMs = spec.mode === "interval" ? 10_000 : 0;
  return spec;
}

function sourceList(raw: unknown): SourceSpec[] {
  const items = raw as string[];
  const specs: SourceSpec[] = [];
  const problems: string[] = [];
  for (const item of items) {
    try {
      specs.push(parseSourceSpec(item));
    } catch (e) {
      if (!(e instanceof InvalidValue)) throw e;
      problems.push(items.length > 1 ? `${JSON.stringify(item)}: ${e.message}` : e.message);
    }
  }
  if (problems.length > 0) throw new InvalidValue(problems.join("; "));
  for (const unique of ["stdin", "http", "simulated", "sysfs"]) {
    if (specs.filter((s) => s.kind === unique).length > 1) {
      throw new InvalidValue(`source ${unique} may be given only once`);
    }
  }
  return specs.length > 0 ? specs : [{ kind: "simulated", options: "" }];
}

/** The settings of `run`, in the order `--help` lists them. */
const RUN_FIELDS: readonly Field[] = [
  { key: "db", name: "db", parse: text, help: "database file (default ./data/edgelog.db)" },
  {
    key: "durability",
    name: "durability",
    parse: oneOf("full", "normal"),
    help: "full: commits survive power loss (synchronous=FULL); normal: survive process death",
  },
  {
    key: "commitIntervalMs",
    name: "commit-interval",
    parse: duration("ms", 1, HOUR_MS),
    help: "longest time a reading waits before its group commits, ms (default 250)",
  },
  {
    key: "batchSize",
    name: "batch-size",
    parse: integer(1, 1_000_000),
    help: "readings per transaction at most; a full batch commits at once (default 5000)",
  },
  {
    key: "bufferSize",
    name: "buffer-size",
    parse: integer(1, 10_000_000),
    help: "readings held in memory waiting for the writer; beyond it sources drop (default 50000)",
  },
  {
    key: "checkpointIntervalMs",
    name: "checkpoint-interval",
    parse: duration("s", 100, 24 * HOUR_MS),
    help: "seconds between PASSIVE WAL checkpoints (default 60)",
  },
  {
    key: "shutdownTimeoutMs",
    name: "shutdown-timeout",
    parse: duration("s", 100, HOUR_MS),
    help: "seconds a graceful stop may take at most (default 8, below Docker's 10)",
  },
  {
    key: "simRate",
    name: "sim-rate",
    parse: integer(0, 100_000_000),
    help: "readings per second of the simulated source, all sensors together (default 10)",
  },
  {
    key: "simSensors",
    name: "sim-sensors",
    parse: integer(1, 100_000),
    help: "number of simulated sensors (default 3)",
  },
  {
    key: "sources",
    name: "source",
    parse: sourceList,
    multiple: true,
    help: "input KIND[:OPTIONS], repeatable: simulated (default), sysfs, exec:COMMAND, stdin, http (docs/SOURCES.md)",
  },
  {
    key: "maxSensors",
    name: "max-sensors",
    parse: integer(1, 10_000_000),
    help: "most distinct sensors in the database; readings of push sources (stdin, exec, http) " +
      "naming a new sensor beyond it are rejected as too_many_sensors (default 10000)",
  },
  {
    key: "intervalMs",
    name: "interval",
    parse: duration("ms", 10, 24 * HOUR_MS),
    help: "period of the polled sources sysfs and exec, ms or a duration like 5s (default 5s)",
  },
  {
    key: "sysfsRoot",
    name: "sysfs-root",
    parse: text,
    help: "root of the sysfs tree the sysfs source reads (default /sys)",
  },
  {
    key: "httpMaxBodyBytes",
    name: "http-max-body",
    parse: integer(1024, 1024 * 1024 * 1024),
    help: "largest POST /api/v1/readings body in bytes; larger gets 413 (default 8388608)",
  },
  {
    key: "statsIntervalMs",
    name: "stats-interval",
    parse: duration("s", 100, 24 * HOUR_MS),
    help: "seconds between periodic stats log records (default 60)",
  },
  {
    key: "listen",
    name: "listen",
    parse: text,
    help: "HOST:PORT of the local HTTP listener (off by default; 127.0.0.1 unless a token is set)",
  },
  {
    key: "httpToken",
    name: "http-token",
    parse: text,
    help: "bearer token the HTTP listener requires; mandatory on non-loopback addresses",
  },
  {
    key: "forward",
    name: "forward",
    parse: forwardList,
    multiple: true,
    help: "forward readings to URL (repeatable): http(s)://… line protocol, mqtt(s)://… MQTT; see docs/FORWARDING.md",
  },
  {
    key: "retentionMs",
    name: "retention",
    parse: duration("d", 1000, 100 * 365 * DAY_MS),
    help: "delete readings older than this while logging, e.g. 30d (default: keep forever)",
  },
  {
    key: "maxDbSizeBytes",
    name: "max-db-size",
    parse: size(1024 * 1024),
    help: "delete the oldest readings while the data exceeds this, e.g. 500MB (default: no cap)",
  },
  {
    key: "downsampleAfterMs",
    name: "downsample-after",
    parse: duration("d", 1000, 100 * 365 * DAY_MS),
    help: "replace readings older than this by per-bucket avg/min/max/count/last, e.g. 7d (default: never)",
  },
  {
    key: "downsampleBucketMs",
    name: "downsample-bucket",
    parse: duration("s", 1000, DAY_MS),
    help: "bucket width that downsampling keeps, e.g. 1m (default 1m)",
  },
  {
    key: "logFormat",
    name: "log-format",
    parse: oneOf("auto", "pretty", "json"),
    help: "auto: pretty on a terminal, JSON lines otherwise",
  },
  {
    key: "logLevel",
    name: "log-level",
    parse: oneOf("debug", "info", "warning", "error"),
    help: "least severe level logged (default info)",
  },
];

/** The defaults every layer starts from. */
export const DEFAULT_RUN_CONFIG: Readonly<RunConfig> = Object.freeze({
  db: "./data/edgelog.db",
  durability: "full",
  commitIntervalMs: 250,
  batchSize: 5000,
  bufferSize: 50_000,
  checkpointIntervalMs: 60_000,
  shutdownTimeoutMs: 8_000,
  simRate: 10,
  simSensors: 3,
  sources: [{ kind: "simulated" as const, options: "" }],
  intervalMs: 5_000,
  sysfsRoot: "/sys",
  httpMaxBodyBytes: 8 * 1024 * 1024,
  maxSensors: 10_000,
  statsIntervalMs: 60_000,
  downsampleBucketMs: 60_000,
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
    throw new ConfigError([`${(e as Error).message}; see 'edgelog --help'`]);
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
  if (problems.length > 0) throw new ConfigError(problems);
  return { command: "run", config: run };
}

/**
 * The list a repeatable field got: flags give an array already, JSON an array of strings (or
 * one string), the environment one string separated by newlines or `;`.
 */
function listOf(raw: unknown): string[] {
  if (Array.isArray(raw)) {
    if (!raw.every((item) => typeof item === "string")) {
      throw new InvalidValue(`expected an array of strings, got ${JSON.stringify(raw)}`);
    }
    return raw.map((item) => item.trim()).filter((item) => item !== "");
  }
  if (typeof raw === "string") return raw.split(/[;\n]/).map((item) => item.trim()).filter((item) => item !== "");
  throw new InvalidValue(`expected a string or an array of strings, got ${JSON.stringify(raw)}`);
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
export function helpText(version: string, commands: readonly { name: string; summary: string }[] = []): string {
  const rows = RUN_FIELDS.map((f) =>
    `  --${f.name.padEnd(20)} ${f.help}\n  ${"".padEnd(22)} env ${envName(f.name)}${
      f.multiple ? " (several separated by ; or newlines), JSON an array" : ""
    }`
  );
  return `edgelog ${version}: durable sensor logger (SQLite WAL)

Usage: edgelog [run] [options]
       edgelog <command> [options]     (edgelog <command> --help for its options)
${commands.map((c) => `\n  ${c.name.padEnd(22)} ${c.summary}`).join("")}

Logs readings into a SQLite database until SIGTERM or SIGINT, then commits everything,
checkpoints the WAL and exits 0.

Options (precedence: defaults < --config file < environment < flags):
  --config FILE          JSON file of settings, keys are the option names ("sim-rate": 100)
                         env EDGELOG_CONFIG
${rows.join("\n")}
  -h, --help             this text
  -V, --version          print the version

Exit codes: 0 clean stop, 1 runtime failure, 2 invalid usage or configuration,
            3 database locked by another edgelog, 4 database unusable (unreadable, corrupt, foreign)
`;
}
