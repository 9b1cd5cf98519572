/**
 * Test helpers: a mosquitto on a free loopback port with a temp config, mosquitto_pub, a fake MQTT server, and
 * waiting for conditions with deadlines (never a fixed sleep).
 *
 * @module
 */

import type { ReceivedMessage } from "../../lib/mqtt/client.ts";

/** Polls `condition` every 10 ms until it is true; throws naming `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Awaits `promise` or throws after `timeoutMs`, clearing its timer either way. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Collects received messages; `take(n)` waits with a deadline. `autoAck` acks each on arrival. */
export class Inbox {
  readonly messages: ReceivedMessage[] = [];
  readonly #autoAck: boolean;
  readonly handler = (m: ReceivedMessage): void => {
    this.messages.push(m);
    if (this.#autoAck) m.ack();
  };

  constructor(autoAck = false) {
    this.#autoAck = autoAck;
  }
  #taken = 0;

  /** The next `n` messages not taken yet. */
  async take(n: number, timeoutMs = 5000): Promise<ReceivedMessage[]> {
    await waitFor(() => this.messages.length - this.#taken >= n, `${n} message(s)`, timeoutMs);
    const out = this.messages.slice(this.#taken, this.#taken + n);
    this.#taken += n;
    return out;
  }

  /** Messages received and not taken. */
  get untaken(): ReceivedMessage[] {
    return this.messages.slice(this.#taken);
  }
}

export const text = (m: ReceivedMessage): string => new TextDecoder().decode(m.payload);

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
async function accepting(port: number): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    c.close();
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Optional TLS and password settings of {@link Mosquitto}. */
export interface MosquittoSecurity {
  certFile: string;
  keyFile: string;
  passwordFile: string;
}

/** A mosquitto on 127.0.0.1 with persistence in its own temp directory; restartable on the same port. */
export class Mosquitto {
  readonly port: number = freePort();
  readonly dir: string;
  readonly #security: MosquittoSecurity | undefined;
  readonly #extraConfig: string[];
  #process: Deno.ChildProcess | undefined;

  private constructor(dir: string, security: MosquittoSecurity | undefined, extraConfig: string[]) {
    this.dir = dir;
    this.#security = security;
    this.#extraConfig = extraConfig;
  }

  /** Starts one in a new temp directory; `extraConfig` lines go into its config file. */
  static async start(options: { security?: MosquittoSecurity; extraConfig?: string[] } = {}): Promise<Mosquitto> {
    const dir = await Deno.makeTempDir({ prefix: "edgelog-mosquitto-" });
    const m = new Mosquitto(dir, options.security, options.extraConfig ?? []);
    try {
      await m.restart();
    } catch (e) {
      await m.stop();
      await Deno.remove(dir, { recursive: true });
      throw e;
    }
    return m;
  }

  get log(): string {
    try {
      return Deno.readTextFileSync(`${this.dir}/mosquitto.log`);
    } catch {
      return "";
    }
  }

  /** (Re)starts on the same port and persistence directory. */
  async restart(): Promise<void> {
    if (this.#process) throw new Error("mosquitto is running");
    const s = this.#security;
    const config = `${this.dir}/mosquitto.conf`;
    await Deno.writeTextFile(
      config,
      [
        `listener ${this.port} 127.0.0.1`,
        ...(Deno.uid() === 0 ? ["user root"] : []),
        ...(s
          ? [
            `certfile ${s.certFile}`,
            `keyfile ${s.keyFile}`,
            "allow_anonymous false",
            `password_file ${s.passwordFile}`,
          ]
          : ["allow_anonymous true"]),
        "persistence true",
        `persistence_location ${this.dir}/`,
        "max_queued_messages 0",
        `log_dest file ${this.dir}/mosquitto.log`,
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        ...this.#extraConfig,
        "",
      ].join("\n"),
    );
    this.#process = new Deno.Command("mosquitto", { args: ["-c", config], stdout: "null", stderr: "null" }).spawn();
    const process = this.#process;
    let exited = false;
    process.status.then(() => exited = true);
    await waitUntil(async () => {
      if (exited) throw new Error(`mosquitto exited at start:\n${this.log}`);
      return await accepting(this.port);
    }, `mosquitto on port ${this.port}`);
  }

  /** Stops it with `signal` (SIGTERM: mosquitto saves its persistence file; SIGKILL: it cannot). */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    const p = this.#process;
    if (!p) return;
    this.#process = undefined;
    try {
      p.kill(signal);
    } catch { /* it exited already */ }
    await within(p.status, 10_000, "mosquitto to exit");
    await waitUntil(async () => !(await accepting(this.port)), "the port to close");
  }

  /** Stops it and removes its directory. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await Deno.remove(this.dir, { recursive: true });
  }
}

/** Runs mosquitto_pub with -q 1, one message per line of `lines`; it exits 0 once every PUBACK arrived. */
export async function mosquittoPub(port: number, topic: string, lines: string[], extra: string[] = []): Promise<void> {
  const child = new Deno.Command("mosquitto_pub", {
    args: ["-h", "127.0.0.1", "-p", String(port), "-q", "1", "-t", topic, "-l", ...extra],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(lines.map((l) => l + "\n").join("")));
  await writer.close();
  const out = await within(child.output(), 60_000, "mosquitto_pub");
  if (!out.success) throw new Error(`mosquitto_pub failed: ${new TextDecoder().decode(out.stderr)}`);
}

/** Runs a command and returns its stdout; throws with stderr when it fails. */
export async function run(command: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${command} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

/** A throw-away CA and a server certificate for 127.0.0.1 signed by it (PEM files in `dir`). */
export async function makeCertificates(dir: string): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const f = (name: string) => `${dir}/${name}`;
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await run("openssl", [
    "req",
    "-x509",
    ...ec,
    "-days",
    "2",
    "-subj",
    "/CN=test CA",
    "-keyout",
    f("ca.key"),
    "-out",
    f("ca.pem"),
  ]);
  await run("openssl", ["req", ...ec, "-subj", "/CN=127.0.0.1", "-keyout", f("server.key"), "-out", f("server.csr")]);
  await Deno.writeTextFile(f("san.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  await run("openssl", [
    ...["x509", "-req", "-in", f("server.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial"],
    ...["-days", "2", "-extfile", f("san.ext"), "-out", f("server.pem")],
  ]);
  return { caFile: f("ca.pem"), certFile: f("server.pem"), keyFile: f("server.key") };
}

/**
 * A scripted fake MQTT server on 127.0.0.1 for `connections` connections in a row: `script` gets each accepted
 * connection, a reader of raw bytes and the connection's index. Used for what a real broker never does (malformed
 * packets, silence after PINGREQ) and to watch the exact bytes a client sends.
 */
export class FakeServer {
  readonly port: number;
  readonly done: Promise<void>;

  constructor(script: (conn: Deno.Conn, reader: ByteReader, index: number) => Promise<void>, connections = 1) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = (listener.addr as Deno.NetAddr).port;
    this.done = (async () => {
      try {
        for (let i = 0; i < connections; i++) {
          const conn = await listener.accept();
          try {
            await script(conn, new ByteReader(conn), i);
          } finally {
            try {
              conn.close();
            } catch { /* closed by the script */ }
          }
        }
      } finally {
        listener.close();
      }
    })();
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }
}

/** Reads exact byte counts from a connection. */
export class ByteReader {
  readonly #conn: Deno.Conn;
  #buffer = new Uint8Array(0);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Exactly `n` bytes; null at EOF. */
  async read(n: number): Promise<Uint8Array | null> {
    while (this.#buffer.length < n) {
      const chunk = new Uint8Array(4096);
      let got: number | null;
      try {
        got = await this.#conn.read(chunk);
      } catch {
        got = null;
      }
      if (got === null) return null;
      const joined = new Uint8Array(this.#buffer.length + got);
      joined.set(this.#buffer);
      joined.set(chunk.subarray(0, got), this.#buffer.length);
      this.#buffer = joined;
    }
    const out = this.#buffer.slice(0, n);
    this.#buffer = this.#buffer.slice(n);
    return out;
  }

  /** One whole client packet (first byte + remaining length + body); null at EOF. */
  async packet(): Promise<{ type: number; flags: number; body: Uint8Array } | null> {
    const first = await this.read(1);
    if (!first) return null;
    let length = 0;
    for (let i = 0; i < 4; i++) {
      const b = await this.read(1);
      if (!b) return null;
      length += (b[0] & 0x7f) * 128 ** i;
      if ((b[0] & 0x80) === 0) break;
    }
    const body = await this.read(length);
    if (!body) return null;
    return { type: first[0] >> 4, flags: first[0] & 0x0f, body };
  }
}

/** Writes all bytes. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

/** A PUBLISH as a server sends it (hand-built so tests do not depend on the encoder under test). */
export function serverPublish(topic: string, payload: string, qos: 0 | 1 | 2, packetId = 0, dup = false): Uint8Array {
  const t = new TextEncoder().encode(topic);
  const p = new TextEncoder().encode(payload);
  const body = [t.length >> 8, t.length & 0xff, ...t, ...(qos > 0 ? [packetId >> 8, packetId & 0xff] : []), ...p];
  if (body.length > 127) throw new Error("keep test packets short");
  return new Uint8Array([0x30 | (dup ? 8 : 0) | (qos << 1), body.length, ...body]);
}
