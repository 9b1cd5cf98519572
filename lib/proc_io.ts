/**
 * What a process has written to storage, from the kernel's per-process I/O accounting
 * (`/proc/PID/io`, field `write_bytes`): the figure flash wear follows. The kernel counts a whole
 * 4 KiB page each time one is dirtied, so it includes what SQLite's fsyncs cost, not only the
 * bytes edgelog asked to write.
 *
 * @module
 */

/**
 * Bytes process `pid` (default: this one) caused to be written to storage since it started, or
 * undefined where `/proc` cannot be read (not Linux, no permission, the process is gone).
 *
 * @example
 * ```ts
 * const before = writtenBytes();
 * // … work …
 * console.log(`${(writtenBytes() ?? 0) - (before ?? 0)} bytes written`);
 * ```
 */
export function writtenBytes(pid: number | "self" = "self"): number | undefined {
  try {
    const m = /^write_bytes:\s*(\d+)$/m.exec(Deno.readTextFileSync(`/proc/${pid}/io`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
