/**
 * HTTP ingest throughput: spawns the real logger (`--source http`, start-task permissions) and
 * POSTs NDJSON bodies of `--batch` readings from `--clients` concurrent clients for
 * `--seconds`, first queued (202) then with `?sync=1` (200 after commit). Prints readings/s
 * committed, counted from the database after a graceful stop.
 *
 * Run: deno run -A bench/http_ingest.ts [--batch 1000] [--clients 4] [--seconds 5] [--durability full]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { countReadings, tempDir } from "../tests/_helpers/database.ts";
import { listenPort } from "../tests/_helpers/network.ts";
import { spawnLogger } from "../tests/_helpers/process.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    batch: { type: "string", default: "1000" },
    clients: { type: "string", default: "4" },
    seconds: { type: "string", default: "5" },
    durability: { type: "string", default: "full" },
  },
});
const batch = Number(values.batch);
const clients = Number(values.clients);
const seconds = Number(values.seconds);

async function run(sync: boolean): Promise<{ perSecond: number; requests: number; stored: number }> {
  await using dir = await tempDir("edgelog-bench-");
  const db = join(dir.path, "edgelog.db");
  const p = spawnLogger([
    "--db",
    db,
    "--source",
    "http",
    "--listen",
    "127.0.0.1:0",
    "--durability",
    values.durability!,
  ]);
  try {
    const port = await listenPort(p);
    const url = `http://127.0.0.1:${port}/api/v1/readings${sync ? "?sync=1" : ""}`;
    const ts = Date.now();
    const body = Array.from(
      { length: batch },
      (_, i) => JSON.stringify({ sensor: `bench-${i % 16}`, value: i * 0.5, ts: ts + i, unit: "°C" }),
    ).join("\n");
    let requests = 0;
    let accepted = 0;
    const started = performance.now();
    const end = started + seconds * 1000;
    await Promise.all(Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const res = await fetch(url, { method: "POST", body, headers: { "content-type": "application/x-ndjson" } });
        const answer = await res.json();
        requests++;
        if (res.ok) accepted += answer.accepted;
        else if (res.status === 503) await new Promise((r) => setTimeout(r, 10));
        else throw new Error(`unexpected ${res.status}: ${JSON.stringify(answer)}`);
      }
    }));
    const elapsed = (performance.now() - started) / 1000;
    p.kill("SIGTERM");
    const status = await p.exited();
    if (status.code !== 0) throw new Error(`logger exited ${status.code}: ${p.stderrLines.join("\n")}`);
    const stored = countReadings(db);
    if (stored !== accepted) throw new Error(`stored ${stored} != accepted ${accepted}`);
    return { perSecond: stored / elapsed, requests, stored };
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
}

console.log(
  `HTTP ingest: ${clients} clients, ${batch} readings per POST, ${seconds} s each, durability ${values.durability}`,
);
for (const sync of [false, true]) {
  const r = await run(sync);
  console.log(
    `  ${sync ? "sync=1 (200 after commit)" : "queued (202)            "}: ${
      Math.round(r.perSecond).toLocaleString("en")
    } readings/s committed (${r.requests} requests, ${r.stored} rows)`,
  );
}
