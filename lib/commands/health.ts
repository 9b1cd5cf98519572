/**
 * `edgelog health`: asks a running logger's `/healthz` whether its writer is committing; exit 0
 * when healthy, 1 otherwise. Made for Docker's `HEALTHCHECK` in the `FROM scratch` image, which
 * has no shell or curl.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { ExitCode } from "../errors.ts";
import { urlForListen } from "../serve/mod.ts";
import { parseOptions } from "./_args.ts";
import type { Command } from "./command.ts";

const USAGE = `Usage: edgelog health [--url URL] [--token TOKEN] [--timeout SECONDS]

Exits 0 when the logger's writer is healthy (GET /healthz answers 200), 1 otherwise, also for
a bad option: Docker's HEALTHCHECK reserves exit code 2.

  --url URL              base URL of the logger's listener (default: from EDGELOG_LISTEN,
                         e.g. 127.0.0.1:8080 -> http://127.0.0.1:8080)
  --token TOKEN          bearer token; /healthz does not need it (default: EDGELOG_HTTP_TOKEN)
  --timeout SECONDS      give up after this long (default: 5)
  -h, --help             print this text and exit`;

/** The `health` subcommand. */
export const healthCommand: Command = {
  name: "health",
  summary: "exit 0 if the running logger's writer is healthy (for Docker HEALTHCHECK)",
  async run(args) {
    try {
      return await check(args);
    } catch (e) {
      // Docker's HEALTHCHECK reserves 2: a usage error is "unhealthy" (1), said on stderr.
      if (!(e instanceof ConfigError)) throw e;
      for (const problem of e.problems) {
        console.error(`edgelog: ${problem}${problem.includes("--help") ? "" : "; see 'edgelog health --help'"}`);
      }
      return ExitCode.failure;
    }
  },
};

async function check(args: readonly string[]): Promise<number> {
  const values = parseOptions(
    "health",
    args,
    { url: { type: "string" }, token: { type: "string" }, timeout: { type: "string" } },
    USAGE,
  );
  if (!values) return ExitCode.ok;
  const listen = Deno.env.get("EDGELOG_LISTEN");
  const base = values.url ?? (listen ? urlForListen(listen) : undefined);
  if (base === undefined) {
    throw new ConfigError(["health: give --url (e.g. http://127.0.0.1:8080) or set EDGELOG_LISTEN"]);
  }
  const timeoutS = Number(values.timeout ?? "5");
  if (!(timeoutS > 0)) throw new ConfigError([`health: --timeout: expected seconds > 0, got ${values.timeout}`]);
  let url: URL;
  try {
    url = new URL("/healthz", /^https?:\/\//.test(base) ? base : `http://${base}`);
  } catch {
    throw new ConfigError([`health: --url: not a URL: ${JSON.stringify(base)}`]);
  }
  const token = values.token ?? Deno.env.get("EDGELOG_HTTP_TOKEN");
  try {
    const response = await fetch(url, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(timeoutS * 1000),
    });
    const body = (await response.text()).trim();
    console.log(body || `HTTP ${response.status}`);
    return response.status === 200 ? ExitCode.ok : ExitCode.failure;
  } catch (e) {
    console.error(`edgelog health: ${url}: ${(e as Error).message}`);
    return ExitCode.failure;
  }
}
