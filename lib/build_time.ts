/**
 * When this build was made, as a lower bound for the wall clock: a clock earlier than this is
 * wrong (`clock.ts`). It is the date of the newest commit, not the moment of the build, so a build
 * on a machine with a wrong clock cannot make it wrong and the same source gives the same binary.
 * `deno task compile` refreshes it (`scripts/stamp_build_time.ts`); `deno run` uses the value
 * committed here, which is never later than the code it ships with.
 *
 * @module
 */

/** The newest commit's date when this file was last stamped, unix ms (2026-11-27T12:54:19Z). */
export const BUILD_TIME_MS = 1795784059000;
