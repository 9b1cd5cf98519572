import assert from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_RUN_CONFIG, type RunConfig } from "../lib/config.ts";
import { runLogger } from "../lib/lifecycle.ts";
import { StopSignal } from "../lib/stop_signal.ts";
import { countReadings, integrityCheck, tempDir, walSize } from "./_helpers/database.ts";
import { setupLogging } from "../lib/log.ts";
import type { Emit } from "../lib/pipeline.ts";
import type { Source } from "../lib/sources/mod.ts";
import { Store, writerPid } from "../lib/store/mod.ts";

const logged: Record<string, unknown>[] = [];
setupLogging({
  format: "json",
  level: "debug",
  write: (bytes) => logged.push(JSON.parse(new TextDecoder().decode(bytes))),
});

/** A source that emits `perCall` readings on every `pump()` and records lifecycle events. */
class ScriptedSource implements Source {
  readonly name = "scripted";
  emit: Emit | undefined;
  events: string[];
  #n = 0;
  ended?: Promise<void>;
  endNow: () => void = () => {};
  constructor(events: string[], endable = false) {
    this.events = events;
    if (endable) this.ended = new Promise((resolve) => this.endNow = resolve);
  }
  start(emit: Emit) {
    this.events.push("source started");
    this.emit = emit;
  }
  pump(n: number) {
    const rs = Array.from({ length: n }, () => ({ sensor: "x", ts: 1_700_000_000_000 + this.#n, value: this.#n++ }));
    return this.emit!(rs);
  }
  stop() {
    this.events.push("source stopped");
    this.emit = undefined;
  }
}

function config(db: string, overrides: Partial<RunConfig> = {}): RunConfig {
  return { ...DEFAULT_RUN_CONFIG, db, commitIntervalMs: 60_000, ...overrides };
}

Deno.test("a stop request commits every reading taken, after the sources stopped, then checkpoints", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  const events: string[] = [];
  const source = new ScriptedSource(events);
  const stop = new StopSignal();
  const run = runLogger(config(db), stop, { version: "test", createSources: () => [source] });
  while (!source.emit) await new Promise((r) => setTimeout(r, 1));
  assert.equal(source.pump(12_345), 12_345);
  assert.equal(countReadings(db), 0, "the long commit interval has not fired yet");
  stop.request("test");
  assert.equal(await run, 0);
  assert.deepEqual(events, ["source started", "source stopped"]);
  assert.equal(countReadings(db), 12_345);
  assert.equal(walSize(db), 0);
  assert.equal(integrityCheck(db), "ok");
  const final = logged.findLast((r) => typeof r.taken === "number")!;
  assert.equal(final.taken, 12_345);
  assert.equal(final.stored, 12_345);
  assert.deepEqual(final.checkpoint && (final.checkpoint as { busy: number }).busy, 0);
});

Deno.test("a stop requested before start-up finishes opens nothing and exits 0", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "never.db");
  const stop = new StopSignal();
  stop.request("SIGTERM");
  assert.equal(await runLogger(config(db), stop, { version: "test", createSources: () => [] }), 0);
  assert.throws(() => Deno.statSync(db), Deno.errors.NotFound);
});

Deno.test("when every source has ended the logger stops by itself with everything committed", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  const source = new ScriptedSource([], true);
  const run = runLogger(config(db), new StopSignal(), { version: "test", createSources: () => [source] });
  while (!source.emit) await new Promise((r) => setTimeout(r, 1));
  source.pump(100);
  source.endNow();
  assert.equal(await run, 0);
  assert.equal(countReadings(db), 100);
});

Deno.test("a shutdown that hangs past its deadline ends the process with exit 1 instead of waiting for SIGKILL", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  const events: string[] = [];
  const source = new ScriptedSource(events);
  source.stop = () => new Promise<void>(() => {}); // a source that never stops
  const stop = new StopSignal();
  let exitCode: number | undefined;
  const exited = new Promise<void>((resolve) => {
    runLogger(config(db, { shutdownTimeoutMs: 300 }), stop, {
      version: "test",
      createSources: () => [source],
      exit: (code) => {
        exitCode = code;
        resolve();
      },
    });
  });
  while (!source.emit) await new Promise((r) => setTimeout(r, 1));
  source.pump(10);
  await new Promise((r) => setTimeout(r, 50));
  const t0 = performance.now();
  stop.request("test");
  await exited;
  assert.equal(exitCode, 1);
  const waited = performance.now() - t0;
  assert.ok(waited >= 300 && waited < 5000, `the watchdog fired after the deadline (${waited} ms)`);
  assert.ok(logged.some((r) => String(r.message).includes("overran")), "the overrun is logged");
});

Deno.test("a start that fails at the forwarders closes the database and releases the lock", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  const events: string[] = [];
  const source = new ScriptedSource(events);
  const failure = new Error("forwarders cannot start");
  await assert.rejects(
    runLogger(config(db, { forward: ["http://127.0.0.1:9/write"] }), new StopSignal(), {
      version: "test",
      createSources: () => [source],
      startForwarding: () => {
        throw failure;
      },
    }),
    (e) => e === failure,
  );
  assert.deepEqual(events, [], "no source was started");
  assert.equal(walSize(db), 0, "the connection was closed (SQLite removes the WAL when the last one closes)");
  assert.equal(writerPid(db), undefined, "nobody holds the writer lock");
  Store.open(db, { durability: "normal" }).close(); // the lock can be taken again in this process
  assert.equal(integrityCheck(db), "ok");
});

Deno.test("a start that fails at a source stops the sources already started and commits what they took", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  const events: string[] = [];
  const first = new ScriptedSource(events);
  const broken: Source = {
    name: "broken",
    start() {
      first.pump(42); // the first source took readings before the second failed
      throw new Error("no such device");
    },
    stop() {},
  };
  await assert.rejects(
    runLogger(config(db), new StopSignal(), { version: "test", createSources: () => [first, broken] }),
    /no such device/,
  );
  assert.deepEqual(events, ["source started", "source stopped"]);
  assert.equal(countReadings(db), 42, "the readings taken before the failure were committed");
  assert.equal(writerPid(db), undefined);
  assert.equal(integrityCheck(db), "ok");
});
