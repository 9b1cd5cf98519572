/**
 * Telling systemd how the logger is doing (`Type=notify`): `READY=1` once the database is open
 * and the sources run, `WATCHDOG=1` heartbeats while the writer loop ticks, `STOPPING=1` when the
 * stop begins, `STATUS=` lines on the way.
 *
 * Deno 2.9 cannot send a datagram to a unix socket without `--unstable-net`
 * (`Deno.listenDatagram({ transport: "unixpacket" })`; `node:dgram` knows only UDP, and a stream
 * connection to the SOCK_DGRAM `NOTIFY_SOCKET` fails), and the binary uses no unstable APIs and
 * no FFI. So each message goes through `systemd-notify`, which waits until systemd has processed
 * it (systemd ≥ 246), so it is attributed to the unit; the unit says `NotifyAccess=all` because
 * the sender is a child process. A heartbeat every `WatchdogSec / 2` costs one short process.
 *
 * @module
 */

/** Where to send, from the environment systemd gives the service. */
export interface NotifyEnv {
  /** `NOTIFY_SOCKET`: the service manager's socket; nothing is sent without it. */
  socket: string;
  /** `WATCHDOG_USEC` / 2 in ms, when the watchdog is on and meant for this process (`WATCHDOG_PID`). */
  heartbeatMs: number | undefined;
}

/** Reads {@link NotifyEnv}; undefined when not started by systemd with `Type=notify`. */
export function notifyEnv(get: (name: string) => string | undefined = readEnv): NotifyEnv | undefined {
  const socket = get("NOTIFY_SOCKET");
  if (!socket) return undefined;
  const usec = Number(get("WATCHDOG_USEC"));
  const pid = get("WATCHDOG_PID");
  const forUs = pid === undefined || pid === "" || Number(pid) === Deno.pid;
  return { socket, heartbeatMs: forUs && usec > 0 ? Math.max(100, Math.floor(usec / 2000)) : undefined };
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // not allowed to read it: not run the way the unit runs it
  }
}

/**
 * Sends state lines to systemd through `systemd-notify`; a no-op outside systemd.
 *
 * @example
 * ```ts
 * const notifier = SystemdNotifier.fromEnv();
 * await notifier?.send("READY=1", "STATUS=logging");
 * ```
 */
export class SystemdNotifier {
  readonly env: NotifyEnv;
  readonly #command: string;
  readonly #onError: (error: string) => void;
  #failed = false;
  #inFlight: Promise<void> = Promise.resolve();

  constructor(env: NotifyEnv, options: { command?: string; onError?: (error: string) => void } = {}) {
    this.env = env;
    this.#command = options.command ?? "systemd-notify";
    this.#onError = options.onError ?? (() => {});
  }

  /** A notifier when `NOTIFY_SOCKET` is set, else undefined. */
  static fromEnv(options: { command?: string; onError?: (error: string) => void } = {}): SystemdNotifier | undefined {
    const env = notifyEnv();
    return env ? new SystemdNotifier(env, options) : undefined;
  }

  /**
   * Sends `lines` (e.g. `READY=1`, `STATUS=…`) as one message, after the previous one (order
   * matters: READY before STOPPING). Never throws; the first failure is reported to `onError`.
   */
  send(...lines: string[]): Promise<void> {
    this.#inFlight = this.#inFlight.then(() => this.#send(lines));
    return this.#inFlight;
  }

  async #send(lines: string[]): Promise<void> {
    try {
      const out = await new Deno.Command(this.#command, {
        args: lines,
        env: { NOTIFY_SOCKET: this.env.socket },
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).output();
      if (!out.success) throw new Error(new TextDecoder().decode(out.stderr).trim() || `exit code ${out.code}`);
    } catch (e) {
      if (this.#failed) return;
      this.#failed = true;
      this.#onError(`${this.#command} ${lines.join(" ")}: ${(e as Error).message}`);
    }
  }
}
