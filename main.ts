/**
 * edgelog's entry point: parse the command line, run the subcommand, map errors to exit codes.
 *
 * @module
 */

import { COMMANDS, findCommand } from "./lib/commands/mod.ts";
import { helpText, parseInvocation } from "./lib/config.ts";
import { ConfigError, DatabaseError, ExitCode, ListenError, LockedError } from "./lib/errors.ts";
import { runLogger } from "./lib/lifecycle.ts";
import { flushLogs, isLoggingConfigured, logger, setupLogging } from "./lib/log.ts";
import { StopSignal } from "./lib/stop_signal.ts";
import denoJson from "./deno.json" with { type: "json" };

// main() takes the stop signal: part of its signature, so part of the documented API.
export type { StopSignal } from "./lib/stop_signal.ts";

/** The version printed by `--version` and logged at start. */
export const VERSION: string = denoJson.version;

/** Runs edgelog with `args` and returns the process exit code. */
export async function main(args: readonly string[], stop: StopSignal): Promise<number> {
  const command = findCommand(args[0]);
  if (command) {
    stop.uninstall(); // read commands stop at the default SIGINT/SIGTERM behaviour
    return await runGuarded(() => command.run(args.slice(1)));
  }
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
      console.log(helpText(VERSION, COMMANDS));
      return ExitCode.ok;
    case "version":
      console.log(`edgelog ${VERSION}`);
      return ExitCode.ok;
    case "run": {
      setupLogging({ format: invocation.config.logFormat, level: invocation.config.logLevel });
      // SIGHUP reads the same sources again: this command line, the environment, the config file.
      const reloadConfig = () => {
        const again = parseInvocation({ args, env: (name) => Deno.env.get(name), readTextFile: Deno.readTextFileSync });
        if (again.command !== "run") throw new ConfigError(["the command line no longer runs the logger"]);
        return again.config;
      };
      return await runGuarded(() => runLogger(invocation.config, stop, { version: VERSION, reloadConfig }));
    }
  }
}

/** Runs `fn`, mapping the errors that have meaning to their exit codes with one clear line. */
async function runGuarded(fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const problem of e.problems.slice(0, -1)) fail(ExitCode.usage, problem);
      return fail(ExitCode.usage, e.problems.at(-1) ?? e.message);
    }
    if (e instanceof LockedError) return fail(ExitCode.locked, e.message);
    if (e instanceof ListenError) return fail(ExitCode.failure, e.message);
    if (e instanceof DatabaseError) return fail(ExitCode.database, e.message);
    if (e instanceof Deno.errors.NotCapable) {
      return fail(ExitCode.failure, `${e.message.split(",")[0]}: this build may only use what its permissions allow`);
    }
    if (!isLoggingConfigured()) throw e;
    logger().fatal("edgelog failed: {error}", { error: e instanceof Error ? e.stack ?? e.message : String(e) });
    return ExitCode.failure;
  }
}

function fail(code: number, message: string): number {
  if (isLoggingConfigured()) logger().error("{message}", { message, exit_code: code });
  else console.error(`edgelog: ${message}`);
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
