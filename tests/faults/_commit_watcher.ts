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
      const { id } = db.prepare("SELECT coalesce(max(id), 0) AS id FROM readings").get() as { id: number };
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
