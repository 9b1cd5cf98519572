/**
 * `GET /metrics`: the logger's state in the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/). Names follow the Prometheus
 * conventions: `edgelog_` prefix, `_total` for counters, base units (`_seconds`, `_bytes`).
 *
 * @module
 */

import type { ClockReport } from "../clock.ts";
import type { Histogram } from "../histogram.ts";
import type { Pipeline } from "../pipeline.ts";
import { writtenBytes } from "../proc_io.ts";
import type { ForwardLag, Store } from "../store/mod.ts";
import type { HealthStatus } from "./writer_health.ts";

/** The `Content-Type` of the text format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Label names to values of one sample. */
export type Labels = Readonly<Record<string, string>>;

/** Escapes a label value: backslash, double quote and line feed, as the format requires. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (ch) => ch === "\n" ? "\\n" : `\\${ch}`);
}

/** Escapes HELP text: backslash and line feed. */
function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (ch) => ch === "\n" ? "\\n" : "\\\\");
}

/** Formats a sample value: Go-style `NaN`, `+Inf`, `-Inf`, otherwise the shortest decimal. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/**
 * Builds one exposition: each family once, with `# HELP` and `# TYPE` before its samples.
 *
 * @example
 * ```ts
 * const out = new Exposition();
 * out.family("edgelog_readings_stored_total", "counter", "Readings committed.").sample(42);
 * out.text(); // "# HELP edgelog_readings_stored_total Readings committed.\n# TYPE ...\n..."
 * ```
 */
export class Exposition {
  readonly #lines: string[] = [];

  /** Starts the family `name` of `type`; returns a writer for its samples. */
  family(
    name: string,
    type: "counter" | "gauge" | "histogram",
    help: string,
  ): { sample: (value: number, labels?: Labels, suffix?: string) => void } {
    this.#lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    return {
      sample: (value, labels, suffix = "") =>
        this.#lines.push(`${name}${suffix}${formatLabels(labels)} ${formatValue(value)}`),
    };
  }

  /** Writes a whole histogram family from a {@link Histogram}. */
  histogram(name: string, help: string, histogram: Histogram, labels: Labels = {}): void {
    const f = this.family(name, "histogram", help);
    const cumulative = histogram.cumulative();
    histogram.bounds.forEach((bound, i) => f.sample(cumulative[i], { ...labels, le: formatValue(bound) }, "_bucket"));
    f.sample(histogram.count, { ...labels, le: "+Inf" }, "_bucket");
    f.sample(histogram.sum, labels, "_sum");
    f.sample(histogram.count, labels, "_count");
  }

  /** The exposition text, ending with a line feed. */
  text(): string {
    return this.#lines.join("\n") + "\n";
  }
}

function formatLabels(labels: Labels | undefined): string {
  if (labels === undefined) return "";
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** Everything the metrics are read from, at scrape time. */
export interface MetricsSources {
  pipeline: Pipeline;
  store: Store;
  health: HealthStatus;
  version: string;
  bufferSize: number;
  /** Forwarders' lag; none until forwarders exist. */
  forwarders: readonly ForwardLag[];
  /** Damaged databases this logger moved aside. */
  quarantined?: number;
  /** The clock's state; no clock metrics without it. */
  clock?: ClockReport;
  /** Reads `/proc/self/stat` and friends; injectable for tests. */
  readProc?: (path: string) => string;
  /** Counts the entries of a directory (`/proc/self/fd`); injectable for tests. */
  countEntries?: (dir: string) => number;
}

/**
 * Renders every edgelog metric. Names follow the Prometheus naming guide: base units at the end
 * (`_seconds`, `_bytes`, and `_readings` for counts of readings), `_total` after them on counters.
 */
export function renderMetrics(src: MetricsSources): string {
  const out = new Exposition();
  const c = src.pipeline.counters;
  const sources = [...src.pipeline.sources];

  out.family("edgelog_build_info", "gauge", "Build information; the value is always 1.")
    .sample(1, { version: src.version, sqlite_version: src.store.sqliteVersion, deno_version: Deno.version.deno });
  out.family("edgelog_healthy", "gauge", "1 while the writer is committing (what /healthz says), 0 otherwise.")
    .sample(src.health.status === "unhealthy" ? 0 : 1);
  out.family(
    "edgelog_database_quarantined_total",
    "counter",
    "Damaged databases moved aside (renamed, kept) by this logger, which went on in a fresh one.",
  ).sample(src.quarantined ?? 0);

  // Per source; every source is registered (at 0) when it starts, so rates work from the first scrape.
  const taken = out.family("edgelog_taken_readings_total", "counter", "Readings accepted into the buffer.");
  for (const [source, s] of sources) taken.sample(s.taken, { source });
  const dropped = out.family(
    "edgelog_dropped_readings_total",
    "counter",
    "Readings a source produced but the full buffer refused.",
  );
  for (const [source, s] of sources) dropped.sample(s.dropped, { source });
  const rejected = out.family(
    "edgelog_rejected_readings_total",
    "counter",
    "Readings refused as invalid, by source and reason.",
  );
  for (const [source, s] of sources) {
    for (const [reason, n] of s.rejected) rejected.sample(n, { source, reason });
  }
  out.family("edgelog_stored_readings_total", "counter", "Readings committed to the database.").sample(c.stored);
  out.family("edgelog_pending_readings", "gauge", "Readings taken and waiting in the buffer for the writer.")
    .sample(c.pending);
  out.family("edgelog_buffer_capacity_readings", "gauge", "Readings the buffer holds at most.").sample(src.bufferSize);

  out.family("edgelog_commits_total", "counter", "Transactions committed.").sample(c.commits);
  out.family("edgelog_commit_errors_total", "counter", "Commits that failed (and were retried).").sample(
    c.commitErrors,
  );
  out.family("edgelog_commit_errors_in_row", "gauge", "Failed commits since the last successful one.")
    .sample(c.commitErrorsInRow);
  out.histogram("edgelog_commit_duration_seconds", "Time one commit took.", src.pipeline.commitSeconds);
  out.histogram("edgelog_commit_batch_readings", "Readings per commit.", src.pipeline.batchSizes);
  out.histogram(
    "edgelog_event_loop_stall_seconds",
    "How late a timer due every 50 ms fired: time the event loop was held and no reading could be taken.",
    src.pipeline.loopStalls.stalls,
  );
  out.family("edgelog_event_loop_stall_max_seconds", "gauge", "The longest the event loop was held since the start.")
    .sample(src.pipeline.loopStalls.maxMs / 1000);
  out.family("edgelog_last_commit_timestamp_seconds", "gauge", "Unix time of the last commit; 0 before the first.")
    .sample(c.lastCommitAt / 1000);

  const files = src.store.fileSizes();
  out.family("edgelog_database_size_bytes", "gauge", "Size of the database file.").sample(files.db);
  out.family("edgelog_wal_size_bytes", "gauge", "Size of the write-ahead log (-wal) file.").sample(files.wal);
  const written = writtenBytes();
  if (written !== undefined) {
    out.family(
      "edgelog_written_bytes_total",
      "counter",
      "Bytes the process caused to be written to storage (write_bytes of /proc/self/io): flash wear.",
    ).sample(written);
  }
  const perReading = src.store.bytesPerReading();
  if (perReading !== null) {
    out.family("edgelog_stored_bytes_per_reading", "gauge", "Database pages in use per raw reading stored.")
      .sample(perReading);
  }
  const checkpoints = out.family("edgelog_checkpoints_total", "counter", "WAL checkpoints by mode and result.");
  for (const [mode, counts] of Object.entries(src.store.checkpoints)) {
    for (const [result, n] of Object.entries(counts)) checkpoints.sample(n, { mode: mode.toLowerCase(), result });
  }
  const last = src.store.lastCheckpoint;
  out.family("edgelog_last_checkpoint_wal_frames", "gauge", "WAL frames the last checkpoint saw.")
    .sample(last?.log ?? 0);
  out.family("edgelog_last_checkpoint_checkpointed_frames", "gauge", "WAL frames the last checkpoint copied back.")
    .sample(last?.checkpointed ?? 0);

  if (src.forwarders.length > 0) {
    const lag = out.family("edgelog_forwarder_lag_readings", "gauge", "Committed readings not yet sent upstream.");
    for (const f of src.forwarders) lag.sample(f.rows, { forwarder: f.name });
    const age = out.family(
      "edgelog_forwarder_lag_seconds",
      "gauge",
      "Age of the oldest reading not yet sent upstream.",
    );
    for (const f of src.forwarders) age.sample(f.seconds, { forwarder: f.name });
    const held = out.family(
      "edgelog_forwarder_held_readings",
      "gauge",
      "Readings not sent yet because their provisional timestamps wait for the re-stamp.",
    );
    for (const f of src.forwarders) held.sample(f.held ?? 0, { forwarder: f.name });
  }
  if (src.clock) clockMetrics(out, src.clock);

  processMetrics(out, src.readProc ?? Deno.readTextFileSync, src.countEntries);
  return out.text();
}

/** The clock's state (`clock.ts`): trusted or not, provisional and re-stamped readings, steps. */
function clockMetrics(out: Exposition, c: ClockReport): void {
  out.family(
    "edgelog_clock_trusted",
    "gauge",
    "1 while the wall clock is trusted, 0 while readings get provisional timestamps.",
  )
    .sample(c.trusted ? 1 : 0);
  out.family(
    "edgelog_clock_untrusted_seconds",
    "gauge",
    "How long the wall clock has not been trusted (0 while it is).",
  ).sample(c.untrustedForMs / 1000);
  out.family(
    "edgelog_clock_offset_seconds",
    "gauge",
    "edgelog's time minus the wall clock while it is not trusted (0 while it is).",
  ).sample(c.offsetMs / 1000);
  out.family(
    "edgelog_clock_synchronized",
    "gauge",
    "What the system's sync state said last: 1 synchronized, 0 not, -1 no source or no answer yet.",
  ).sample(c.synchronized === null ? -1 : c.synchronized ? 1 : 0, { source: c.sync });
  out.family(
    "edgelog_clock_steps_total",
    "counter",
    "Steps of the wall clock against the monotonic clock beyond --clock-step-threshold.",
  ).sample(c.steps);
  out.family(
    "edgelog_clock_provisional_readings_total",
    "counter",
    "Readings taken with a provisional timestamp (the wall clock was not trusted).",
  ).sample(c.provisionalTaken);
  out.family(
    "edgelog_clock_restamped_readings_total",
    "counter",
    "Readings whose provisional timestamp was re-stamped with the true time.",
  ).sample(c.restamped);
}

/** Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ, 100 on every Linux ABI). */
const CLOCK_TICKS = 100;

/**
 * The standard `process_*` metrics of the Prometheus client libraries, from what Deno and
 * `/proc/self` tell. Without `/proc` (another OS, or no permission to read it) only the resident
 * memory and the start time are written: a scrape never fails over them.
 */
export function processMetrics(
  out: Exposition,
  readProc: (path: string) => string,
  countEntries: (dir: string) => number = (dir) => [...Deno.readDirSync(dir)].length,
): void {
  let stat: string[] | undefined;
  let maxFds: number | undefined;
  try {
    // The command name (field 2) may hold spaces and parentheses: split after its last ")".
    const text = readProc("/proc/self/stat");
    stat = text.slice(text.lastIndexOf(")") + 2).trim().split(" ");
  } catch {
    stat = undefined;
  }
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readProc("/proc/self/limits"));
    if (m) maxFds = Number(m[1]);
  } catch {
    maxFds = undefined;
  }
  if (stat && stat.length > 20) {
    // Fields from state (field 3) on: utime is field 14, stime 15, vsize 23.
    const field = (n: number) => Number(stat![n - 3]);
    out.family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.")
      .sample((field(14) + field(15)) / CLOCK_TICKS);
    out.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.").sample(field(23));
  }
  out.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.").sample(Deno.memoryUsage().rss);
  out.family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.")
    .sample(Math.round(performance.timeOrigin) / 1000);
  let openFds: number | undefined;
  try {
    openFds = countEntries("/proc/self/fd");
  } catch {
    openFds = undefined;
  }
  if (openFds !== undefined) {
    out.family("process_open_fds", "gauge", "Number of open file descriptors.").sample(openFds);
  }
  if (maxFds !== undefined) {
    out.family("process_max_fds", "gauge", "Maximum number of open file descriptors.").sample(maxFds);
  }
}
