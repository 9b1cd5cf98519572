/**
 * The `exec` source: runs a command once per interval (or keeps one long-running command) and
 * reads readings from its stdout, as NDJSON or `name value [unit]` lines.
 *
 * The command's output is not trusted: lines are bounded and validated like any other input, one
 * run's output is bounded (`max-output`), and a command that hangs is killed at its timeout
 * together with everything it started (it runs in its own process group). A failing command is
 * logged with its exit code and the tail of its stderr, and retried.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { InvalidValue } from "../errors.ts";
import { logger } from "../log.ts";
import type { Emit } from "../pipeline.ts";
import type { Reading } from "../reading.ts";
import { splitCommandLine } from "../shell_words.ts";
import { parseDurationMs } from "../units.ts";
import { LineSplitter } from "./_lines.ts";
import { LIMITS, parseLine, type SensorLimit } from "./_reading_parser.ts";
import type { Rejections } from "./_rejections.ts";
import type { Source } from "./source.ts";
import { Pause } from "./_pause.ts";

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

const EXEC_SETTING = /^(mode|timeout|format|interval|max-output)=(.*)$/;
const DAY_MS = 86_400_000;

/**
 * Parses the options of `exec:OPTIONS` into an {@link ExecSpec}; throws {@link InvalidValue}.
 *
 * @example
 * ```ts
 * parseExecSpec("mode=stream ./read-sensors --json").argv; // ["./read-sensors", "--json"]
 * ```
 */
export function parseExecSpec(options: string): ExecSpec {
  const words = splitCommandLine(options);
  const spec: ExecSpec = { argv: [], mode: "interval", timeoutMs: -1, format: "auto", maxOutputBytes: 1024 * 1024 };
  let i = 0;
  for (; i < words.length; i++) {
    const m = EXEC_SETTING.exec(words[i]);
    if (!m) break;
    const [, key, value] = m;
    if (key === "mode") spec.mode = choice(value, ["interval", "stream"]);
    else if (key === "format") spec.format = choice(value, ["auto", "ndjson", "text"]);
    else if (key === "timeout") spec.timeoutMs = durationWithin(value, 0, DAY_MS);
    else if (key === "interval") spec.intervalMs = durationWithin(value, 10, DAY_MS);
    else spec.maxOutputBytes = wholeNumberWithin(value, 1, 1024 * 1024 * 1024);
  }
  spec.argv = words.slice(i);
  if (spec.argv.length === 0) throw new InvalidValue(`exec needs a command: --source 'exec:COMMAND ARGS…'`);
  if (spec.timeoutMs < 0) spec.timeoutMs = spec.mode === "interval" ? 10_000 : 0;
  return spec;
}

function choice<T extends string>(raw: string, choices: readonly T[]): T {
  const value = raw.toLowerCase();
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new InvalidValue(`expected one of ${choices.join(", ")}, got ${JSON.stringify(raw)}`);
}

function durationWithin(raw: string, minMs: number, maxMs: number): number {
  const ms = parseDurationMs(raw, "ms");
  if (ms < minMs || ms > maxMs) throw new InvalidValue(`must be between ${minMs} ms and ${maxMs} ms, got ${ms} ms`);
  return ms;
}

function wholeNumberWithin(raw: string, min: number, max: number): number {
  const n = /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n)) throw new InvalidValue(`expected a whole number, got ${JSON.stringify(raw)}`);
  if (n < min || n > max) throw new InvalidValue(`must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** Options of {@link ExecSource}. */
export interface ExecOptions {
  spec: ExecSpec;
  /** Period between runs (interval mode) unless the spec has its own, ms. */
  intervalMs: number;
  rejections: Rejections;
  /** The `--max-sensors` limit shared by the push sources; none when absent. */
  sensorLimit?: SensorLimit;
  /** Wall clock in unix ms, fills a missing `ts`; injectable for tests. */
  now?: () => number;
  log?: Logger;
  /** Least time between two log lines about the same kind of failure, ms (default 60 000). */
  failureLogIntervalMs?: number;
}

/** Bytes of stderr kept for the failure log line. */
const STDERR_TAIL_BYTES = 2048;
/** Time a stopping command gets between SIGTERM and SIGKILL, ms. */
const KILL_GRACE_MS = 1000;
/** Restart delays of a long-running command that exited: doubling from 1 s up to 60 s. */
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 60_000;

/** How one run of the command ended. */
export interface RunOutcome {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  tooMuchOutput: boolean;
  /** The spawn itself failed (command not found, not executable, no permission). */
  spawnError?: string;
  stderrTail: string;
  readings: number;
}

/** Readings from a command's output. */
export class ExecSource implements Source {
  readonly name: string;
  readonly #spec: ExecSpec;
  readonly #intervalMs: number;
  readonly #rejections: Rejections;
  readonly #sensorLimit: SensorLimit | undefined;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #failureLogIntervalMs: number;
  #emit: Emit | undefined;
  #stopping = false;
  readonly #pause = new Pause();
  #child: Deno.ChildProcess | undefined;
  #stdout: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #loop: Promise<void> | undefined;
  #failures = 0;
  #lastFailureLogAt = -Infinity;

  constructor(options: ExecOptions) {
    this.#spec = options.spec;
    this.name = `exec ${options.spec.argv[0]}`;
    this.#intervalMs = options.spec.intervalMs ?? options.intervalMs;
    this.#rejections = options.rejections;
    this.#sensorLimit = options.sensorLimit;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? logger("sources");
    this.#failureLogIntervalMs = options.failureLogIntervalMs ?? 60_000;
  }

  /** Starts the first run at once, then keeps running in the background. */
  start(emit: Emit): void {
    this.#emit = emit;
    this.#loop = this.#spec.mode === "stream" ? this.#streamLoop() : this.#intervalLoop();
  }

  async #intervalLoop(): Promise<void> {
    while (!this.#stopping) {
      const t0 = performance.now();
      this.#report(await this.runOnce());
      await this.#sleep(t0 + this.#intervalMs - performance.now());
    }
  }

  async #streamLoop(): Promise<void> {
    let delay = RESTART_MIN_MS;
    while (!this.#stopping) {
      const t0 = performance.now();
      const outcome = await this.runOnce();
      if (this.#stopping) break;
      this.#report(outcome, true);
      if (performance.now() - t0 > RESTART_MAX_MS) delay = RESTART_MIN_MS;
      await this.#sleep(delay);
      delay = Math.min(delay * 2, RESTART_MAX_MS);
    }
  }

  #sleep(ms: number): Promise<void> {
    return this.#stopping ? Promise.resolve() : this.#pause.sleep(ms);
  }

  #report(outcome: RunOutcome, exitedOnItsOwn = false): void {
    if (this.#stopping) return;
    const failed = outcome.spawnError !== undefined || outcome.timedOut || outcome.tooMuchOutput ||
      outcome.code !== 0 || exitedOnItsOwn;
    if (!failed) {
      if (this.#failures > 0) {
        this.#log.info("{source}: runs again after {failures} failures", {
          source: this.name,
          failures: this.#failures,
        });
      }
      this.#failures = 0;
      this.#lastFailureLogAt = -Infinity;
      return;
    }
    this.#failures++;
    const now = performance.now();
    if (now - this.#lastFailureLogAt < this.#failureLogIntervalMs) return;
    this.#lastFailureLogAt = now;
    const what = outcome.spawnError !== undefined
      ? `could not be started: ${outcome.spawnError}`
      : outcome.timedOut
      ? `timed out after ${this.#spec.timeoutMs} ms and was killed`
      : outcome.tooMuchOutput
      ? `printed more than ${this.#spec.maxOutputBytes} bytes and was killed`
      : outcome.signal
      ? `was killed by ${outcome.signal}`
      : exitedOnItsOwn && outcome.code === 0
      ? "(long-running) ended with code 0; restarting it"
      : `exited with code ${outcome.code}`;
    this.#log.error("{source}: the command {what}; will retry; stderr: {stderr_tail}", {
      source: this.name,
      what,
      command: this.#spec.argv,
      exit_code: outcome.code,
      signal: outcome.signal,
      failures: this.#failures,
      stderr_tail: outcome.stderrTail,
    });
  }

  /** Runs the command once (until it exits, times out or is stopped); public for tests. */
  async runOnce(): Promise<RunOutcome> {
    const spec = this.#spec;
    const outcome: RunOutcome = {
      code: null,
      signal: null,
      timedOut: false,
      tooMuchOutput: false,
      stderrTail: "",
      readings: 0,
    };
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(spec.argv[0], {
        args: spec.argv.slice(1),
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        // Its own process group, so a timeout kills everything the command started.
        detached: true,
      }).spawn();
    } catch (e) {
      outcome.spawnError = (e as Error).message;
      return outcome;
    }
    this.#child = child;
    const stdout = child.stdout.getReader();
    this.#stdout = stdout;
    const stderr = collectTail(child.stderr, STDERR_TAIL_BYTES);

    let timer: ReturnType<typeof setTimeout> | undefined;
    const armTimeout = () => {
      if (spec.timeoutMs <= 0) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        outcome.timedOut = true;
        killGroup(child, "SIGKILL");
        stdout.cancel().catch(() => {});
      }, spec.timeoutMs);
    };
    armTimeout();

    let batch: Reading[] = [];
    const lines = new LineSplitter(
      LIMITS.lineBytesMax,
      (line, lineNo) => {
        const parsed = parseLine(line, spec.format, this.#now());
        const r = this.#sensorLimit?.admit(parsed) ?? parsed;
        if (r.ok) batch.push(r.reading);
        else this.#rejections.reject(r.reason, r.message, `output line ${lineNo}`);
      },
      (reason, message, lineNo) => this.#rejections.reject(reason, message, `output line ${lineNo}`),
    );
    const deliver = () => {
      if (batch.length === 0) return;
      const emit = this.#emit;
      if (emit) {
        emit(batch);
        outcome.readings += batch.length;
      }
      batch = [];
    };
    let outBytes = 0;
    try {
      for (;;) {
        const { value, done } = await stdout.read();
        if (done) break;
        outBytes += value.length;
        if (spec.mode === "interval" && outBytes > spec.maxOutputBytes) {
          // Keep the complete lines within the limit; the rest of the output is not read.
          lines.push(value.subarray(0, spec.maxOutputBytes - (outBytes - value.length)));
          deliver();
          outcome.tooMuchOutput = true;
          killGroup(child, "SIGKILL");
          await stdout.cancel().catch(() => {});
          break;
        }
        if (spec.mode === "stream") armTimeout();
        lines.push(value);
        deliver();
      }
      if (!outcome.tooMuchOutput && !outcome.timedOut) {
        lines.end();
        deliver();
      }
    } catch {
      // stdout was cancelled (timeout or stop)
    } finally {
      stdout.releaseLock();
    }
    // Output closed: the command exited, or a child it left behind holds the pipe (killed here).
    if (outcome.timedOut || outcome.tooMuchOutput || this.#stopping) killGroup(child, "SIGKILL");
    const status = await child.status;
    clearTimeout(timer);
    this.#child = undefined;
    this.#stdout = undefined;
    outcome.code = status.signal ? null : status.code;
    outcome.signal = status.signal;
    outcome.stderrTail = await stderr;
    return outcome;
  }

  /** Stops: the running command gets SIGTERM, then SIGKILL after a grace period. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#pause.wake();
    const child = this.#child;
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (child) {
      killGroup(child, "SIGTERM");
      timer = setTimeout(() => {
        killGroup(child, "SIGKILL");
        this.#stdout?.cancel().catch(() => {});
      }, KILL_GRACE_MS);
    }
    await this.#loop;
    clearTimeout(timer);
    this.#emit = undefined;
  }
}

/** Signals the command's process group (it was started detached, as a group leader). */
function killGroup(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    Deno.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** Reads a stream to its end, keeping only its last `max` bytes, decoded leniently. */
async function collectTail(stream: ReadableStream<Uint8Array>, max: number): Promise<string> {
  const tail = new Uint8Array(max);
  let length = 0;
  try {
    for await (const chunk of stream) {
      if (chunk.length >= max) {
        tail.set(chunk.subarray(chunk.length - max));
        length = max;
      } else {
        const keep = Math.min(length, max - chunk.length);
        tail.copyWithin(0, length - keep, length);
        tail.set(chunk, keep);
        length = keep + chunk.length;
      }
    }
  } catch {
    // the stream broke: keep what arrived
  }
  return new TextDecoder().decode(tail.subarray(0, length)).trim();
}
