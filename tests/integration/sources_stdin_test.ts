import assert from "node:assert/strict";
import { join } from "node:path";
import { countReadings, integrityCheck, readingRows, tempDir, walSize } from "../_helpers/database.ts";
import { listenPort } from "../_helpers/network.ts";
import { spawnLogger } from "../_helpers/process.ts";

Deno.test("readings piped into stdin are all stored and end of input stops the logger with exit 0", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const p = spawnLogger(["--db", db, "--source", "stdin"], { stdin: "piped" });
  try {
    const writer = p.child.stdin.getWriter();
    const enc = new TextEncoder();
    const n = 20_000;
    const ts = Date.now() - 60_000;
    for (let chunk = 0; chunk < n; chunk += 1000) {
      let text = "";
      for (let i = chunk; i < chunk + 1000; i++) {
        text += JSON.stringify({ sensor: `s${i % 7}`, value: i, ts: ts + i, unit: "°C" }) + "\n";
      }
      await writer.write(enc.encode(text));
    }
    await writer.write(enc.encode('{"sensor":"bad","value":"x"}\nnot json\n{"sensor":"last","value":-1}'));
    await writer.close();
    const status = await p.exited();
    assert.equal(status.code, 0, p.stderrLines.join("\n"));
    const final = p.finalRecord()!;
    assert.equal(final.reason, "all sources ended");
    assert.equal(final.taken, n + 1);
    assert.equal(final.stored, n + 1);
    assert.equal(final.dropped, 0);
    assert.deepEqual(final.rejected_by_reason, { wrong_type: 1, invalid_json: 1 });
    assert.equal(countReadings(db), n + 1);
    const rows = readingRows(db);
    assert.deepEqual(rows[5], { sensor: "s5", unit: "°C", ts: ts + 5, value: 5 });
    assert.equal(rows[n].sensor, "last");
    assert.equal(integrityCheck(db), "ok");
    assert.equal(walSize(db), 0);
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
});

Deno.test("a small buffer slows the pipe down instead of dropping stdin readings", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const p = spawnLogger(["--db", db, "--source", "stdin", "--buffer-size", "100", "--commit-interval", "5"], {
    stdin: "piped",
  });
  try {
    const writer = p.child.stdin.getWriter();
    const lines = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ sensor: "t", value: i })).join("\n");
    await writer.write(new TextEncoder().encode(lines));
    await writer.close();
    const status = await p.exited();
    assert.equal(status.code, 0, p.stderrLines.join("\n"));
    assert.equal(p.finalRecord()!.dropped, 0);
    assert.equal(countReadings(db), 5000);
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
});

Deno.test("SIGTERM while stdin is still open stops gracefully and stores what was read", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const p = spawnLogger(["--db", db, "--source", "stdin"], { stdin: "piped" });
  const writer = p.child.stdin.getWriter();
  try {
    await p.waitUntilLogging();
    await writer.write(new TextEncoder().encode('{"sensor":"a","value":1}\n{"sensor":"a","value":2}\n'));
    await p.waitForRecord(() => countReadings(db) === 2);
    p.kill("SIGTERM");
    const status = await p.exited();
    assert.equal(status.code, 0, p.stderrLines.join("\n"));
    assert.equal(p.finalRecord()!.stored, 2);
    assert.equal(countReadings(db), 2);
  } finally {
    await writer.close().catch(() => {});
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
});

Deno.test("--max-sensors: readings naming a sensor beyond the limit are rejected and counted, across restarts and over HTTP", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const ts = Date.now() - 60_000;
  // First run, over stdin: five names, a limit of three; the first three names seen are kept.
  const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ sensor: `s${i % 5}`, value: i, ts: ts + i }));
  const first = spawnLogger(["--db", db, "--source", "stdin", "--max-sensors", "3"], { stdin: "piped" });
  const writer = first.child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(lines.join("\n") + "\n"));
  await writer.close();
  assert.equal((await first.exited()).code, 0, first.stderrLines.join("\n"));
  const final = first.finalRecord()!;
  assert.equal(final.stored, 30);
  assert.deepEqual(final.rejected_by_reason, { too_many_sensors: 20 });
  assert.deepEqual([...new Set(readingRows(db).map((r) => r.sensor))].sort(), ["s0", "s1", "s2"]);

  // Second run, over HTTP: the three sensors in the database count against the limit.
  const second = spawnLogger(["--db", db, "--source", "http", "--listen", "127.0.0.1:0", "--max-sensors", "3"]);
  try {
    const url = `http://127.0.0.1:${await listenPort(second)}/api/v1/readings?sync=1`;
    const res = await fetch(url, {
      method: "POST",
      body: `{"sensor":"s1","value":1}\n{"sensor":"new","value":2}\n{"sensor":"s2","value":3}\n`,
    });
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.equal(body.accepted, 2);
    assert.deepEqual(body.errors.map((e: { line: number; reason: string }) => [e.line, e.reason]), [[
      2,
      "too_many_sensors",
    ]]);
  } finally {
    second.kill("SIGTERM");
    assert.equal((await second.exited()).code, 0);
  }
  assert.equal(countReadings(db), 32);
  assert.equal(integrityCheck(db), "ok");
});
