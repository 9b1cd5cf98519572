/**
 * Test helpers for the network: free loopback ports, waiting for a listener, the logger's bound
 * port, and server processes started by a test.
 *
 * @module
 */

import { type LoggerProcess, waitFor } from "./process.ts";

/** Waits for the "HTTP listener on HOST:PORT" record and returns the bound port (for `--listen 127.0.0.1:0`). */
export async function listenPort(p: LoggerProcess, timeoutMs = 20_000): Promise<number> {
  const r = await p.waitForRecord((r) => typeof r.port === "number" && typeof r.hostname === "string", timeoutMs);
  return r.port as number;
}

/** Waits for the logger's "HTTP listener on" record and returns its base URL. */
export async function listenerUrl(p: LoggerProcess, timeoutMs = 20_000): Promise<string> {
  return `http://127.0.0.1:${await listenPort(p, timeoutMs)}`;
}

/** A free TCP port on 127.0.0.1 (bound and released; another process could take it meanwhile). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Waits until a TCP connection to 127.0.0.1:`port` succeeds. */
export async function waitForPort(port: number, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    async () => {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        return true;
      } catch {
        return false;
      }
    },
    timeoutMs,
    () => `nothing listens on 127.0.0.1:${port}`,
  );
}

/** A server process started by a test; `stop()` sends SIGTERM and waits (SIGKILL after 10 s). */
export class ServerProcess {
  readonly child: Deno.ChildProcess;
  readonly name: string;
  readonly output: Promise<string>;

  constructor(name: string, command: string, args: string[], cwd?: string) {
    this.name = name;
    const path = ["/usr/sbin", "/sbin"].map((d) => `${d}/${command}`).find((p) => {
      try {
        return Deno.statSync(p).isFile;
      } catch {
        return false;
      }
    }) ?? command;
    this.child = new Deno.Command(path, { args, cwd, stdin: "null", stdout: "piped", stderr: "piped" }).spawn();
    const decode = (s: ReadableStream<Uint8Array>) => new Response(s).text();
    this.output = Promise.all([decode(this.child.stdout), decode(this.child.stderr)]).then(([o, e]) => o + e);
  }

  /** Stops the server gracefully and waits for it to exit. */
  async stop(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch { /* already exited */ }
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch { /* exited */ }
    }, 10_000);
    await this.child.status;
    clearTimeout(timer);
    await this.output;
  }
}
