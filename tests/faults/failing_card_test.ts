/**
 * Scenario 10: a failing card. The database lives on a FUSE filesystem that injects errors
 * (`_faultfs.py`): writes failing with EIO, fsyncs failing, writes failing with EROFS (a card the
 * kernel remounted read-only), reads of the database failing with EIO (which SQLite reports as
 * "database disk image is malformed" about a healthy file). Each is handled like a full disk: the
 * commit is retried at the commit interval (no spin), readings wait in the bounded buffer,
 * /healthz is unhealthy with the reason, nothing is moved aside, and logging resumes by itself
 * once the card works again; the database is intact afterwards and holds what was reported stored.
 *
 * Needs root and /dev/fuse (CI has both); skipped with a message elsewhere.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { countReadings, integrityCheck } from "../_helpers/database.ts";
import { listenerUrl } from "../_helpers/network.ts";
import { spawnLogger, waitFor } from "../_helpers/process.ts";
import { FaultFs, faultFsRequirement } from "./_faultfs.ts";
import { exitedWithin, FaultRandom, printFigures, requireFinal, stderrTail } from "./_faults.ts";

const fuse = faultFsRequirement("the failing-card scenario");

/** Readings in `db`, 0 while unreadable. */
function safeCount(db: string): number {
  try {
    return countReadings(db);
  } catch {
    return 0;
  }
}

Deno.test({
  name:
    "EIO and EROFS on writes, failing fsyncs and EIO on reads are retried like a full disk, never move the database aside, and logging resumes",
  ignore: fuse.ignore,
  fn: async () => {
    fuse.check();
    await using fs = await FaultFs.mount();
    const db = join(fs.mnt, "edgelog.db");
    const random = new FaultRandom();
    const commitMs = 100;
    const p = spawnLogger([
      "--db",
      db,
      "--sim-rate",
      "2000",
      "--commit-interval",
      String(commitMs),
      "--listen",
      "127.0.0.1:0",
      "--buffer-size",
      "4000",
    ]);
    const rows: Record<string, unknown>[] = [];
    let faultMs = 0;
    try {
      await p.waitUntilLogging();
      const url = await listenerUrl(p);
      await waitFor(() => safeCount(db) > 1000, 20_000, () => stderrTail(p));
      const phases: [string, string][] = [
        ["write EIO on the WAL", "fault write EIO path=*.db-wal"],
        ["fsync EIO, at random", `fault fsync EIO prob=0.5 seed=${random.int(1, 1e6)}`],
        ["write EROFS (remounted read-only)", "fault write EROFS"],
        ["read EIO on the database", "fault read EIO path=*.db"],
      ];
      for (const [name, rule] of phases) {
        const before = safeCount(db);
        if (rule.startsWith("fault read")) {
          // Another connection's checkpoint and commit make the writer drop its page cache, so its
          // next commit reads pages of the file (through the failing card) instead of its memory.
          const raw = new DatabaseSync(db, { timeout: 5000 });
          raw.exec("PRAGMA wal_checkpoint(TRUNCATE)"); // the pages the writer needs are in the file, not the WAL
          const id = Number((raw.prepare("PRAGMA application_id").get() as { application_id: number }).application_id);
          raw.exec(`PRAGMA application_id = ${id}`);
          raw.close();
        }
        const t0 = performance.now();
        await fs.fault(rule.slice("fault ".length));
        // The kernel serves cached pages without asking the filesystem: drop them, so reads reach the card.
        if (rule.startsWith("fault read")) Deno.writeTextFileSync("/proc/sys/vm/drop_caches", "1");
        // Unhealthy with the reason while the card fails (the random fsync faults may let commits through).
        let health: { status: string; reason?: string } = { status: "" };
        await waitFor(
          async () => {
            health = await (await fetch(`${url}/healthz`)).json();
            return health.status === "unhealthy" || rule.includes("prob=");
          },
          15_000,
          () => `${name}: /healthz ${JSON.stringify(health)}\n${stderrTail(p)}`,
        );
        if (health.status === "unhealthy") assert.match(health.reason!, /failed in a row|not committed/, name);
        await new Promise((r) => setTimeout(r, 1500));
        await fs.heal();
        faultMs += performance.now() - t0;
        await waitFor(() => safeCount(db) > before + 500, 20_000, () => `${name}: logging resumes\n${stderrTail(p)}`);
        const after: { status: string } = await (await fetch(`${url}/healthz`)).json();
        await waitFor(
          async () => (await (await fetch(`${url}/healthz`)).json()).status === "ok",
          10_000,
          () => `${name}: healthy again, was ${JSON.stringify(after)}`,
        );
        rows.push({ name, rows_before: before });
      }
      // EIO on reads makes SQLite say "malformed" about this healthy file: it must be seen through.
      if (p.records.some((r) => r.message.startsWith("a commit found the database corrupt"))) {
        assert.ok(
          p.records.some((r) =>
            r.message.startsWith("the database looked corrupt but is") && /unreadable/.test(r.message)
          ),
          "the malformed report was recognised as a failing read",
        );
      }
      assert.ok(
        !p.records.some((r) => r.message.startsWith("DAMAGED DATABASE")),
        `nothing was taken for damage\n${stderrTail(p)}`,
      );
      p.kill("SIGTERM");
      const status = await exitedWithin(p, 20_000);
      assert.equal(status.code, 0, `exit 0\n${stderrTail(p)}`);
    } finally {
      try {
        p.kill("SIGKILL");
      } catch { /* exited */ }
      await p.exited();
    }
    const final = requireFinal(p);
    assert.equal(final.stored, final.taken, "every reading taken was stored (the dropped ones were never taken)");
    assert.equal(safeCount(db), final.stored, "the database holds exactly what was reported stored");
    assert.equal(integrityCheck(db), "ok");
    assert.deepEqual(
      [...Deno.readDirSync(fs.mnt)].filter((e) => e.name.includes("damaged")),
      [],
      "nothing moved aside",
    );
    // Retried at the commit interval, not in a loop: at most a few attempts per interval of fault.
    const errors = Number(final.commit_errors);
    assert.ok(errors > 0, "the faults did fail commits");
    assert.ok(
      errors <= (faultMs / commitMs) * 2 + 10,
      `${errors} failed commits in ${Math.round(faultMs)} ms: no spin`,
    );
    printFigures([{
      scenario: "11. failing card (EIO/EROFS writes, EIO fsync, EIO reads)",
      trials: 1,
      lost: `0 stored lost; ${final.dropped} dropped (buffer full, counted)`,
      exits: "0",
      stopMs: "-",
      notes: `${errors} failed commits over ${(faultMs / 1000).toFixed(1)} s of faults; resumed after each`,
    }], random.seed);
  },
});
