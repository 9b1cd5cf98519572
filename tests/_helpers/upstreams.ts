/**
 * Real upstream servers for the forwarding tests, from Debian packages, each on loopback with a
 * free port and a temporary data directory: VictoriaMetrics, InfluxDB 1.x and Mosquitto.
 *
 * @module
 */

import { join } from "node:path";
import { freePort, ServerProcess, waitForPort } from "./network.ts";
import { hasCommand, waitFor } from "./process.ts";
import { inCi } from "./requirements.ts";

/** Why a server cannot be started here, or undefined when it can. */
export function missing(command: string, pkg: string): string | undefined {
  return hasCommand(command)
    ? undefined
    : `SKIPPED: '${command}' not found; install the Debian package '${pkg}' (scripts/install-test-deps.sh does)`;
}

/**
 * Prints a loud skip message and returns true (the test is then ignored, and counted so in the
 * summary). In CI (`CI=true`) a missing server is not a reason to skip: it returns false, so the
 * test runs and fails on the missing command.
 */
export function announceSkip(reason: string | undefined): boolean {
  if (reason === undefined) return false;
  if (inCi()) {
    console.error(`\n!!!!! CI=true: ${reason.replace(/^SKIPPED: /, "")}; the test runs and fails\n`);
    return false;
  }
  console.error(`\n!!!!! ${reason}\n`);
  return true;
}

async function httpOk(url: string, init?: RequestInit): Promise<boolean> {
  try {
    const r = await fetch(url, init);
    await r.body?.cancel();
    return r.ok;
  } catch {
    return false;
  }
}

/** A VictoriaMetrics single-node server; restartable on the same port and data directory. */
export class VictoriaMetrics {
  readonly port: number;
  readonly dataDir: string;
  #process: ServerProcess | undefined;

  constructor(dir: string) {
    this.port = freePort();
    this.dataDir = join(dir, "vm");
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.#process = new ServerProcess("victoria-metrics", "victoria-metrics", [
      `-storageDataPath=${this.dataDir}`,
      `-httpListenAddr=127.0.0.1:${this.port}`,
      "-loggerLevel=ERROR",
      "-search.disableCache",
      "-search.latencyOffset=0s",
    ]);
    await waitFor(() => httpOk(`${this.url}/health`), 30_000, () => "VictoriaMetrics did not become healthy");
  }

  async stop(): Promise<void> {
    await this.#process?.stop();
    this.#process = undefined;
  }

  /** Every sample of metrics matching `match` as `sensor|ts` → values (all copies). */
  async samples(match = '{__name__=~"edgelog.*"}'): Promise<Map<string, number[]>> {
    await httpOk(`${this.url}/internal/force_flush`);
    const r = await fetch(`${this.url}/api/v1/export`, {
      method: "POST",
      body: new URLSearchParams({ "match[]": match }),
    });
    const map = new Map<string, number[]>();
    for (const line of (await r.text()).split("\n")) {
      if (line.trim() === "") continue;
      const series = JSON.parse(line) as { metric: Record<string, string>; values: number[]; timestamps: number[] };
      series.timestamps.forEach((ts, i) => {
        const key = `${series.metric.sensor}|${ts}`;
        const list = map.get(key) ?? [];
        list.push(series.values[i]);
        map.set(key, list);
      });
    }
    return map;
  }
}

/** An InfluxDB 1.x server with a database `edgelog`. */
export class InfluxDB1 {
  readonly port: number;
  readonly rpcPort: number;
  readonly dir: string;
  #process: ServerProcess | undefined;

  constructor(dir: string) {
    this.port = freePort();
    this.rpcPort = freePort();
    this.dir = join(dir, "influx");
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    await Deno.mkdir(this.dir, { recursive: true });
    const config = join(this.dir, "influxdb.conf");
    await Deno.writeTextFile(
      config,
      `reporting-disabled = true
bind-address = "127.0.0.1:${this.rpcPort}"
[meta]
  dir = "${this.dir}/meta"
[data]
  dir = "${this.dir}/data"
  wal-dir = "${this.dir}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:${this.port}"
  log-enabled = false
[logging]
  level = "error"
[monitor]
  store-enabled = false
`,
    );
    this.#process = new ServerProcess("influxd", "influxd", ["-config", config]);
    await waitFor(() => httpOk(`${this.url}/ping`), 30_000, () => "influxd did not answer /ping");
    await waitFor(
      () =>
        httpOk(`${this.url}/query`, { method: "POST", body: new URLSearchParams({ q: "CREATE DATABASE edgelog" }) }),
      10_000,
    );
  }

  async stop(): Promise<void> {
    await this.#process?.stop();
    this.#process = undefined;
  }

  /** Every point of measurement `edgelog` as `sensor|ts` → value (InfluxDB keeps one per key). */
  async points(): Promise<Map<string, number>> {
    const q = new URLSearchParams({ db: "edgelog", epoch: "ms", q: 'SELECT "value", "sensor" FROM "edgelog"' });
    const r = await fetch(`${this.url}/query?${q}`);
    const body = await r.json() as { results: { series?: { columns: string[]; values: unknown[][] }[] }[] };
    const map = new Map<string, number>();
    for (const s of body.results[0]?.series ?? []) {
      const [t, v, sensor] = [s.columns.indexOf("time"), s.columns.indexOf("value"), s.columns.indexOf("sensor")];
      for (const row of s.values) map.set(`${row[sensor]}|${row[t]}`, Number(row[v]));
    }
    return map;
  }
}

/** TLS and password settings of a {@link Mosquitto} broker. */
export interface MosquittoSecurity {
  certFile: string;
  keyFile: string;
  /** A file made with `mosquitto_passwd`; anonymous clients are refused. */
  passwordFile: string;
}

/** A Mosquitto broker with persistence, so QoS 1 sessions survive its restart. */
export class Mosquitto {
  readonly port: number;
  readonly dir: string;
  readonly #security: MosquittoSecurity | undefined;
  #process: ServerProcess | undefined;

  constructor(dir: string, security?: MosquittoSecurity) {
    this.port = freePort();
    this.dir = join(dir, "mosquitto");
    this.#security = security;
  }

  async start(): Promise<void> {
    await Deno.mkdir(this.dir, { recursive: true, mode: 0o777 });
    await Deno.chmod(this.dir, 0o777);
    const config = join(this.dir, "mosquitto.conf");
    await Deno.writeTextFile(
      config,
      `listener ${this.port} 127.0.0.1
${Deno.uid() === 0 ? "user root\n" : ""}${
        this.#security
          ? `certfile ${this.#security.certFile}\nkeyfile ${this.#security.keyFile}\n` +
            `allow_anonymous false\npassword_file ${this.#security.passwordFile}`
          : "allow_anonymous true"
      }
persistence true
persistence_location ${this.dir}/
max_queued_messages 0
log_dest stderr
log_type error
`,
    );
    this.#process = new ServerProcess("mosquitto", "mosquitto", ["-c", config]);
    await waitForPort(this.port);
  }

  async stop(): Promise<void> {
    await this.#process?.stop();
    this.#process = undefined;
  }
}

/** Runs a command and throws with its output when it fails. */
async function run(command: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${command} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

/** A throw-away CA and a server certificate for 127.0.0.1 signed by it (PEM files in `dir`). */
export async function makeCertificates(dir: string): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const f = (name: string) => join(dir, name);
  await run("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"],
    ...["-subj", "/CN=edgelog test CA", "-keyout", f("ca.key"), "-out", f("ca.pem")],
  ]);
  await run("openssl", [
    ...["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1"],
    ...["-keyout", f("server.key"), "-out", f("server.csr")],
  ]);
  await Deno.writeTextFile(f("san.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  await run("openssl", [
    ...["x509", "-req", "-in", f("server.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial"],
    ...["-days", "2", "-extfile", f("san.ext"), "-out", f("server.pem")],
  ]);
  return { caFile: f("ca.pem"), certFile: f("server.pem"), keyFile: f("server.key") };
}

/** A mosquitto password file with one user. */
export async function makePasswordFile(dir: string, user: string, password: string): Promise<string> {
  const file = join(dir, "passwords");
  await run("mosquitto_passwd", ["-c", "-b", file, user, password]);
  return file;
}
