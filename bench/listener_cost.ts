/**
 * What the HTTP listener costs ingest: the simulated source at an unreachable rate (so the writer
 * is the bottleneck) without `--listen`, with it, and with it while a scraper fetches /metrics
 * every second. Prints rows stored per second (median of runs) side by side and the ratios, and
 * the logger's CPU time per 100 000 rows stored (from /proc, so less sensitive to other load on
 * a shared machine than the rate).
 *
 * Ends with the README's target, "CPU per stored row within 2 % with and without the listener,
 * also with a scraper every second", marked met or missed for each mode; `--strict` exits 1 when
 * one is missed.
 *
 *   deno run -A bench/listener_cost.ts [--runs 3] [--seconds 5] [--rate 1000000] [--strict]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { maxReadingId, tempDir } from "../tests/_helpers/database.ts";
import { listenerUrl } from "../tests/_helpers/network.ts";
import { spawnLogger } from "../tests/_helpers/process.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string" },
    seconds: { type: "string" },
    rate: { type: "string" },
    strict: { type: "boolean" },
  },
});
const runs = Number(values.runs ?? 3);
const seconds = Number(values.seconds ?? 5);
const rate = values.rate ?? "1000000";

/** The README's promise: CPU per stored row with the listener at most this much above without it. */
const TARGET_CPU_RATIO = 1.02;

type Mode = "no listener" | "--listen" | "--listen + /metrics every 1 s";
const MODES: Mode[] = ["no listener", "--listen", "--listen + /metrics every 1 s"];

/** CPU time (user + system) of process `pid` so far, ms; Linux /proc only. */
function cpuMs(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime in clock ticks of 10 ms
}

async function once(mode: Mode): Promise<{ rate: number; cpuPer100k: number }> {
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
    const c0 = cpuMs(p.pid);
    const n0 = maxReadingId(db); // hot or compacted: the logger empties the hot table at every step
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const n1 = maxReadingId(db);
    const c1 = cpuMs(p.pid);
    return { rate: (n1 - n0) / ((performance.now() - t0) / 1000), cpuPer100k: ((c1 - c0) / (n1 - n0)) * 100_000 };
  } finally {
    clearInterval(scraper);
    p.kill("SIGTERM");
    await p.exited();
  }
}

const results = new Map<Mode, { rate: number; cpuPer100k: number }[]>(MODES.map((m) => [m, []]));
for (let i = 0; i < runs; i++) {
  for (const mode of MODES) results.get(mode)!.push(await once(mode));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rates = (mode: Mode) => results.get(mode)!.map((r) => r.rate);
const cpus = (mode: Mode) => results.get(mode)!.map((r) => r.cpuPer100k);
const baseRate = median(rates("no listener"));
const baseCpu = median(cpus("no listener"));
console.log(`--sim-rate ${rate}, ${seconds} s per run, median of ${runs} runs (each run's value in parentheses)`);
console.log(`${"mode".padEnd(32)} ${"rows/s".padStart(9)}  ratio   ${"CPU ms per 100k rows".padStart(20)}  ratio`);
for (const mode of MODES) {
  const r = median(rates(mode));
  const c = median(cpus(mode));
  console.log(
    `${mode.padEnd(32)} ${Math.round(r).toString().padStart(9)}  ${(r / baseRate).toFixed(3)}   ${
      c.toFixed(1).padStart(20)
    }  ${(c / baseCpu).toFixed(3)}   (${rates(mode).map(Math.round).join(", ")}; ${
      cpus(mode).map((x) => x.toFixed(1)).join(", ")
    })`,
  );
}
let missed = 0;
for (const mode of MODES.filter((m) => m !== "no listener")) {
  const ratio = median(cpus(mode)) / baseCpu;
  const met = ratio <= TARGET_CPU_RATIO;
  if (!met) missed++;
  console.log(
    `target: CPU per stored row with ${mode} within ${Math.round((TARGET_CPU_RATIO - 1) * 100)} % of no listener: ` +
      `${met ? "met" : "MISSED"} (${((ratio - 1) * 100).toFixed(1)} %)`,
  );
}
if (missed > 0 && values.strict) Deno.exit(1);
