/**
 * edgelog's entry point: parse the command line, run the subcommand, map errors to exit codes.
 *
 * @module
 */

import { ConfigError, helpText, parseInvocation } from "./lib/config.ts";
import { DatabaseError, ExitCode, LockedError } from "./lib/errors.ts";
import { runLogger, StopSignal } from "./lib/lifecycle.ts";
import { flushLogs, logger, setupLogging } from "./lib/log.ts";
import denoJson from "./deno.json" with { type: "json" };

/** The version printed by `--version` and logged at start. */
export const VERSION: string = denoJson.version;

/** Runs edgelog with `args` and returns the process exit code. */
export async function main(args: readonly string[], stop: StopSignal): Promise<number> {
  let invocation;
  try {
    invocation = parseInvocation({ args, env: (name) => Deno.env.get(name), readTextFile: Deno.readTextFileSync });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const problem of e.problems) console.error(`edgelog: ${problem}`);
    return ExitCode.usage;
  }
  switch (invocation.command) {
    case "help":
      console.log(helpText(VERSION));
      return ExitCode.ok;
    case "version":
      console.log(`edgelog ${VERSION}`);
      return ExitCode.ok;
    case "run": {
      setupLogging({ format: invocation.config.logFormat, level: invocation.config.logLevel });
      try {
        return await runLogger(invocation.config, stop, { version: VERSION });
      } catch (e) {
        if (e instanceof LockedError) return fail(ExitCode.locked, e.message);
        if (e instanceof DatabaseError) return fail(ExitCode.database, e.message);
        if (e instanceof Deno.errors.NotCapable) {
          return fail(
            ExitCode.failure,
            `${e.message.split(",")[0]}: this build may only use the paths its permissions allow`,
          );
        }
        logger().fatal("edgelog failed: {error}", { error: e instanceof Error ? e.stack ?? e.message : String(e) });
        return ExitCode.failure;
      }
    }
  }
}

function fail(code: number, message: string): number {
  logger().error("{message}", { message, exit_code: code });
  return code;
}

if (import.meta.main) {
  // First thing: listen for SIGTERM/SIGINT, so a stop during start-up is honoured (also as PID 1,
  // where the kernel drops signals that have no handler).
  const stop = StopSignal.install();
  const code = await main(Deno.args, stop);
  flushLogs();
  Deno.exit(code);
}
