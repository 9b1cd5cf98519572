/**
 * An independent witness of what edgelog committed: a separate process that polls the newest
 * reading id on its own read-only connection and prints it on stdout each time it grows. A reader
 * only sees a transaction once SQLite published it in the WAL index, so every id printed here was
 * committed. Usage: `deno run -A _commit_watcher.ts DB` (runs until killed).
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";

if (import.meta.main) {
  const [dbPath] = Deno.args;
  let db: DatabaseSync | undefined;
  let last = 0;
  const print = (line: string) => {
    const bytes = new TextEncoder().encode(line + "\n");
    for (let off = 0; off < bytes.length;) off += Deno.stdout.writeSync(bytes.subarray(off));
  };
  for (;;) {
    try {
      db ??= new DatabaseSync(dbPath, { readOnly: true, timeout: 1000 });
      // Hot or compacted: the logger moves its hot table into chunks as soon as it holds a full step.
      const { id } = db.prepare(
        `SELECT max((SELECT coalesce(max(id), 0) FROM readings),
                    (SELECT coalesce(max(last_id), 0) FROM chunks WHERE step_end = (SELECT max(step_end) FROM chunks))) AS id`,
      ).get() as { id: number };
      if (Number(id) > last) print(String(last = Number(id)));
    } catch (e) {
      print(`ERR ${e instanceof Error ? e.message : e}`);
      try {
        db?.close();
      } catch { /* reopened next round */ }
      db = undefined;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}
