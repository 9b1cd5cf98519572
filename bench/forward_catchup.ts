/**
 * Forwarding figures on this machine, against a real VictoriaMetrics (and Mosquitto when
 * installed), both on loopback:
 *  1. throughput: a database pre-filled with N readings is forwarded by a fresh edgelog
 *     (`--sim-rate 0`); readings/s = N / time until the cursor reaches the last id;
 *  2. catch-up: edgelog logs at RATE/s, the upstream is stopped for OUTAGE_S seconds and
 *     restarted; time from the restart until the forwarder's lag is zero again (this includes
 *     waiting for the next retry, up to backoff-max = 10 s by default);
 *  3. ingest while forwarding: 1M readings waiting in the outbox, logging 50,000/s for 15 s,
 *     with and without the forwarder: dropped readings and the slowest commit.
 *
 * Run: deno run -A bench/forward_catchup.ts [N=500000] [RATE=5000] [OUTAGE_S=60]
 *
 * @module
 */

import { join } from "node:path";
import { Store } from "../lib/store/mod.ts";
import { cursorOf, maxReadingId, tempDir } from "../tests/_helpers/database.ts";
import { spawnLogger, waitFor } from "../tests/_helpers/process.ts";
import { Mosquitto, VictoriaMetrics } from "../tests/_helpers/upstreams.ts";

const [n = 500_000, rate = 5000, outageS = 60] = Deno.args.map(Number);

function prefill(path: string, count: number): void {
  const store = Store.open(path, { durability: "normal" });
  const t0 = Date.now() - count; // one reading per ms per sensor group, in the recent past
  const batch = [];
  for (let i = 0; i < count; i++) {
    batch.push({ sensor: `s${i % 10}`, ts: t0 + Math.floor(i / 10) * 10 + (i % 10), value: i * 0.5, unit: "u" });
    if (batch.length === 50_000) store.append(batch.splice(0));
  }
  store.append(batch);
  store.close();
}

async function throughput(label: string, forward: string, name: string): Promise<void> {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  prefill(db, n);
  const p = spawnLogger(["--db", db, "--sim-rate", "0", "--forward", forward]);
  await p.waitUntilLogging();
  const t0 = performance.now();
  await waitFor(() => cursorOf(db, name) === n, 600_000, () => p.stderrLines.slice(-5).join("\n"));
  const s = (performance.now() - t0) / 1000;
  p.kill("SIGTERM");
  await p.exited();
  console.log(`${label}: ${n} readings in ${s.toFixed(2)} s = ${Math.round(n / s)} readings/s`);
}

async function catchUp(vm: VictoriaMetrics): Promise<void> {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  const name = `${vm.url}/write`;
  const p = spawnLogger(["--db", db, "--sim-rate", String(rate), "--sim-sensors", "12", "--forward", name]);
  try {
    await p.waitUntilLogging();
    await waitFor(() => (cursorOf(db, name) ?? 0) > rate, 60_000);
    await vm.stop();
    console.log(`catch-up: upstream down for ${outageS} s while logging ${rate} readings/s`);
    await new Promise((r) => setTimeout(r, outageS * 1000));
    const behind = maxReadingId(db) - (cursorOf(db, name) ?? 0);
    await vm.start();
    const t0 = performance.now();
    // Caught up: the cursor reached the id that was the newest when the upstream came back
    // and, at most a poll later, the live edge.
    const target = maxReadingId(db);
    await waitFor(() => (cursorOf(db, name) ?? 0) >= target, 600_000);
    const s = (performance.now() - t0) / 1000;
    const c = p.records.filter((r) => typeof r.maxCommitMs === "number").at(-1);
    console.log(
      `catch-up: ${behind} readings behind at restart, caught up ${s.toFixed(2)} s after the upstream returned` +
        (c ? ` (max commit ${c.maxCommitMs} ms)` : ""),
    );
  } finally {
    p.kill("SIGTERM");
    await p.exited();
  }
}

async function ingestWhileForwarding(vm: VictoriaMetrics): Promise<void> {
  for (const forward of [false, true]) {
    await using dir = await tempDir();
    const db = join(dir.path, "e.db");
    prefill(db, 1_000_000);
    const args = ["--db", db, "--sim-rate", "50000", "--stats-interval", "1"];
    if (forward) args.push("--forward", `${vm.url}/write?name=ingest`);
    const p = spawnLogger(args);
    await p.waitUntilLogging();
    await new Promise((r) => setTimeout(r, 15_000));
    p.kill("SIGTERM");
    await p.exited();
    const worst = Math.max(...p.records.map((r) => Number(r.maxCommitMs ?? 0)));
    const f = p.finalRecord();
    console.log(
      `ingest 50000/s ${forward ? "while forwarding a 1M backlog" : "without forwarding"}: taken ${f?.taken}, ` +
        `dropped ${f?.dropped}, slowest commit ${worst.toFixed(1)} ms` +
        (forward ? `, forwarded up to id ${cursorOf(db, "ingest")} of ${maxReadingId(db)}` : ""),
    );
  }
}

await using dir = await tempDir();
const vm = new VictoriaMetrics(dir.path);
await vm.start();
try {
  await throughput("VictoriaMetrics /write", `${vm.url}/write`, `${vm.url}/write`);
  await throughput("VictoriaMetrics /write gzip", `${vm.url}/write?gzip=true&name=gz`, "gz");
  try {
    const mq = new Mosquitto(dir.path);
    await mq.start();
    try {
      await throughput(
        "MQTT QoS 1 (mosquitto)",
        `mqtt://127.0.0.1:${mq.port}/edgelog/{sensor}`,
        `mqtt://127.0.0.1:${mq.port}/edgelog/{sensor}`,
      );
    } finally {
      await mq.stop();
    }
  } catch (e) {
    console.log(`MQTT skipped: ${(e as Error).message}`);
  }
  await catchUp(vm);
  await ingestWhileForwarding(vm);
} finally {
  await vm.stop();
}
