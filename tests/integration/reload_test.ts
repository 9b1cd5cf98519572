/**
 * SIGHUP reloads the configuration (file and environment) live: sources, listener, forwarders,
 * retention and the log level change without losing or duplicating a reading; settings that need
 * a restart are logged and kept; an invalid configuration is rejected and the running one kept.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { countReadings, integrityCheck, tempDir } from "../_helpers/database.ts";
import { listenerUrl } from "../_helpers/network.ts";
import { spawnLogger, waitFor } from "../_helpers/process.ts";

function writeConfig(path: string, settings: Record<string, unknown>): void {
  Deno.writeTextFileSync(`${path}.tmp`, JSON.stringify(settings));
  Deno.renameSync(`${path}.tmp`, path); // whole files only: a reload never reads half a file
}

Deno.test("SIGHUP every 100 ms while logging at 100k readings/s, the sources restarting each time: rows equal taken", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const config = join(dir.path, "edgelog.json");
  writeConfig(config, { "sim-rate": 100_000, "sim-sensors": 3 });
  const p = spawnLogger(["--db", db, "--config", config, "--commit-interval", "100", "--buffer-size", "200000"]);
  try {
    await p.waitUntilLogging();
    let reloads = 0;
    const until = performance.now() + 4000;
    while (performance.now() < until) {
      writeConfig(config, { "sim-rate": 100_000, "sim-sensors": 3 + (reloads % 2) });
      p.kill("SIGHUP");
      reloads++;
      await new Promise((r) => setTimeout(r, 100));
    }
    await waitFor(() => p.records.filter((r) => r.message.startsWith("configuration reloaded")).length >= 10);
    p.kill("SIGTERM");
    const status = await p.exited();
    assert.equal(status.code, 0, p.stderrLines.slice(-20).join("\n"));
    const final = p.finalRecord()!;
    assert.equal(final.dropped, 0, "nothing dropped");
    assert.equal(final.stored, final.taken, "every reading taken was stored");
    assert.equal(countReadings(db), final.taken, "rows equal taken: none lost, none twice");
    assert.equal(integrityCheck(db), "ok");
    const applied = p.records.filter((r) => r.message.startsWith("configuration reloaded")).length;
    assert.ok(final.taken > 200_000, `logged at speed: ${final.taken} readings`);
    console.log(`${reloads} SIGHUPs, ${applied} reloads applied, ${final.taken} readings taken = rows`);
    // The sensors of both configurations logged.
    assert.ok(p.records.some((r) => /sim_sensors|simSensors/.test(String(r.changed))), "the sources changed");
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
});

Deno.test("a reload moves the listener, changes the log level and the clock sync source, keeps settings that need a restart and rejects an invalid file", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const config = join(dir.path, "edgelog.json");
  writeConfig(config, { "sim-rate": 200, listen: "127.0.0.1:0" });
  const p = spawnLogger(
    ["--db", db, "--config", config, "--commit-interval", "100", "--checkpoint-interval", "200ms"],
    {
      clockSyncFromSettings: true,
    },
  );
  try {
    await p.waitUntilLogging();
    const first = await listenerUrl(p);
    assert.equal((await fetch(`${first}/healthz`)).status, 200);
    const reloaded = () => p.records.filter((r) => r.message.startsWith("configuration reloaded")).length;
    assert.ok(!p.records.some((r) => r.level === "DEBUG"), "no debug records before the reload");

    // An invalid file: the start-up messages, and everything keeps running as it was.
    writeConfig(config, { "sim-rate": "fast", "commit-interval": "soon" });
    p.kill("SIGHUP");
    await p.waitForRecord((r) => r.message.startsWith("the new configuration is invalid"));
    const problems = p.records.filter((r) => r.message.startsWith("reload rejected")).map((r) => String(r.problem));
    assert.ok(
      problems.some((m) => /sim-rate/.test(m)) && problems.some((m) => /commit-interval/.test(m)),
      `${problems}`,
    );
    assert.equal((await fetch(`${first}/healthz`)).status, 200, "the listener still answers");

    // A new listener, debug logging, and a durability that needs a restart.
    writeConfig(config, {
      "sim-rate": 200,
      listen: "127.0.0.1:0",
      "http-token": "s3cret",
      "log-level": "debug",
      durability: "normal",
      "clock-sync": `file:${join(dir.path, "synchronized")}`,
    });
    p.kill("SIGHUP");
    await waitFor(() => reloaded() === 1);
    const warning = p.records.find((r) => String(r.message).includes("needs a restart"));
    assert.equal(warning?.setting, "durability");
    const listeners = p.records.filter((r) => typeof r.port === "number" && r.message.startsWith("HTTP listener"));
    assert.equal(listeners.length, 2, "a second listener started");
    const second = `http://127.0.0.1:${listeners[1].port}`;
    assert.equal((await fetch(`${second}/metrics`)).status, 401, "the new token is required");
    assert.equal(
      (await fetch(`${second}/metrics`, { headers: { authorization: "Bearer s3cret" } })).status,
      200,
    );
    await waitFor(() => p.records.some((r) => r.level === "DEBUG"), 10_000, () => "debug records after the reload");
    // The clock's sync source changes live.
    const metrics = await (await fetch(`${second}/metrics`, { headers: { authorization: "Bearer s3cret" } })).text();
    assert.match(metrics, new RegExp(`^edgelog_clock_synchronized\\{source="file:${dir.path}/synchronized"\\} `, "m"));
    p.kill("SIGTERM");
    assert.equal((await p.exited()).code, 0);
    const final = p.finalRecord()!;
    assert.equal(countReadings(db), final.taken, "every reading stored");
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
});

Deno.test("a SIGHUP during the start-up is held until the logger runs, instead of ending it", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const p = spawnLogger(["--db", db, "--sim-rate", "1000", "--commit-interval", "100", "--listen", "127.0.0.1:0"]);
  try {
    await p.waitUntilLogging(); // logged once the database is open, before the sources and the listener start
    p.kill("SIGHUP");
    await p.waitForRecord((r) => r.message.startsWith("configuration reloaded"));
    await waitFor(() => countReadings(db) > 100);
    p.kill("SIGTERM");
    assert.equal((await p.exited()).code, 0, p.stderrLines.slice(-10).join("\n"));
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
});
