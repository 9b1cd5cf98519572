/**
 * The caller-side reconnect loop for `MqttClient` from `client.ts` (or anything with the same `connect` shape): exponential
 * backoff with jitter, a cap, a reset once a connection has proved stable, and an abort signal to stop.
 *
 * It lives outside the client so the caller decides what a connect means (resubscribe when the broker lost the
 * session, log, pause longer after a refused password) and when to give up.
 *
 * @example
 * ```ts
 * import { MqttClient } from "./client.ts";
 * import { reconnectLoop } from "./reconnect.ts";
 * const client = new MqttClient({ url: "mqtt://127.0.0.1:1883", clientId: "edgelogBox17", cleanSession: false });
 * const stop = new AbortController();
 * const loop = reconnectLoop(async (signal) => {
 *   const result = await client.connect(signal);
 *   if (!result.sessionPresent) await client.subscribe([{ topicFilter: "sensors/#", qos: 1 }]);
 *   return result;
 * }, { signal: stop.signal, onRetry: ({ error, delayMs }) => console.warn(`MQTT: ${error}; retry in ${delayMs} ms`) });
 * // later: stop.abort(); await loop; await client.close();
 * ```
 *
 * @module
 */

/** Options of {@link reconnectLoop}. */
export interface ReconnectOptions {
  /** Ends the loop (while waiting, connecting or connected); the loop does not close the connection itself. */
  signal: AbortSignal;
  /** First delay, ms. Default 1000. */
  minDelayMs?: number;
  /** Largest delay, ms. Default 30 000. */
  maxDelayMs?: number;
  /** A connection that lasted this long resets the backoff to `minDelayMs`. Default 10 000. */
  stableAfterMs?: number;
  /** Source of jitter in [0, 1). Default Math.random. */
  random?: () => number;
  /** Replaces the computed delay for some errors (e.g. a refused password: minutes, not seconds). */
  delayFor?: (error: unknown, computedMs: number) => number;
  /** Told before every wait: the error (undefined: a connection ended by close()), attempt (1-based) and delay. */
  onRetry?: (info: { error: unknown; attempt: number; delayMs: number }) => void;
  /** Told after every successful connect. */
  onConnected?: () => void;
}

/**
 * The delay before retry `attempt` (1-based): `minDelayMs · 2^(attempt-1)` capped at `maxDelayMs`, then "equal
 * jitter" — a uniformly random point in the upper half — so many boxes restarting together spread out while each
 * still waits at least half the nominal delay.
 *
 * @example
 * ```ts
 * backoffDelay(3, 1000, 30_000, () => 0.5); // 3000: nominal 4000, half of it plus 0.5 of the other half
 * ```
 */
export function backoffDelay(attempt: number, minDelayMs: number, maxDelayMs: number, random: () => number): number {
  const nominal = Math.min(maxDelayMs, minDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(nominal / 2 + random() * (nominal / 2));
}

/**
 * Connects, waits for the connection to end, waits a backoff delay, and again, until `signal` aborts. Connect
 * failures and lost connections count as attempts; a connection that stayed up for `stableAfterMs` resets the count.
 * Resolves when aborted; never rejects (errors go to `onRetry`).
 *
 * @example
 * ```ts
 * const stop = new AbortController();
 * const done = reconnectLoop((signal) => client.connect(signal), { signal: stop.signal, maxDelayMs: 10_000 });
 * stop.abort();
 * await done;
 * ```
 */
export async function reconnectLoop(
  connect: (signal: AbortSignal) => Promise<{ closed: Promise<unknown> }>,
  options: ReconnectOptions,
): Promise<void> {
  const { signal } = options;
  const min = options.minDelayMs ?? 1000;
  const max = options.maxDelayMs ?? 30_000;
  const stableAfter = options.stableAfterMs ?? 10_000;
  const random = options.random ?? Math.random;
  let attempt = 0;
  while (!signal.aborted) {
    let error: unknown;
    try {
      const { closed } = await connect(signal);
      const since = performance.now();
      options.onConnected?.();
      const stop = abortedPromise(signal);
      try {
        error = await Promise.race([closed, stop.promise]);
      } finally {
        stop.dispose(); // one listener per connection would pile up on a flapping link
      }
      if (signal.aborted) return;
      if (performance.now() - since >= stableAfter) attempt = 0;
    } catch (e) {
      if (signal.aborted) return;
      error = e;
    }
    attempt++;
    const computed = backoffDelay(attempt, min, max, random);
    const delayMs = options.delayFor ? options.delayFor(error, computed) : computed;
    options.onRetry?.({ error, attempt, delayMs });
    await sleep(delayMs, signal);
  }
}

/** Resolves (never rejects) when the signal aborts; `dispose` removes the listener. */
function abortedPromise(signal: AbortSignal): { promise: Promise<void>; dispose: () => void } {
  const { promise, resolve } = Promise.withResolvers<void>();
  const onAbort = () => resolve();
  if (signal.aborted) resolve();
  else signal.addEventListener("abort", onAbort, { once: true });
  return { promise, dispose: () => signal.removeEventListener("abort", onAbort) };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
