/**
 * Helpers for tests that run the real program: spawn it with the start task's flags, read its
 * JSON log records, send signals, and inspect the database it left on disk.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { fileURLToPath as fromFileUrl } from "node:url";
import denoJson from "../deno.json" with { type: "json" };

/** Absolute path of the project root. */
export const ROOT: string = fromFileUrl(new URL("../", import.meta.url));
/** Absolute path of main.ts. */
export const MAIN: string = fromFileUrl(new URL("../main.ts", import.meta.url));

/**
 * The permission flags of the `start` task (the same that `compile` bakes in), so tests run the
 * program exactly as users and the compiled binary do.
 */
export function startFlags(): string[] {
  const task = denoJson.tasks.start;
  const m = /^deno run (.*) main\.ts$/.exec(task);
  if (!m) throw new Error(`unexpected start task: ${task}`);
  return m[1].split(/\s+/);
}

/** One parsed JSON log record. */
export type LogRecord = Record<string, unknown> & { level: string; message: string };

/** A running edgelog process and what it printed. */
export class LoggerProcess {
  readonly child: Deno.ChildProcess;
  readonly records: LogRecord[] = [];
  readonly stderrLines: string[] = [];
  readonly stdout: Promise<string>;
  readonly #stderrDone: Promise<void>;

  constructor(child: Deno.ChildProcess) {
    this.child = child;
    this.#stderrDone = this.#collect(child.stderr);
    this.stdout = new Response(child.stdout).text();
  }

  get pid(): number {
    return this.child.pid;
  }

  async #collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoderStream();
    let rest = "";
    for await (const chunk of stream.pipeThrough(decoder)) {
      rest += chunk;
      let nl;
      while ((nl = rest.indexOf("\n")) >= 0) {
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        this.stderrLines.push(line);
        try {
          this.records.push(JSON.parse(line));
        } catch { /* not JSON: kept in stderrLines */ }
      }
    }
    if (rest) this.stderrLines.push(rest);
  }

  /** Waits until a record matching `pred` was logged. */
  async waitForRecord(pred: (r: LogRecord) => boolean, timeoutMs = 20_000): Promise<LogRecord> {
    let found: LogRecord | undefined;
    await waitFor(
      () => (found = this.records.find(pred)) !== undefined,
      timeoutMs,
      () => `no matching log record; stderr:\n${this.stderrLines.join("\n")}`,
    );
    return found!;
  }

  /** Waits until the start record says the database is open and logging. */
  waitUntilLogging(timeoutMs = 20_000): Promise<LogRecord> {
    return this.waitForRecord((r) => typeof r.sqlite_version === "string", timeoutMs);
  }

  kill(signal: Deno.Signal): void {
    this.child.kill(signal);
  }

  /** Waits for exit and for stderr to be fully read. */
  async exited(): Promise<Deno.CommandStatus> {
    const status = await this.child.status;
    await this.#stderrDone;
    await this.stdout;
    return status;
  }

  /** The final record (the one carrying `taken`/`stored`), if the process logged it. */
  finalRecord(): (LogRecord & { taken: number; stored: number; dropped: number }) | undefined {
    return this.records.findLast((r) => typeof r.taken === "number" && typeof r.duration_ms === "number") as
      | (LogRecord & { taken: number; stored: number; dropped: number })
      | undefined;
  }
}

/** Options of {@link spawnLogger}. */
export interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Command prefix, e.g. `["unshare", "--pid", "--fork", "--mount-proc"]`. */
  prefix?: string[];
  stdin?: "piped" | "null";
}

/** Spawns `deno run <start flags> main.ts <args>` with JSON logs. */
export function spawnLogger(args: string[], options: SpawnOptions = {}): LoggerProcess {
  const argv = [Deno.execPath(), "run", ...startFlags(), MAIN, ...args];
  const [cmd, ...rest] = [...(options.prefix ?? []), ...argv];
  const child = new Deno.Command(cmd, {
    args: rest,
    cwd: options.cwd,
    env: { EDGELOG_LOG_FORMAT: "json", NO_COLOR: "1", ...options.env },
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return new LoggerProcess(child);
}

/** Runs the program to completion and returns its exit code and output. */
export async function runOnce(
  args: string[],
  options: SpawnOptions = {},
): Promise<{ code: number; stdout: string; stderr: string; process: LoggerProcess }> {
  const p = spawnLogger(args, options);
  const status = await p.exited();
  return { code: status.code, stdout: await p.stdout, stderr: p.stderrLines.join("\n"), process: p };
}

/** Polls `cond` every 10 ms until it holds; throws after `timeoutMs`. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what?: () => string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms: ${what?.() ?? "condition not met"}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Opens `path` read-only, runs `fn`, closes. */
export function withDb<T>(path: string, fn: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** Number of rows in `readings`. */
export function countReadings(path: string): number {
  return withDb(path, (db) => Number((db.prepare("SELECT count(*) AS n FROM readings").get() as { n: number }).n));
}

/** Result of `PRAGMA integrity_check` ("ok" when healthy). */
export function integrityCheck(path: string): string {
  return withDb(path, (db) => {
    const lines = (db.prepare("PRAGMA integrity_check").all() as { integrity_check: string }[])
      .map((r) => r.integrity_check);
    // The writer does not enforce foreign keys (see lib/store.ts): check them here, every time.
    const orphans = db.prepare("PRAGMA foreign_key_check").all() as { table: string; rowid: number }[];
    if (orphans.length > 0) {
      if (lines.length === 1 && lines[0] === "ok") lines.pop();
      lines.push(`${orphans.length} rows with a missing parent, first ${orphans[0].table} row ${orphans[0].rowid}`);
    }
    return lines.join("; ");
  });
}

/** Size of the -wal file in bytes, 0 when it does not exist. */
export function walSize(dbPath: string): number {
  try {
    return Deno.statSync(`${dbPath}-wal`).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return 0;
    throw e;
  }
}

/** A fresh temporary directory, removed by the returned disposer. */
export async function tempDir(prefix = "edgelog-test-"): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}

/** True when running as root (namespaces, mounts and chroot are possible). */
export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/** SHA-256 of a file, hex. */
export async function sha256File(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Writes a fake sysfs tree under `root` (for `--sysfs-root`): `files` maps paths relative to
 * the root (e.g. `class/hwmon/hwmon0/temp1_input`) to their content.
 */
export async function writeFakeSysfs(root: string, files: Record<string, string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const path = `${root}/${rel}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, content);
  }
}

/** A small but realistic sysfs tree: two thermal zones and three hwmon chips (two share a name). */
export const FAKE_SYSFS: Readonly<Record<string, string>> = Object.freeze({
  "class/thermal/thermal_zone0/type": "acpitz\n",
  "class/thermal/thermal_zone0/temp": "27800\n",
  "class/thermal/thermal_zone1/type": "x86_pkg_temp\n",
  "class/thermal/thermal_zone1/temp": "45000\n",
  "class/thermal/cooling_device0/type": "Processor\n",
  "class/hwmon/hwmon0/name": "coretemp\n",
  "class/hwmon/hwmon0/temp1_input": "46000\n",
  "class/hwmon/hwmon0/temp1_label": "Package id 0\n",
  "class/hwmon/hwmon0/temp2_input": "-1500\n",
  "class/hwmon/hwmon1/name": "nvme\n",
  "class/hwmon/hwmon1/temp1_input": "38850\n",
  "class/hwmon/hwmon2/name": "nvme\n",
  "class/hwmon/hwmon2/in0_input": "12096\n",
  "class/hwmon/hwmon2/fan1_input": "1200\n",
  "class/hwmon/hwmon2/power1_input": "4500000\n",
  "class/hwmon/hwmon2/curr1_input": "250\n",
});

/** Waits for the "HTTP listener on HOST:PORT" record and returns the bound port (for `--listen 127.0.0.1:0`). */
export async function listenPort(p: LoggerProcess, timeoutMs = 20_000): Promise<number> {
  const r = await p.waitForRecord((r) => typeof r.port === "number" && typeof r.hostname === "string", timeoutMs);
  return r.port as number;
}

/** Rows of `readings` joined with their sensor, in log order. */
export function readingRows(path: string): { sensor: string; unit: string | null; ts: number; value: number }[] {
  return withDb(
    path,
    (db) =>
      db.prepare(
        "SELECT s.name AS sensor, s.unit AS unit, r.ts AS ts, r.value AS value FROM readings r JOIN sensors s ON s.id = r.sensor_id ORDER BY r.id",
      ).all().map((row) => ({ ...row })) as { sensor: string; unit: string | null; ts: number; value: number }[],
  );
}

/** A free TCP port on 127.0.0.1 (bound and released; another process could take it meanwhile). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** True when `command` is on the PATH (`/usr/sbin` included). */
export function hasCommand(command: string): boolean {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":"), "/usr/sbin", "/sbin"];
  return dirs.some((dir) => {
    try {
      return Deno.statSync(`${dir}/${command}`).isFile;
    } catch {
      return false;
    }
  });
}

/** Waits until a TCP connection to 127.0.0.1:`port` succeeds. */
export async function waitForPort(port: number, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    async () => {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        return true;
      } catch {
        return false;
      }
    },
    timeoutMs,
    () => `nothing listens on 127.0.0.1:${port}`,
  );
}

/** A server process started by a test; `stop()` sends SIGTERM and waits (SIGKILL after 10 s). */
export class ServerProcess {
  readonly child: Deno.ChildProcess;
  readonly name: string;
  readonly output: Promise<string>;

  constructor(name: string, command: string, args: string[], cwd?: string) {
    this.name = name;
    const path = ["/usr/sbin", "/sbin"].map((d) => `${d}/${command}`).find((p) => {
      try {
        return Deno.statSync(p).isFile;
      } catch {
        return false;
      }
    }) ?? command;
    this.child = new Deno.Command(path, { args, cwd, stdin: "null", stdout: "piped", stderr: "piped" }).spawn();
    const decode = (s: ReadableStream<Uint8Array>) => new Response(s).text();
    this.output = Promise.all([decode(this.child.stdout), decode(this.child.stderr)]).then(([o, e]) => o + e);
  }

  /** Stops the server gracefully and waits for it to exit. */
  async stop(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch { /* already exited */ }
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch { /* exited */ }
    }, 10_000);
    await this.child.status;
    clearTimeout(timer);
    await this.output;
  }
}

/** The cursor of forwarder `name` in the database at `path`, or undefined. */
export function cursorOf(path: string, name: string): number | undefined {
  return withDb(path, (db) => {
    const row = db.prepare("SELECT last_id FROM forward_cursors WHERE name = ?").get(name) as
      | { last_id: number }
      | undefined;
    return row === undefined ? undefined : Number(row.last_id);
  });
}

/** The largest reading id in the database at `path` (0 when empty). */
export function maxReadingId(path: string): number {
  return withDb(
    path,
    (db) => Number((db.prepare("SELECT coalesce(max(id), 0) AS m FROM readings").get() as { m: number }).m),
  );
}

/** Every reading as `sensor|ts` → value in id order, for comparing with what an upstream received. */
export function readingsByKey(path: string): Map<string, number> {
  return withDb(path, (db) => {
    const map = new Map<string, number>();
    const rows = db.prepare(
      "SELECT s.name AS sensor, r.ts AS ts, r.value AS value FROM readings r JOIN sensors s ON s.id = r.sensor_id",
    )
      .all() as { sensor: string; ts: number; value: number }[];
    for (const r of rows) map.set(`${r.sensor}|${r.ts}`, r.value);
    return map;
  });
}

/** Waits for the logger's "HTTP listener on" record and returns its base URL. */
export async function listenerUrl(p: LoggerProcess, timeoutMs = 20_000): Promise<string> {
  return `http://127.0.0.1:${await listenPort(p, timeoutMs)}`;
}

/** Runs a command to completion; returns its exit code and output. */
export async function run(
  cmd: string,
  args: string[],
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** Options of {@link seedReadings}. */
export interface SeedOptions {
  /** Number of sensors, named `s-1` ... (default 10). */
  sensors?: number;
  /** Timestamp of the first reading, unix ms (default now minus one reading interval per row). */
  startTs?: number;
  /** Milliseconds between consecutive readings of one sensor (default 1000). */
  stepMs?: number;
}

/**
 * Creates an edgelog database at `path` (through the real Store, so the schema is the real one)
 * and fills it with `rows` readings generated inside SQLite (recursive CTE), fast enough for
 * 10^7 rows. Sensor `s-k` has id k; reading i belongs to sensor (i mod sensors) + 1, at
 * startTs + floor(i / sensors) * stepMs, with value (i mod 1000) / 10.
 */
export async function seedReadings(path: string, rows: number, options: SeedOptions = {}): Promise<void> {
  const { Store } = await import("../lib/store.ts");
  Store.open(path, { durability: "normal" }).close();
  const sensors = options.sensors ?? 10;
  const stepMs = options.stepMs ?? 1000;
  const startTs = options.startTs ?? Date.now() - Math.ceil(rows / sensors) * stepMs;
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA synchronous = OFF; BEGIN");
    const sensor = db.prepare("INSERT INTO sensors(id, name, unit) VALUES (?, ?, ?)");
    for (let k = 1; k <= sensors; k++) sensor.run(k, `s-${k}`, k % 2 ? "°C" : null);
    db.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 - 1)
       INSERT INTO readings(sensor_id, ts, value)
       SELECT (i % ?2) + 1, CAST(?3 AS INTEGER) + (i / CAST(?2 AS INTEGER)) * CAST(?4 AS INTEGER), (i % 1000) / 10.0 FROM n`,
    ).run(rows, sensors, startTs, stepMs);
    db.exec("COMMIT; PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
}

/** Peak resident memory (VmHWM) of a running process in KiB, or undefined once it is gone. */
export function peakRssKiB(pid: number): number | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const m = /^VmHWM:\s+(\d+) kB/m.exec(status);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when /proc says `pid` has a handler installed for signal number `sig`. A child that has
 * not yet called exec still shows its parent's handlers (a `deno test` runner catches SIGINT and
 * SIGTERM), so until its command line differs from ours it does not count.
 */
export function catchesSignal(pid: number, sig: number): boolean {
  const caught = () => {
    if (Deno.readTextFileSync(`/proc/${pid}/cmdline`) === Deno.readTextFileSync("/proc/self/cmdline")) return false;
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status);
    return m !== null && ((BigInt("0x" + m[1]) >> BigInt(sig - 1)) & 1n) === 1n;
  };
  try {
    if (!caught()) return false;
    // Inside exec the kernel installs the new program (new cmdline) a moment before it resets the
    // parent's handlers: a signal sent then kills the child by default (seen once as exit 130).
    // The program's own handler stays; the inherited one is gone 5 ms later.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    return caught();
  } catch {
    return false;
  }
}

/** The first child of `pid` (e.g. `unshare --fork`'s child, the namespace's PID 1). */
export async function childPid(pid: number, timeoutMs = 10_000): Promise<number> {
  let child = 0;
  await waitFor(() => {
    try {
      const kids = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim();
      child = Number(kids.split(/\s+/)[0]);
      return child > 0;
    } catch {
      return false;
    }
  }, timeoutMs);
  return child;
}

/** Resident memory of `pid` in KiB (VmRSS), or undefined once it is gone. */
export function residentKib(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s*(\d+) kB$/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
