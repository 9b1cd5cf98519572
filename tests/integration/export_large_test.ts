/**
 * Exports a large database in each format and checks that memory stays bounded. The row count
 * is EDGELOG_TEST_EXPORT_ROWS (default 10^6 for CI; the 10^7 figures in docs/QUERY.md were
 * measured with EDGELOG_TEST_EXPORT_ROWS=10000000). Prints rows/s and peak RSS per format.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { seedReadings, tempDir } from "../_helpers/database.ts";
import { peakRssKiB, spawnLogger } from "../_helpers/process.ts";

const ROWS = Number(Deno.env.get("EDGELOG_TEST_EXPORT_ROWS") ?? 1_000_000);
/** Generous: measured about 90-130 MB at 10^6 and 10^7 rows (the runtime alone is ~47 MB). */
const PEAK_RSS_LIMIT_KIB = 200 * 1024;

Deno.test(`export of ${ROWS} readings streams in bounded memory in every format`, async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "big.db");
  await seedReadings(db, ROWS, { sensors: 10 });
  for (const format of ["csv", "ndjson", "line"]) {
    const out = join(dir.path, `out.${format}`);
    const started = performance.now();
    const p = spawnLogger(["export", "--db", db, "--format", format, "--out", out]);
    let peakKiB = 0;
    const sampler = setInterval(() => peakKiB = Math.max(peakKiB, peakRssKiB(p.pid) ?? 0), 20);
    let status;
    try {
      status = await p.exited();
    } finally {
      clearInterval(sampler);
    }
    const seconds = (performance.now() - started) / 1000;
    assert.equal(status.code, 0, p.stderrLines.join("\n"));
    const lines = countLines(out);
    assert.equal(lines, ROWS + (format === "csv" ? 1 : 0));
    console.log(
      `export --format ${format}: ${ROWS} rows in ${seconds.toFixed(1)} s (${
        Math.round(ROWS / seconds)
      } rows/s, process start included), peak RSS ${(peakKiB / 1024).toFixed(0)} MB, ${
        (Deno.statSync(out).size / 1e6).toFixed(0)
      } MB written`,
    );
    assert.ok(peakKiB > 0, "the sampler saw the process");
    assert.ok(peakKiB < PEAK_RSS_LIMIT_KIB, `peak RSS ${peakKiB} KiB`);
    Deno.removeSync(out);
  }
});

/** Counts newlines in a file in constant memory. */
function countLines(path: string): number {
  const file = Deno.openSync(path, { read: true });
  const buf = new Uint8Array(1 << 20);
  let n = 0;
  try {
    for (let got = file.readSync(buf); got !== null; got = file.readSync(buf)) {
      for (let i = 0; i < got; i++) if (buf[i] === 10) n++;
    }
  } finally {
    file.close();
  }
  return n;
}
