/**
 * Test helpers for processes: spawn the real program with the start task's flags, read its JSON
 * log records, send signals, wait for conditions, inspect /proc.
 *
 * @module
 */

import { fileURLToPath as fromFileUrl } from "node:url";
import denoJson from "../../deno.json" with { type: "json" };

/** Absolute path of the project root. */
export const ROOT: string = fromFileUrl(new URL("../../", import.meta.url));

/** Absolute path of main.ts. */
export const MAIN: string = fromFileUrl(new URL("../../main.ts", import.meta.url));

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

/**
 * The command that runs Deno for the program under test: this Deno, or `EDGELOG_TEST_DENO` (words
 * separated by spaces), which `deno task test:arm64` sets to the arm64 Deno under qemu-user while
 * the tests themselves run on this Deno.
 */
export function denoCommand(): string[] {
  const custom = Deno.env.get("EDGELOG_TEST_DENO")?.trim();
  return custom ? custom.split(/\s+/) : [Deno.execPath()];
}

/** Deadlines are multiplied by this (`EDGELOG_TEST_TIMEOUT_SCALE`, e.g. 10 under emulation). */
const TIMEOUT_SCALE = Number(Deno.env.get("EDGELOG_TEST_TIMEOUT_SCALE") ?? "1") || 1;

/**
 * The lines of a child's output as they arrive, without their newline; an unterminated last line
 * (a process killed mid-write) only with `unterminated`.
 */
export async function* textLines(
  stream: ReadableStream<Uint8Array>,
  options: { unterminated?: boolean } = {},
): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let nl;
    while ((nl = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, nl);
      rest = rest.slice(nl + 1);
    }
  }
  if (rest && options.unterminated) yield rest;
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
    for await (const line of textLines(stream, { unterminated: true })) {
      this.stderrLines.push(line);
      try {
        this.records.push(JSON.parse(line));
      } catch { /* not JSON: kept in stderrLines */ }
    }
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
  /** Leave the clock sync source to the logger's settings (a config file): no `EDGELOG_CLOCK_SYNC=none`. */
  clockSyncFromSettings?: boolean;
}

/** Spawns `deno run <start flags> main.ts <args>` with JSON logs. */
export function spawnLogger(args: string[], options: SpawnOptions = {}): LoggerProcess {
  const argv = [...denoCommand(), "run", ...startFlags(), MAIN, ...args];
  const [cmd, ...rest] = [...(options.prefix ?? []), ...argv];
  const child = new Deno.Command(cmd, {
    args: rest,
    cwd: options.cwd,
    // The host's time sync state is not the test's: a runner whose timesyncd runs but has not
    // synchronized would hold every forwarder. Flags win over the environment; a test that sets
    // the sync source in a config file says so with `clockSyncFromSettings`.
    env: {
      EDGELOG_LOG_FORMAT: "json",
      NO_COLOR: "1",
      ...(options.clockSyncFromSettings ? {} : { EDGELOG_CLOCK_SYNC: "none" }),
      ...options.env,
    },
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
  timeoutMs *= TIMEOUT_SCALE;
  const deadline = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms: ${what?.() ?? "condition not met"}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** True when running as root (namespaces, mounts and chroot are possible). */
export function isRoot(): boolean {
  return Deno.uid() === 0;
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
 * True when /proc says `pid` has a handler installed for signal number `sig` by the program it
 * runs. Until exec has finished, a child still shows its parent's handlers (a `deno test` runner
 * catches SIGINT and SIGTERM): the kernel installs the new program (new command line) a moment
 * before it resets them, and a signal sent then kills the child by default. So the handler only
 * counts once the new program runs more than one thread: a forked child has one, and the Deno
 * runtime starts its threads only after exec, which has by then reset the inherited handlers.
 * Not a probe of edgelog's own listeners for SIGTERM or SIGINT: use {@link listensForStop}.
 */
function catchesSignal(pid: number, sig: number): boolean {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    if (Deno.readTextFileSync(`/proc/${pid}/cmdline`) === Deno.readTextFileSync("/proc/self/cmdline")) return false;
    const threads = /^Threads:\s*(\d+)$/m.exec(status);
    if (threads === null || Number(threads[1]) < 2) return false;
    const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status);
    return m !== null && ((BigInt("0x" + m[1]) >> BigInt(sig - 1)) & 1n) === 1n;
  } catch {
    return false;
  }
}

/**
 * True once edgelog's own stop listeners are installed in `pid`. SIGTERM in SigCgt does not say
 * that: the Deno runtime catches SIGTERM, SIGINT and SIGHUP from its start, before the program's
 * code runs, and a SIGTERM then ends the process with 143. edgelog listens for SIGQUIT last of its
 * stop signals (lib/stop_signal.ts), and Deno does not catch it on its own.
 */
export function listensForStop(pid: number): boolean {
  return catchesSignal(pid, 3);
}

/** True while `pid` exists and is not a zombie waiting to be reaped. */
export function processRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
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
