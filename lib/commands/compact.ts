/**
 * `edgelog compact`: moves readings from the hot table into compressed chunks now, instead of
 * waiting for the running logger to do it in the background (it needs the writer lock, so it runs
 * when no logger writes to the database).
 *
 * @module
 */

import { ConfigError, ExitCode } from "../errors.ts";
import { DEFAULT_COMPACT_AFTER_MS, Store } from "../store/mod.ts";
import { parseDurationMs } from "../units.ts";
import { COMMON_HELP, parseCommand } from "./_args.ts";
import type { Command } from "./command.ts";

const USAGE = `Usage: edgelog compact [--db FILE] [--older-than DURATION | --all]

Moves readings into compressed per-sensor chunks now (the logger does it in the background,
once a step of readings has gathered or they are older than --compact-after). Needs the writer
lock: stop the logger first (exit 3 when one is running). Crash-safe: every step is one
transaction.

  --older-than DURATION  compact readings older than this (default ${DEFAULT_COMPACT_AFTER_MS / 60_000}m)
  --all                  compact every reading, whatever its age
${COMMON_HELP}`;

/** The `compact` subcommand. */
export const compactCommand: Command = {
  name: "compact",
  summary: "move readings into compressed chunks now (docs/STORAGE.md)",
  run(args: readonly string[]): Promise<number> {
    const values = parseCommand("compact", args, { "older-than": { type: "string" }, all: { type: "boolean" } }, USAGE);
    if (!values) return Promise.resolve(ExitCode.ok);
    let olderThanMs = DEFAULT_COMPACT_AFTER_MS;
    if (values.all) olderThanMs = -Number.MAX_SAFE_INTEGER;
    else if (values["older-than"] !== undefined) {
      try {
        olderThanMs = parseDurationMs(values["older-than"], "m");
      } catch (e) {
        throw new ConfigError([`compact: --older-than: ${(e as Error).message}`]);
      }
    }
    const store = Store.open(values.db, { durability: "full" });
    try {
      const now = Date.now();
      const retention = store.retention({
        downsampleBucketMs: 60_000,
        compactAfterMs: olderThanMs,
        compactMinRows: 1,
        now: () => now,
      });
      let moved = 0;
      const started = performance.now();
      while (retention.step() === "compacted") moved = retention.counters.compacted;
      store.checkpointTruncate();
      const s = ((performance.now() - started) / 1000).toFixed(1);
      console.log(`compacted ${moved} readings of ${store.path} in ${s} s`);
    } finally {
      store.close();
    }
    return Promise.resolve(ExitCode.ok);
  },
};
