import assert from "node:assert/strict";
import { join } from "node:path";
import { countReadings, integrityCheck, tempDir } from "../_helpers/database.ts";
import { concatBytes, lineFactory, seededRandom } from "../_helpers/fuzz.ts";
import { listenPort } from "../_helpers/network.ts";
import { spawnLogger } from "../_helpers/process.ts";

const SEED = Number(Deno.env.get("EDGELOG_FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));
const seedNote = `(replay with EDGELOG_FUZZ_SEED=${SEED})`;

Deno.test(`thousands of random and malformed stdin lines: the logger survives and stores exactly the valid ones ${seedNote}`, async () => {
  const random = seededRandom(SEED);
  const f = lineFactory(random);
  const parts: Uint8Array[] = [];
  let valid = 0;
  let invalid = 0;
  for (let i = 0; i < 6000; i++) {
    const line = f.line(0.5);
    if (line.valid) valid++;
    else invalid++;
    parts.push(line.bytes, f.newline());
  }
  const input = concatBytes(parts);

  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const p = spawnLogger(["--db", db, "--source", "stdin"], { stdin: "piped" });
  try {
    const writer = p.child.stdin.getWriter();
    // Cut the input at random places so lines straddle reads.
    for (let off = 0; off < input.length;) {
      const n = 1 + f.int(20_000);
      await writer.write(input.subarray(off, off + n));
      off += n;
    }
    await writer.close();
    const status = await p.exited();
    assert.equal(status.code, 0, `${seedNote}\n${p.stderrLines.slice(-20).join("\n")}`);
    const final = p.finalRecord()!;
    assert.equal(final.stored, valid, seedNote);
    assert.equal(countReadings(db), valid, seedNote);
    assert.equal(final.rejected, invalid, `every invalid line counted once ${seedNote}`);
    const byReason = final.rejected_by_reason as Record<string, number>;
    assert.equal(Object.values(byReason).reduce((a, b) => a + b, 0), invalid);
    assert.ok(Object.keys(byReason).length >= 8, `many reasons seen: ${JSON.stringify(byReason)}`);
    assert.ok(p.records.filter((r) => r.level === "WARNING").length < 100, "rejections are logged rate-limited");
    assert.equal(integrityCheck(db), "ok");
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
});

Deno.test(`hundreds of random and malformed HTTP bodies: every answer is exact and the valid lines are all stored ${seedNote}`, async () => {
  const random = seededRandom(SEED ^ 0x5eed);
  const f = lineFactory(random);
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const maxBody = 1 << 20;
  const p = spawnLogger([
    "--db",
    db,
    "--source",
    "http",
    "--listen",
    "127.0.0.1:0",
    "--http-max-body",
    String(maxBody),
  ]);
  try {
    const url = `http://127.0.0.1:${await listenPort(p)}/api/v1/readings`;
    let expectedStored = 0;
    let expectedRejected = 0;
    let linesSent = 0;
    const post = async (body: Uint8Array<ArrayBuffer>) => {
      const res = await fetch(url, { method: "POST", body });
      return { status: res.status, answer: await res.json().catch(() => ({})) };
    };
    const one = async (n: number) => {
      const kind = n % 20;
      if (kind === 19) {
        // Over the size limit.
        const { status } = await post(new Uint8Array(maxBody + 1 + f.int(1000)).fill(0x61));
        assert.equal(status, 413, seedNote);
        expectedRejected++;
        return;
      }
      if (kind === 18) {
        // A JSON array: valid readings mixed with invalid elements, reported by index.
        const invalid = [
          { sensor: "t", value: "x" },
          { sensor: "", value: 1 },
          42,
          null,
          { value: 1 },
          {
            sensor: "t",
            value: 1,
            ts: 0,
          },
          { sensor: "t", value: 1, more: true },
          [1],
        ];
        const items = Array.from(
          { length: 1 + f.int(50) },
          () =>
            f.int(3) === 0
              ? { v: false, x: invalid[f.int(invalid.length)] }
              : { v: true, x: JSON.parse(new TextDecoder().decode(f.valid())) },
        );
        const bad = items.flatMap((it, i) => (it.v ? [] : [i]));
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(items.map((it) => it.x)),
        });
        const answer = await res.json();
        assert.equal(res.status, bad.length === 0 ? 202 : 400, seedNote);
        assert.equal(answer.accepted, items.length - bad.length, seedNote);
        if (bad.length > 0) assert.deepEqual(answer.errors.map((e: { index: number }) => e.index), bad, seedNote);
        expectedStored += items.length - bad.length;
        expectedRejected += bad.length;
        return;
      }
      // An NDJSON body: random lines, some bodies all valid.
      const lines = Array.from({ length: 1 + f.int(60) }, () => f.line(kind < 6 ? 1 : 0.6));
      const body = concatBytes(lines.flatMap((l) => [l.bytes, f.newline()]));
      const bad = lines.flatMap((l, i) => (l.valid ? [] : [i + 1]));
      const good = lines.length - bad.length;
      linesSent += lines.length;
      const { status, answer } = await post(body);
      assert.equal(status, bad.length === 0 ? 202 : 400, `${seedNote} ${JSON.stringify(answer).slice(0, 300)}`);
      assert.equal(answer.accepted, good, seedNote);
      if (bad.length > 0) {
        assert.deepEqual(answer.errors.map((e: { line: number }) => e.line), bad, `line-precise errors ${seedNote}`);
      }
      expectedStored += good;
      expectedRejected += bad.length;
    };
    // Four clients at a time.
    for (let n = 0; n < 400; n += 4) await Promise.all([one(n), one(n + 1), one(n + 2), one(n + 3)]);
    const still = await fetch(url + "?sync=1", { method: "POST", body: '{"sensor":"after","value":1}' });
    assert.equal(still.status, 200, "still serving after the fuzz");
    await still.body?.cancel();
    expectedStored++;

    p.kill("SIGTERM");
    const status = await p.exited();
    assert.equal(status.code, 0, `${seedNote}\n${p.stderrLines.slice(-20).join("\n")}`);
    const final = p.finalRecord()!;
    assert.equal(final.stored, expectedStored, seedNote);
    assert.equal(countReadings(db), expectedStored, seedNote);
    assert.equal(final.rejected, expectedRejected, seedNote);
    assert.ok(linesSent > 5000, `${linesSent} lines sent`);
    assert.equal(integrityCheck(db), "ok");
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
});
