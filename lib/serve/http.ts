/**
 * The optional local HTTP listener (`--listen HOST:PORT`), shared by HTTP ingest, health,
 * metrics, the read API and the dashboard. Each feature registers its routes; this module owns
 * binding, bearer-token checks and the graceful shutdown (stop accepting, finish in-flight).
 *
 * @module
 */

import { timingSafeEqual } from "node:crypto";
import { ConfigError } from "../errors.ts";

/** A route handler. */
export type Handler = (request: Request, url: URL) => Response | Promise<Response>;

/** Options of {@link HttpServer}. */
export interface HttpServerOptions {
  /** `HOST:PORT`, `[v6]:PORT` or `:PORT` (127.0.0.1). Port 0 picks a free port. */
  listen: string;
  /** Bearer token; required when listening on a non-loopback address. */
  token?: string;
}

interface Route {
  method: string;
  path: string;
  handler: Handler;
  /** Public routes (health) skip the token check so orchestrators can probe them. */
  public: boolean;
}

/** Parses `HOST:PORT` into its parts; throws ConfigError naming `--listen`. */
export function parseListen(listen: string): { hostname: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(listen.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new ConfigError([`--listen: expected HOST:PORT (e.g. 127.0.0.1:8080), got ${JSON.stringify(listen)}`]);
  }
  return { hostname: m[1] ?? (m[2] || "127.0.0.1"), port };
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/**
 * The base URL for a `--listen` value: wildcard addresses are reached on loopback.
 *
 * @example
 * ```ts
 * urlForListen("0.0.0.0:8080"); // "http://127.0.0.1:8080"
 * ```
 */
export function urlForListen(listen: string): string {
  const { hostname, port } = parseListen(listen);
  let host = hostname;
  if (host === "0.0.0.0") host = "127.0.0.1";
  else if (host === "::") host = "::1";
  else if (!isLoopback(host) && host.includes(":")) host = `[${host}]`;
  if (host === "::1") host = "[::1]";
  return `http://${host}:${port}`;
}

/** Compares two strings in time independent of where they differ. */
export function tokensEqual(given: string, expected: string): boolean {
  const a = new TextEncoder().encode(given);
  const b = new TextEncoder().encode(expected);
  // Compare equal-length buffers so the time does not reveal the expected length either.
  const padded = new Uint8Array(b.length);
  padded.set(a.subarray(0, b.length));
  return timingSafeEqual(padded, b) && a.length === b.length;
}

/**
 * The token of an `Authorization: Bearer <token>` header, or "" when there is none. The scheme
 * is matched case-insensitively (RFC 9110 §11.1), so `bearer` and `BEARER` work too.
 *
 * @example
 * ```ts
 * bearerToken("bearer abc"); // "abc"
 * bearerToken("Basic abc"); // ""
 * ```
 */
export function bearerToken(header: string | null): string {
  const m = /^bearer +(\S+) *$/i.exec(header ?? "");
  return m ? m[1] : "";
}

/** The answer to HEAD: the GET response's status and headers, its content discarded. */
async function withoutContent(response: Response | Promise<Response>): Promise<Response> {
  const full = await response;
  await full.body?.cancel();
  return new Response(null, { status: full.status, statusText: full.statusText, headers: full.headers });
}

/**
 * One `Deno.serve` listener with a small route table.
 *
 * @example
 * ```ts
 * const http = new HttpServer({ listen: "127.0.0.1:0" });
 * http.route("GET", "/ping", () => new Response("pong"));
 * await http.start();
 * await http.stop();
 * ```
 */
export class HttpServer {
  readonly hostname: string;
  readonly #requestedPort: number;
  readonly #token: string | undefined;
  readonly #routes: Route[] = [];
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;
  #port = 0;

  constructor(options: HttpServerOptions) {
    const { hostname, port } = parseListen(options.listen);
    if (!isLoopback(hostname) && !options.token) {
      throw new ConfigError([
        `--listen ${options.listen}: listening on a non-loopback address requires --http-token (or EDGELOG_HTTP_TOKEN)`,
      ]);
    }
    this.hostname = hostname;
    this.#requestedPort = port;
    this.#token = options.token || undefined;
  }

  /** Registers a handler for `method path` (exact path match). */
  route(method: string, path: string, handler: Handler, options: { public?: boolean } = {}): void {
    this.#routes.push({ method, path, handler, public: options.public ?? false });
  }

  /** The bound port (after {@link start}). */
  get port(): number {
    return this.#port;
  }

  /** Binds and starts serving; resolves once listening. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      try {
        this.#server = Deno.serve({
          hostname: this.hostname,
          port: this.#requestedPort,
          onListen: (addr) => {
            this.#port = addr.port;
            resolve();
          },
          onError: (e) => new Response(`internal error: ${(e as Error).message}\n`, { status: 500 }),
        }, (request) => this.#handle(request));
      } catch (e) {
        reject(e);
      }
    });
  }

  #handle(request: Request): Response | Promise<Response> {
    const url = new URL(request.url);
    const matches = this.#routes.filter((r) => r.path === url.pathname);
    if (matches.length === 0) return new Response("not found\n", { status: 404 });
    // RFC 9110 §9.3.2: HEAD is GET without the content; every GET route answers it.
    const head = request.method === "HEAD";
    const route = matches.find((r) => r.method === (head ? "GET" : request.method));
    if (!route) {
      const allowed = matches.map((r) => r.method);
      if (allowed.includes("GET")) allowed.splice(allowed.indexOf("GET") + 1, 0, "HEAD");
      return new Response("method not allowed\n", { status: 405, headers: { allow: allowed.join(", ") } });
    }
    if (this.#token !== undefined && !route.public) {
      if (!tokensEqual(bearerToken(request.headers.get("authorization")), this.#token)) {
        return new Response("unauthorized: send 'Authorization: Bearer <token>'\n", {
          status: 401,
          headers: { "www-authenticate": "Bearer" },
        });
      }
    }
    if (!head) return route.handler(request, url);
    return withoutContent(route.handler(new Request(request.url, { headers: request.headers }), url));
  }

  /** Stops accepting connections and waits for in-flight requests to finish. */
  async stop(): Promise<void> {
    await this.#server?.shutdown();
    this.#server = undefined;
  }
}
