import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { tempDir } from "../_helpers/database.ts";
import { diagnose, quarantine, quarantinedBeside } from "../../lib/store/quarantine.ts";

Deno.test("quarantine renames the database with its -wal and -shm, never overwriting an earlier one", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const at = Date.UTC(2026, 10, 27, 11, 27, 33);
  for (const expected of ["edgelog.db.damaged-20261127T112733Z", "edgelog.db.damaged-20261127T112733Z-2"]) {
    Deno.writeTextFileSync(db, "db");
    Deno.writeTextFileSync(`${db}-wal`, "wal");
    Deno.writeTextFileSync(`${db}-shm`, "shm");
    const q = quarantine(db, "test", at);
    assert.equal(q.to, join(dir.path, expected));
    assert.equal(Deno.readTextFileSync(q.to), "db");
    assert.equal(Deno.readTextFileSync(`${q.to}-wal`), "wal");
    assert.equal(Deno.readTextFileSync(`${q.to}-shm`), "shm");
    assert.throws(() => Deno.statSync(db), Deno.errors.NotFound);
  }
  assert.deepEqual(quarantinedBeside(db), [
    join(dir.path, "edgelog.db.damaged-20261127T112733Z"),
    join(dir.path, "edgelog.db.damaged-20261127T112733Z-2"),
  ]);
});

Deno.test("diagnose says sound for a whole database and damaged for one with an overwritten page", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "a.db");
  const conn = new DatabaseSync(db);
  conn.exec("PRAGMA page_size = 1024; CREATE TABLE t(x); CREATE INDEX t_x ON t(x)");
  const insert = conn.prepare("INSERT INTO t VALUES (?)");
  conn.exec("BEGIN");
  for (let i = 0; i < 5000; i++) insert.run(`value ${i}`);
  conn.exec("COMMIT");
  conn.close();
  assert.deepEqual(diagnose(db), { kind: "sound" });
  const file = Deno.openSync(db, { write: true });
  file.seekSync(5 * 1024, Deno.SeekMode.Start);
  file.writeSync(new Uint8Array(1024).fill(0x5a));
  file.close();
  assert.equal(diagnose(db).kind, "damaged");
});
