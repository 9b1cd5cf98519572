/**
 * Footprint on the edge: resident memory idle (1 reading/s) and at 1,000 readings/s, and CPU time
 * per 1,000 readings, of the real logger with the start task's flags. `--arm64` runs it on the
 * arm64 Deno under qemu-user (scripts/arm64-deno.sh): then memory and CPU are the emulator's and
 * only a sanity check. Prints a markdown table for docs/BENCHMARKS.md.
 *
 *   deno run -A scripts/footprint.ts [--arm64] [--seconds 20]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import denoJson from "../deno.json" with { type: "json" };

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const { values } = parseArgs({
  args: Deno.args,
  options: { arm64: { type: "boolean", default: false }, seconds: { type: "string", default: "20" } },
});
const seconds = Number(values.seconds);
const flags = /^deno run (.*) main\.ts$/.exec(denoJson.tasks.start)![1].split(/\s+/);
const TICKS = 100; // USER_HZ on Linux

let runtime = [Deno.execPath()];
if (values.arm64) {
  const out = await new Deno.Command("bash", { args: ["scripts/arm64-deno.sh"], cwd: ROOT, stdout: "piped" }).output();
  const deno = new TextDecoder().decode(out.stdout).trim();
  runtime = [
    "env",
    `DENO_DIR=${ROOT}.cache/arm64/deno-dir`,
    "qemu-aarch64-static",
    "-L",
    "/usr/aarch64-linux-gnu",
    deno,
  ];
}

function status(pid: number, field: string): number {
  return Number(new RegExp(`^${field}:\\s*(\\d+) kB`, "m").exec(Deno.readTextFileSync(`/proc/${pid}/status`))![1]);
}
function cpuSeconds(pid: number): number {
  const f = Deno.readTextFileSync(`/proc/${pid}/stat`).replace(/^.*\) /, "").split(" ");
  return (Number(f[11]) + Number(f[12])) / TICKS; // utime + stime
}
/** The process that runs deno: `env` execs qemu, which stays the same pid. */
async function measure(rate: number) {
  const dir = await Deno.makeTempDir({ prefix: "edgelog-footprint-" });
  const db = `${dir}/edgelog.db`;
  const [cmd, ...rest] = [...runtime, "run", ...flags, `${ROOT}main.ts`, "--db", db, "--sim-rate", String(rate)];
  const child = new Deno.Command(cmd, {
    args: rest,
    env: { EDGELOG_LOG_FORMAT: "json" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const reading = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) lines.push(...chunk.split("\n"));
  })();
  const deadline = performance.now() + 180_000;
  while (!lines.some((l) => l.includes('"sqlite_version"'))) {
    if (performance.now() > deadline) throw new Error(`no start record:\n${lines.join("\n")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 5_000)); // warm-up
  const cpu0 = cpuSeconds(child.pid);
  const t0 = performance.now();
  const rss: number[] = [];
  while (performance.now() - t0 < seconds * 1000) {
    rss.push(status(child.pid, "VmRSS"));
    await new Promise((r) => setTimeout(r, 500));
  }
  const cpu = cpuSeconds(child.pid) - cpu0;
  const elapsed = (performance.now() - t0) / 1000;
  const peak = status(child.pid, "VmHWM");
  child.kill("SIGTERM");
  const code = (await child.status).code;
  await reading;
  const final = lines.map((l) => {
    try {
      return JSON.parse(l);
    } catch {
      return {};
    }
  }).findLast((r) => typeof r.taken === "number");
  await Deno.remove(dir, { recursive: true });
  rss.sort((a, b) => a - b);
  return {
    rate,
    code,
    stored: final?.stored,
    rssMiB: rss[Math.floor(rss.length / 2)] / 1024,
    peakMiB: peak / 1024,
    cpuPct: (cpu / elapsed) * 100,
    cpuMsPer1000: rate > 0 ? (cpu * 1000) / ((rate * elapsed) / 1000) : NaN,
  };
}

const arch = values.arm64 ? "arm64 (qemu-user, emulated)" : `${Deno.build.arch} (native)`;
console.log(
  `| arch | load | RSS median (MiB) | peak RSS (MiB) | CPU (% of one core) | CPU ms per 1,000 readings | exit |`,
);
console.log(`| --- | --- | --- | --- | --- | --- | --- |`);
for (const rate of [1, 1000]) {
  const m = await measure(rate);
  console.log(
    `| ${arch} | ${rate === 1 ? "idle (1 reading/s)" : "1,000 readings/s"} | ${m.rssMiB.toFixed(1)} | ` +
      `${m.peakMiB.toFixed(1)} | ${m.cpuPct.toFixed(1)} | ${
        rate === 1 ? "-" : m.cpuMsPer1000.toFixed(1)
      } | ${m.code} |`,
  );
}
