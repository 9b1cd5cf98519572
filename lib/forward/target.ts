/**
 * Parses a `--forward URL` into a typed target: `http(s)://…` is InfluxDB line protocol over
 * HTTP, `mqtt(s)://…` is MQTT. Options edgelog understands are query parameters and are removed
 * from the URL before it is used; every other query parameter goes upstream unchanged (`db`,
 * `org`, `bucket`, `rp`, …). Pure parsing, no I/O: `lib/config.ts` validates with it.
 *
 * @module
 */

import { LINE_DIALECTS, type LineDialect } from "../formats.ts";
import { mappingRefusal } from "./line_protocol.ts";

/** What every forwarder shares. */
interface CommonTarget {
  /** Stable name of the forwarder: the key of its durable cursor (`name=` or derived from the URL). */
  name: string;
  /** The URL without credentials or secrets, for logs. */
  display: string;
  /** Rows per upstream request or per burst of publishes. */
  batchSize: number;
  /** Longest wait for one request or burst to be acknowledged, ms. */
  timeoutMs: number;
  /** Retry backoff: first delay, largest delay, delay after a permanent refusal, ms. */
  backoff: { baseMs: number; maxMs: number; permanentMs: number };
}

/** Line protocol over HTTP. */
export interface InfluxTarget extends CommonTarget {
  kind: "influx";
  /** The URL requests go to (query includes `precision=ms` and pass-through parameters). */
  url: string;
  /** `Authorization` header value, if any. */
  authorization?: string;
  gzip: boolean;
  /** Measurement template: `{sensor}` and `{unit}` are replaced. */
  measurement: string;
  /** Name of the value field. */
  field: string;
  /** Tag names for the sensor name and the unit; empty string leaves the tag out. */
  sensorTag: string;
  unitTag: string;
  /** Constant tags added to every line. */
  tags: [string, string][];
  /** The reader the lines are written for (`dialect=`, or chosen from the path). */
  dialect: LineDialect;
}

/** MQTT publish, QoS 1, one JSON message per reading. */
export interface MqttTarget extends CommonTarget {
  kind: "mqtt";
  /** Broker URL without path, query or credentials (`mqtt://host:1883`). */
  brokerUrl: string;
  /** Topic template: `{host}`, `{sensor}`, `{unit}` are replaced. */
  topic: string;
  username?: string;
  password?: string;
  clientId?: string;
  /** 1 (default): a reading counts as sent on PUBACK; 0: once written to the socket. */
  qos: 0 | 1;
  /** PEM file of a CA to trust besides the system's (`ca=/path`), for mqtts://. */
  caFile?: string;
}

/** A parsed `--forward` URL. */
export type ForwardTarget = InfluxTarget | MqttTarget;

/** Raised for an unusable `--forward` URL; the message names the problem. */
export class ForwardTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ForwardTargetError";
  }
}

const COMMON_KEYS = ["name", "batch", "timeout", "backoff-min", "backoff-max", "backoff-permanent"];
const INFLUX_KEYS = [
  ...COMMON_KEYS,
  "token",
  "token-scheme",
  "gzip",
  "measurement",
  "field",
  "sensor-tag",
  "unit-tag",
  "tags",
  "dialect",
];
const MQTT_KEYS = [...COMMON_KEYS, "client-id", "qos", "ca"];

/**
 * Parses one `--forward` value.
 *
 * @example
 * ```ts
 * const t = parseForwardTarget("http://127.0.0.1:8428/write?gzip=true");
 * t.kind; // "influx"
 * t.name; // "http://127.0.0.1:8428/write"
 * ```
 */
export function parseForwardTarget(raw: string): ForwardTarget {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new ForwardTargetError(`not a URL: ${JSON.stringify(raw)} (expected http(s)://… or mqtt(s)://…)`);
  }
  const scheme = url.protocol.replace(/:$/, "");
  if (scheme === "http" || scheme === "https") return parseInflux(url);
  if (scheme === "mqtt" || scheme === "mqtts") return parseMqtt(url);
  throw new ForwardTargetError(`unsupported scheme '${scheme}:' in ${redact(url)}; use http(s):// or mqtt(s)://`);
}

function takeOptions(url: URL, known: readonly string[]): Map<string, string> {
  const options = new Map<string, string>();
  for (const key of known) {
    const value = url.searchParams.get(key);
    if (value !== null) options.set(key, value);
    url.searchParams.delete(key);
  }
  return options;
}

function common(url: URL, options: Map<string, string>, defaultBatch: number): CommonTarget {
  const base = new URL(url.href);
  base.username = "";
  base.password = "";
  base.search = "";
  const name = options.get("name") ?? safeDecode(base.href).replace(/\/$/, "");
  if (!/^[\w.:/@\-{}%]+$/.test(name)) {
    throw new ForwardTargetError(`name=${JSON.stringify(name)}: use letters, digits and . : / - _ { }`);
  }
  return {
    name,
    display: redact(url),
    batchSize: intOption(options, "batch", defaultBatch, 1, 100_000),
    timeoutMs: secondsOption(options, "timeout", 10, 0.1, 3600),
    backoff: {
      baseMs: secondsOption(options, "backoff-min", 1, 0.01, 3600),
      maxMs: secondsOption(options, "backoff-max", 10, 0.01, 86_400),
      permanentMs: secondsOption(options, "backoff-permanent", 300, 0.01, 86_400),
    },
  };
}

function parseInflux(url: URL): InfluxTarget {
  const options = takeOptions(url, INFLUX_KEYS);
  const c = common(url, options, 5000);
  let authorization: string | undefined;
  const token = options.get("token");
  if (token !== undefined) {
    authorization = `${options.get("token-scheme") ?? "Token"} ${token}`;
  } else if (url.username !== "") {
    authorization = `Basic ${btoa(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`)}`;
  }
  const target = new URL(url.href);
  target.username = "";
  target.password = "";
  if (!target.searchParams.has("precision")) target.searchParams.set("precision", "ms");
  else if (target.searchParams.get("precision") !== "ms") {
    throw new ForwardTargetError(`${c.display}: precision must be ms (edgelog timestamps are milliseconds)`);
  }
  const parsed: InfluxTarget = {
    ...c,
    kind: "influx",
    url: target.href,
    authorization,
    gzip: boolOption(options, "gzip", false),
    measurement: nonEmpty(options, "measurement", "edgelog"),
    field: nonEmpty(options, "field", "value"),
    sensorTag: options.get("sensor-tag") ?? "sensor",
    unitTag: options.get("unit-tag") ?? "unit",
    tags: parseTags(options.get("tags")),
    dialect: dialectOption(options.get("dialect"), target.pathname),
  };
  const why = mappingRefusal(parsed);
  if (why !== undefined) throw new ForwardTargetError(`${c.display}: ${why} (dialect=${parsed.dialect})`);
  return parsed;
}

/**
 * The line-protocol dialect: `dialect=` when given, else `victoriametrics` for VictoriaMetrics'
 * own `/influx/…` paths, else `portable` (read alike by VictoriaMetrics and InfluxDB 1.x; `/write`
 * is served by both, so the path does not tell).
 */
export function dialectOption(raw: string | undefined, pathname: string): LineDialect {
  if (raw === undefined) return pathname.startsWith("/influx/") ? "victoriametrics" : "portable";
  if (!(LINE_DIALECTS as readonly string[]).includes(raw)) {
    throw new ForwardTargetError(`dialect=${raw}: expected one of ${LINE_DIALECTS.join(", ")}`);
  }
  return raw as LineDialect;
}

function parseMqtt(url: URL): MqttTarget {
  const options = takeOptions(url, MQTT_KEYS);
  if ([...url.searchParams.keys()].length > 0) {
    throw new ForwardTargetError(
      `${redact(url)}: unknown option ${[...url.searchParams.keys()][0]}= (known: ${MQTT_KEYS.join(", ")})`,
    );
  }
  const c = common(url, options, 1000);
  if (c.batchSize > 60_000) throw new ForwardTargetError(`${c.display}: batch= may be at most 60000 for MQTT`);
  const topic = safeDecode(url.pathname.replace(/^\//, ""));
  if (topic === "") {
    throw new ForwardTargetError(`${c.display}: the path is the topic template, e.g. /edgelog/{host}/{sensor}`);
  }
  if (/[#+]/.test(topic)) throw new ForwardTargetError(`${c.display}: a topic to publish to may not contain + or #`);
  const qos = intOption(options, "qos", 1, 0, 1) as 0 | 1;
  const port = url.port || (url.protocol === "mqtts:" ? "8883" : "1883");
  return {
    ...c,
    kind: "mqtt",
    brokerUrl: `${url.protocol}//${url.hostname}:${port}`,
    topic,
    username: url.username !== "" ? decodeURIComponent(url.username) : undefined,
    password: url.password !== "" ? decodeURIComponent(url.password) : undefined,
    clientId: options.get("client-id"),
    qos,
    caFile: options.get("ca"),
  };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The URL with the password and any `token` parameter masked. */
function redact(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password !== "") copy.password = "***";
  if (copy.searchParams.has("token")) copy.searchParams.set("token", "***");
  return safeDecode(copy.href);
}

function intOption(options: Map<string, string>, key: string, fallback: number, min: number, max: number): number {
  const raw = options.get(key);
  if (raw === undefined) return fallback;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ForwardTargetError(`${key}=${raw}: expected a whole number between ${min} and ${max}`);
  }
  return n;
}

function secondsOption(options: Map<string, string>, key: string, fallback: number, min: number, max: number): number {
  const raw = options.get(key);
  if (raw === undefined) return fallback * 1000;
  const n = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= min && n <= max)) {
    throw new ForwardTargetError(`${key}=${raw}: expected seconds between ${min} and ${max}`);
  }
  return Math.round(n * 1000);
}

function boolOption(options: Map<string, string>, key: string, fallback: boolean): boolean {
  const raw = options.get(key);
  if (raw === undefined) return fallback;
  if (["true", "1", "yes", ""].includes(raw)) return true;
  if (["false", "0", "no"].includes(raw)) return false;
  throw new ForwardTargetError(`${key}=${raw}: expected true or false`);
}

function nonEmpty(options: Map<string, string>, key: string, fallback: string): string {
  const raw = options.get(key) ?? fallback;
  if (raw === "") throw new ForwardTargetError(`${key}= may not be empty`);
  return raw;
}

function parseTags(raw: string | undefined): [string, string][] {
  if (raw === undefined || raw === "") return [];
  return raw.split(",").map((pair) => {
    const i = pair.indexOf(":");
    if (i <= 0 || i === pair.length - 1) throw new ForwardTargetError(`tags=${raw}: expected key:value,key:value`);
    return [pair.slice(0, i), pair.slice(i + 1)];
  });
}
