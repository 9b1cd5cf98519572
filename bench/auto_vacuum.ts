/**
 * Retention's page reuse, side by side: auto_vacuum=NONE (freed pages go to the freelist and are
 * reused; the file never shrinks) against auto_vacuum=INCREMENTAL (plus `PRAGMA
 * incremental_vacuum` after deleting, which gives pages back to the file system).
 *
 * Run: deno run -A bench/auto_vacuum.ts [rows]   (default 2 000 000)
 * Prints insert and delete rates, the vacuum pause and file sizes, and the ratios.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";

const ROWS = Number(Deno.args[0] ?? 2_000_000);
const BATCH = 5000;

interface Result {
  insertPerS: number;
  deletePerS: number;
  vacuumMs: number;
  sizeFull: number;
  sizeAfterDelete: number;
  sizeAfterRefill: number;
}

function run(mode: "NONE" | "INCREMENTAL"): Result {
  const dir = Deno.makeTempDirSync({ prefix: "edgelog-bench-" });
  const path = `${dir}/b.db`;
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA auto_vacuum = ${mode}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
    CREATE TABLE readings(id INTEGER PRIMARY KEY, sensor_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL);
    CREATE INDEX readings_sensor_ts ON readings(sensor_id, ts);`);
  const values = Array.from({ length: 100 }, () => "(?,?,?)").join(",");
  const insert = db.prepare(`INSERT INTO readings(sensor_id, ts, value) VALUES ${values}`);
  const args: number[] = new Array(300);
  let ts = 0;
  const fill = (n: number) => {
    for (let done = 0; done < n; done += BATCH) {
      db.exec("BEGIN");
      for (let k = 0; k < BATCH; k += 100) {
        for (let j = 0; j < 100; j++) {
          args[3 * j] = (ts % 10) + 1;
          args[3 * j + 1] = ts++;
          args[3 * j + 2] = Math.random();
        }
        insert.run(...args);
      }
      db.exec("COMMIT");
    }
  };
  const size = () => {
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    return Deno.statSync(path).size;
  };
  let t = performance.now();
  fill(ROWS);
  const insertPerS = ROWS / ((performance.now() - t) / 1000);
  const sizeFull = size();
  const del = db.prepare("DELETE FROM readings WHERE id IN (SELECT id FROM readings ORDER BY id LIMIT 2000)");
  t = performance.now();
  for (let deleted = 0; deleted < ROWS / 2; deleted += 2000) {
    db.exec("BEGIN IMMEDIATE");
    del.run();
    db.exec("COMMIT");
  }
  const deletePerS = ROWS / 2 / ((performance.now() - t) / 1000);
  t = performance.now();
  if (mode === "INCREMENTAL") db.prepare("PRAGMA incremental_vacuum").all();
  const vacuumMs = performance.now() - t;
  const sizeAfterDelete = size();
  fill(ROWS / 2);
  const sizeAfterRefill = size();
  db.close();
  Deno.removeSync(dir, { recursive: true });
  return { insertPerS, deletePerS, vacuumMs, sizeFull, sizeAfterDelete, sizeAfterRefill };
}

const none = run("NONE");
const incremental = run("INCREMENTAL");
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
console.log(`${ROWS} rows, 10 sensors, delete the oldest half in steps of 2000, refill the same amount`);
for (const [name, r] of [["NONE (freelist reuse)", none], ["INCREMENTAL", incremental]] as const) {
  console.log(
    `${name.padEnd(22)} insert ${Math.round(r.insertPerS)}/s, delete ${Math.round(r.deletePerS)}/s, ` +
      `vacuum pause ${r.vacuumMs.toFixed(0)} ms, file ${mb(r.sizeFull)} -> ${mb(r.sizeAfterDelete)} -> ${
        mb(r.sizeAfterRefill)
      }`,
  );
}
console.log(
  `ratios INCREMENTAL/NONE: insert ${(incremental.insertPerS / none.insertPerS).toFixed(2)}, delete ${
    (incremental.deletePerS / none.deletePerS).toFixed(2)
  }, size after refill ${(incremental.sizeAfterRefill / none.sizeAfterRefill).toFixed(2)}`,
);
