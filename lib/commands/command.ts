/**
 * The shape of a subcommand (`query`, `export`, …): its own file in this folder exports one
 * {@link Command}, and `mod.ts` lists them.
 *
 * @module
 */

/** A subcommand such as `query` or `export`. */
export interface Command {
  /** The word on the command line, e.g. `export`. */
  readonly name: string;
  /** One line for `edgelog --help`. */
  readonly summary: string;
  /**
   * Runs the command with the arguments after its name; returns the exit code. Throws
   * ConfigError for bad usage (exit 2), DatabaseError (exit 4), LockedError (exit 3).
   */
  run(args: readonly string[]): Promise<number>;
}
