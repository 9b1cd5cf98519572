/**
 * Store-and-forward: the forwarders configured with `--forward`, each run by a
 * {@link ForwardAgent} with its own durable cursor. {@link startForwarding} is what
 * `lib/lifecycle.ts` calls; `parseForwardTarget` checks a `--forward` URL for the configuration.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { type AgentOptions, type CursorStore, ForwardAgent } from "./agent.ts";
import type { Forwarder } from "./forwarder.ts";
import { InfluxForwarder } from "./influx.ts";
import { MqttForwarder } from "./mqtt.ts";
import { type ForwardLag, OutboxReader } from "../store/mod.ts";
import { type ForwardTarget, parseForwardTarget } from "./target.ts";

export { ForwardTargetError, parseForwardTarget } from "./target.ts";

/** Builds the forwarder for a parsed target. */
function createForwarder(target: ForwardTarget, host: string, dbPath: string): Forwarder {
  return target.kind === "influx" ? new InfluxForwarder(target) : new MqttForwarder(target, host, dbPath);
}

/** The host name used in MQTT topics and payloads (needs `--allow-sys=hostname`). */
function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "edgelog";
  }
}

/** Every running forwarder of one logger. */
export class Forwarding {
  readonly agents: readonly ForwardAgent[];

  constructor(agents: readonly ForwardAgent[]) {
    this.agents = agents;
  }

  /** Each forwarder's lag (rows and seconds). */
  lag(nowMs: number = Date.now()): ForwardLag[] {
    return this.agents.map((a) => a.lag(nowMs));
  }

  /** Lets every forwarder send what is left for at most `budgetMs`, in parallel, then stops them. */
  async flush(budgetMs: number): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop(budgetMs)));
  }

  /** Stops every forwarder at once (second signal): what was not acknowledged stays in the outbox. */
  abort(): void {
    for (const a of this.agents) a.abort();
  }
}

/** Options of {@link startForwarding}. */
export interface ForwardingOptions {
  /** Path of the database (the store already created it). */
  dbPath: string;
  log: Logger;
  host?: string;
  /**
   * The first reading id not to send yet (provisional readings waiting for their re-stamp), or
   * undefined to send everything; asked before each batch.
   */
  holdFrom?: () => number | undefined;
  /** Overrides for tests (poll interval, backoff, random). */
  agent?: Partial<Pick<AgentOptions, "pollMs" | "backoff" | "random">>;
}

/**
 * Starts one agent per `--forward` URL; each reads the outbox on its own connection and keeps
 * its cursor through `cursors` (the store's writer connection).
 *
 * @example
 * ```ts
 * const forwarding = startForwarding(["http://127.0.0.1:8428/write"], store, { dbPath: store.path, log });
 * await forwarding.flush(2000);
 * ```
 */
export function startForwarding(urls: readonly string[], cursors: CursorStore, options: ForwardingOptions): Forwarding {
  const host = options.host ?? hostName();
  const agents = urls.map((url) => {
    const target = parseForwardTarget(url);
    const agent = new ForwardAgent(
      createForwarder(target, host, options.dbPath),
      cursors,
      OutboxReader.open(options.dbPath),
      {
        name: target.name,
        display: target.display,
        batchSize: target.batchSize,
        backoff: target.backoff,
        log: options.log,
        holdFrom: options.holdFrom,
        ...options.agent,
      },
    );
    agent.start();
    options.log.info("forwarding to {upstream} as {name} from id {cursor}", {
      upstream: target.display,
      name: target.name,
      cursor: agent.cursor,
    });
    return agent;
  });
  return new Forwarding(agents);
}
