/**
 * Stop requests: SIGTERM/SIGINT, listened for as the very first thing the program does, and
 * internal reasons (all sources ended, the writer failed). The first request starts the graceful
 * shutdown; a second one hurries it.
 *
 * @module
 */

/**
 * Signals that ask edgelog to stop gracefully: SIGTERM and SIGINT, and SIGQUIT (Ctrl-\, nginx's
 * graceful stop) rather than its default core dump. SIGQUIT comes last: Deno's runtime catches
 * SIGTERM and SIGINT itself from its start (ending the process with 128 + n while the program has
 * no listener), SIGQUIT only through this list, so a caught SIGQUIT in /proc/PID/status says that
 * edgelog's own listeners are in place (the tests wait for that).
 */
export const STOP_SIGNALS: readonly Deno.Signal[] = ["SIGTERM", "SIGINT", "SIGQUIT"];

/**
 * Collects stop requests: SIGTERM/SIGINT (installed as the very first thing the program does, so
 * a signal during start-up is never lost, also as PID 1) or an internal reason.
 */
export class StopSignal {
  /** Resolves with the reason of the first stop request. */
  readonly requested: Promise<string>;
  /** How many stop requests arrived; 2 or more means "take the fast path". */
  count = 0;
  /** `performance.now()` of the first request. */
  firstAt = 0;
  #resolve!: (reason: string) => void;
  readonly #listeners = new Map<Deno.Signal, () => void>();
  #onRepeat: ((reason: string) => void) | undefined;

  constructor() {
    this.requested = new Promise((resolve) => this.#resolve = resolve);
  }

  /**
   * Creates a StopSignal listening for SIGTERM and SIGINT.
   *
   * @example
   * ```ts
   * const stop = StopSignal.install();
   * console.log(await stop.requested); // "SIGTERM"
   * ```
   */
  static install(): StopSignal {
    const stop = new StopSignal();
    for (const sig of STOP_SIGNALS) {
      const listener = () => stop.request(sig);
      stop.#listeners.set(sig, listener);
      Deno.addSignalListener(sig, listener);
    }
    return stop;
  }

  /** Records one stop request. */
  request(reason: string): void {
    this.count++;
    if (this.count === 1) {
      this.firstAt = performance.now();
      this.#resolve(reason);
    } else {
      this.#onRepeat?.(reason);
    }
  }

  /** True once a stop was requested. */
  get stopping(): boolean {
    return this.count > 0;
  }

  /** True when a second request asked to skip the optional parts of the shutdown. */
  get hurried(): boolean {
    return this.count > 1;
  }

  /** Called for every request after the first. */
  onRepeat(fn: (reason: string) => void): void {
    this.#onRepeat = fn;
  }

  /** Removes the signal listeners. */
  uninstall(): void {
    for (const [sig, listener] of this.#listeners) Deno.removeSignalListener(sig, listener);
    this.#listeners.clear();
  }
}
