/**
 * What the HTTP listener costs ingest: the simulated source at an unreachable rate (so the writer
 * is the bottleneck) without `--listen`, with it, and with it while a scraper fetches /metrics
 * every second. Prints rows stored per second (median of runs) side by side and the ratios.
 *
 *   deno run -A bench/listener_cost.ts [--runs 3] [--seconds 5] [--rate 1000000]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { listenerUrl, spawnLogger, tempDir, withDb } from "../tests/_helpers.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string" }, seconds: { type: "string" }, rate: { type: "string" } },
});
const runs = Number(values.runs ?? 3);
const seconds = Number(values.seconds ?? 5);
const rate = values.rate ?? "1000000";

type Mode = "no listener" | "--listen" | "--listen + /metrics every 1 s";
const MODES: Mode[] = ["no listener", "--listen", "--listen + /metrics every 1 s"];

const maxId = (db: string) =>
  withDb(db, (d) => Number((d.prepare("SELECT coalesce(max(id), 0) AS n FROM readings").get() as { n: number }).n));

async function once(mode: Mode): Promise<number> {
  await using dir = await tempDir("edgelog-bench-");
  const db = join(dir.path, "edgelog.db");
  const args = ["--db", db, "--sim-rate", rate];
  if (mode !== "no listener") args.push("--listen", "127.0.0.1:0");
  const p = spawnLogger(args);
  let scraper: ReturnType<typeof setInterval> | undefined;
  try {
    await p.waitUntilLogging();
    if (mode !== "no listener") {
      const base = await listenerUrl(p);
      if (mode === "--listen + /metrics every 1 s") {
        scraper = setInterval(() => fetch(`${base}/metrics`).then((r) => r.text()).catch(() => {}), 1000);
      }
    }
    await new Promise((r) => setTimeout(r, 1000)); // warm-up
    const t0 = performance.now();
    const n0 = maxId(db);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const n1 = maxId(db);
    return (n1 - n0) / ((performance.now() - t0) / 1000);
  } finally {
    clearInterval(scraper);
    p.kill("SIGTERM");
    await p.exited();
  }
}

const results = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
for (let i = 0; i < runs; i++) {
  for (const mode of MODES) results.get(mode)!.push(await once(mode));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(results.get("no listener")!);
console.log(`rows stored per second, --sim-rate ${rate}, ${seconds} s per run, median of ${runs}`);
for (const mode of MODES) {
  const xs = results.get(mode)!;
  const m = median(xs);
  console.log(
    `${mode.padEnd(32)} ${Math.round(m).toString().padStart(9)}  (${xs.map(Math.round).join(", ")})  ratio ${
      (m / base).toFixed(3)
    }`,
  );
}
