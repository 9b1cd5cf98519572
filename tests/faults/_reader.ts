/**
 * A reader process for the concurrency scenario: runs queries against an edgelog database in a
 * loop, on its own connections (reopened now and then), until the stop file appears. Prints one
 * JSON line: queries run, errors (with the first message), and whether the row count ever went
 * backwards. Usage: `deno run -A _reader.ts DB STOPFILE`.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";

if (import.meta.main) {
  const [dbPath, stopFile] = Deno.args;
  let queries = 0;
  let errors = 0;
  let firstError: string | undefined;
  let lastCount = 0;
  let backwards = 0;
  let db: DatabaseSync | undefined;
  const stopped = () => {
    try {
      Deno.statSync(stopFile);
      return true;
    } catch {
      return false;
    }
  };
  for (let i = 0; !stopped(); i++) {
    try {
      if (db === undefined || i % 25 === 0) {
        db?.close();
        db = new DatabaseSync(dbPath, { readOnly: i % 2 === 0, timeout: 5000 });
      }
      // Hot and compacted, in one snapshot: compaction moves readings, it never makes fewer.
      const { n } = db.prepare(
        "SELECT (SELECT count(*) FROM readings) + (SELECT coalesce(sum(count), 0) FROM chunks) AS n",
      ).get() as { n: number };
      if (Number(n) < lastCount) backwards++;
      lastCount = Number(n);
      db.prepare("SELECT sensor_id, max(ts) AS ts, avg(value) AS v FROM readings WHERE id > ? GROUP BY sensor_id")
        .all(Math.max(0, lastCount - 5000));
      db.prepare("SELECT * FROM readings ORDER BY id DESC LIMIT 100").all();
      queries += 3;
    } catch (e) {
      errors++;
      firstError ??= String(e);
      try {
        db?.close();
      } catch { /* reopened next round */ }
      db = undefined;
    }
    if (i % 10 === 0) await new Promise((r) => setTimeout(r, 0));
  }
  db?.close();
  console.log(JSON.stringify({ queries, errors, firstError, backwards, lastCount }));
}
