/**
 * The pause of a polled source between two runs, which a stop ends at once: a source that waits
 * out its interval would hold the shutdown for up to that long.
 *
 * @module
 */

/** One source's pause: {@link sleep} waits, {@link wake} ends the wait now. */
export class Pause {
  #wake: (() => void) | undefined;

  /** Waits `ms` (at least one turn of the event loop, so a loop of pauses never starves it), or until {@link wake}. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.#wake = done;
    });
  }

  /** Ends the wait in progress, if any. */
  wake(): void {
    this.#wake?.();
  }
}
