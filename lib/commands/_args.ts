/**
 * The one argument parser of the subcommands: `node:util` parseArgs with usage errors as
 * ConfigError (exit 2), `--help`, and the `--db` every database command takes.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { argsProblem, layoutHelp } from "../help.ts";
import { ConfigError } from "../errors.ts";
import { DEFAULT_DB_PATH } from "../store/mod.ts";

/** The database path commands use: `--db`, else `EDGELOG_DB`, else the logger's default. */
export function defaultDbPath(env: (name: string) => string | undefined = (n) => Deno.env.get(n)): string {
  return env("EDGELOG_DB") ?? DEFAULT_DB_PATH;
}

const HELP_OPTION = { help: { type: "boolean", short: "h" } } as const satisfies ParseArgsOptionsConfig;

/** Options every database command accepts. */
export const COMMON_OPTIONS = {
  db: { type: "string" },
  ...HELP_OPTION,
} as const satisfies ParseArgsOptionsConfig;

/** Help lines for {@link COMMON_OPTIONS}. */
export const COMMON_HELP = `  --db FILE              database to read, never created; a running logger is fine
                         (default: EDGELOG_DB or ./data/edgelog.db)
  -h, --help             print this text and exit`;

/**
 * Parses `args` of a database command strictly (with `--db`, defaulted, and `--help`); unknown
 * options and stray words raise ConfigError naming the command. Returns undefined (after
 * printing `usage`) when `--help` was given.
 */
export function parseCommand<T extends ParseArgsOptionsConfig>(
  command: string,
  args: readonly string[],
  options: T,
  usage: string,
):
  | (ReturnType<typeof parseArgs<{ options: T & typeof COMMON_OPTIONS; strict: true }>>["values"] & { db: string })
  | undefined {
  const values = parseOptions(command, args, { ...COMMON_OPTIONS, ...options }, usage) as
    | Record<string, unknown>
    | undefined;
  if (values === undefined) return undefined;
  return { ...values, db: (values.db as string | undefined) ?? defaultDbPath() } as never;
}

/**
 * Parses `args` strictly with `options` and `--help`; unknown options and stray words raise
 * ConfigError naming the command. Returns undefined (after printing `usage`) on `--help`.
 */
export function parseOptions<T extends ParseArgsOptionsConfig>(
  command: string,
  args: readonly string[],
  options: T,
  usage: string,
): ReturnType<typeof parseArgs<{ options: T & typeof HELP_OPTION; strict: true }>>["values"] | undefined {
  const all: ParseArgsOptionsConfig = { ...HELP_OPTION, ...options };
  let parsed;
  try {
    parsed = parseArgs({
      args: joinValues(args, all),
      options: all,
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    throw new ConfigError([`${command}: ${argsProblem(e)}; see 'edgelog ${command} --help'`]);
  }
  if (parsed.positionals.length > 0) {
    throw new ConfigError([
      `${command}: unexpected argument '${parsed.positionals[0]}'; see 'edgelog ${command} --help'`,
    ]);
  }
  const values = parsed.values as Record<string, unknown>;
  if (values.help) {
    console.log(layoutHelp(usage).trimEnd());
    return undefined;
  }
  return values as never;
}

/**
 * Joins `--since -1h` into `--since=-1h`: the word after an option that takes a value is its
 * value, even when it starts with a dash (relative times do), which parseArgs would refuse.
 */
function joinValues(args: readonly string[], options: ParseArgsOptionsConfig): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const name = arg.startsWith("--") && !arg.includes("=") ? arg.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === "string" && i + 1 < args.length) {
      out.push(`${arg}=${args[++i]}`);
    } else {
      out.push(arg);
      if (arg === "--") out.push(...args.slice(i + 1));
      if (arg === "--") break;
    }
  }
  return out;
}

/** Parses a whole number option (at least `min`); ConfigError naming the option otherwise. */
export function integerOption(raw: string | undefined, option: string, min: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new ConfigError([`${option}: expected a whole number of at least ${min}, got ${JSON.stringify(raw)}`]);
  }
  return n;
}

/** Checks `raw` is one of `choices`; ConfigError naming the option otherwise. */
export function choiceOption<C extends string>(
  raw: string | undefined,
  option: string,
  choices: readonly C[],
): C | undefined {
  if (raw === undefined) return undefined;
  if ((choices as readonly string[]).includes(raw)) return raw as C;
  throw new ConfigError([`${option}: expected one of ${choices.join(", ")}, got ${JSON.stringify(raw)}`]);
}

/**
 * `command` with a pointer to its help after every usage error (a bad option value found after
 * parsing, such as `--format xml`), so each is one line naming the option and `--help`.
 */
export function withHelpHint<C extends { name: string; run(args: readonly string[]): Promise<number> }>(
  command: C,
): C {
  return {
    ...command,
    async run(args: readonly string[]): Promise<number> {
      try {
        return await command.run(args);
      } catch (e) {
        if (!(e instanceof ConfigError) || e.problems.some((p) => p.includes("--help"))) throw e;
        const hint = `; see 'edgelog ${command.name} --help'`;
        throw new ConfigError(e.problems.map((p) => p + hint));
      }
    },
  };
}
