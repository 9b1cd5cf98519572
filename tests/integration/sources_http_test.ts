import assert from "node:assert/strict";
import { join } from "node:path";
import { countReadings, integrityCheck, readingRows, tempDir } from "../_helpers/database.ts";
import { listenPort } from "../_helpers/network.ts";
import { spawnLogger, waitFor } from "../_helpers/process.ts";

const PATH = "/api/v1/readings";

Deno.test("readings POSTed over HTTP are stored; sync requests are committed before the answer", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const p = spawnLogger(["--db", db, "--source", "http", "--listen", "127.0.0.1:0", "--commit-interval", "1s"]);
  try {
    const url = `http://127.0.0.1:${await listenPort(p)}${PATH}`;
    const ts = Date.now() - 1000;
    const res = await fetch(`${url}?sync=1`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: `{"sensor":"t1","value":21.5,"ts":${ts},"unit":"°C"}\n{"sensor":"t2","value":3}\n`,
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { accepted: 2, rejected: 0, committed: true });
    assert.equal(countReadings(db), 2, "durable when the 200 arrives");

    const mixed = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([{ sensor: "t1", value: 1 }, { sensor: "t1", value: "hot" }, { sensor: "t1", value: 2 }]),
    });
    assert.equal(mixed.status, 400);
    const answer = await mixed.json();
    assert.deepEqual([answer.accepted, answer.errors[0].index, answer.errors[0].reason], [2, 1, "wrong_type"]);

    const queued = await fetch(url, { method: "POST", body: '{"sensor":"t3","value":7}' });
    assert.equal(queued.status, 202);
    await queued.body?.cancel();

    p.kill("SIGTERM");
    const status = await p.exited();
    assert.equal(status.code, 0, p.stderrLines.join("\n"));
    const final = p.finalRecord()!;
    assert.equal(final.stored, 5);
    assert.deepEqual(final.rejected_by_reason, { wrong_type: 1 });
    const rows = readingRows(db);
    assert.deepEqual(rows[0], { sensor: "t1", unit: "°C", ts, value: 21.5 });
    assert.deepEqual(rows.map((r) => r.value), [21.5, 3, 1, 2, 7]);
    assert.equal(integrityCheck(db), "ok");
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
});

Deno.test("with --http-token, ingest without the bearer token is refused with 401", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const p = spawnLogger(["--db", db, "--source", "http", "--listen", "127.0.0.1:0", "--http-token", "s3cret"]);
  try {
    const url = `http://127.0.0.1:${await listenPort(p)}${PATH}?sync=1`;
    const body = '{"sensor":"t","value":1}';
    const denied = await fetch(url, { method: "POST", body, headers: { authorization: "Bearer wrong" } });
    assert.equal(denied.status, 401);
    await denied.body?.cancel();
    const ok = await fetch(url, { method: "POST", body, headers: { authorization: "Bearer s3cret" } });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    p.kill("SIGTERM");
    assert.equal((await p.exited()).code, 0);
    assert.equal(countReadings(db), 1);
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
});

Deno.test("--source http without --listen is a usage error (exit 2)", async () => {
  await using dir = await tempDir();
  const p = spawnLogger(["--db", join(dir.path, "x.db"), "--source", "http"]);
  const status = await p.exited();
  assert.equal(status.code, 2);
  assert.match(p.stderrLines.join("\n"), /--source http: needs the HTTP listener/);
});

Deno.test("requests in flight when SIGTERM arrives are finished and their readings committed", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const p = spawnLogger(["--db", db, "--source", "http", "--listen", "127.0.0.1:0"]);
  try {
    const url = `http://127.0.0.1:${await listenPort(p)}${PATH}`;
    const body = Array.from({ length: 1000 }, (_, i) => `{"sensor":"b","value":${i}}`).join("\n");
    let accepted = 0;
    let stop = false;
    const clients = Array.from({ length: 4 }, async () => {
      while (!stop) {
        try {
          const res = await fetch(url, { method: "POST", body });
          const answer = await res.json().catch(() => ({}));
          if (res.status === 202) accepted += answer.accepted;
        } catch {
          return; // the listener closed
        }
      }
    });
    await waitFor(
      () => accepted >= 20_000,
      30_000,
      () => `only ${accepted} readings accepted:\n${p.stderrLines.join("\n")}`,
    );
    p.kill("SIGTERM");
    const status = await p.exited();
    stop = true;
    await Promise.all(clients);
    assert.equal(status.code, 0, p.stderrLines.join("\n"));
    const final = p.finalRecord()!;
    assert.equal(final.stored, final.taken);
    assert.equal(countReadings(db), final.stored);
    assert.equal(final.stored, accepted, "every 202 answered is stored, nothing more");
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
});
