import assert from "node:assert/strict";
import { join } from "node:path";
import { seedReadings, sha256File, tempDir } from "../_helpers/database.ts";
import { runOnce } from "../_helpers/process.ts";

const START = Date.UTC(2026, 0, 1);

async function seeded(dir: string): Promise<string> {
  const db = join(dir, "e.db");
  // 4 sensors s-1..s-4, one reading each per second for one hour.
  await seedReadings(db, 4 * 3600, { sensors: 4, startTs: START, stepMs: 1000 });
  return db;
}

Deno.test("query prints one sensor's readings in a range as CSV", async () => {
  await using dir = await tempDir();
  const db = await seeded(dir.path);
  const { code, stdout, stderr } = await runOnce([
    "query",
    "--db",
    db,
    "--sensor",
    "s-2",
    "--since",
    "2026-01-01T00:00:10Z",
    "--until",
    String(START + 13_000),
  ]);
  assert.equal(code, 0, stderr);
  assert.equal(
    stdout,
    "ts,time,sensor,value\r\n" +
      [10, 11, 12].map((s) => `${START + s * 1000},2026-01-01T00:00:${s}.000Z,s-2,${((4 * s + 1) % 1000) / 10}\r\n`)
        .join(""),
  );
});

Deno.test("query with a glob and --every gives avg, min, max, count, last per sensor and bucket", async () => {
  await using dir = await tempDir();
  const db = await seeded(dir.path);
  const { code, stdout, stderr } = await runOnce([
    "query",
    "--db",
    db,
    "--sensor",
    "s-[34]",
    "--every",
    "10m",
    "--format",
    "ndjson",
  ]);
  assert.equal(code, 0, stderr);
  const rows = stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(rows.length, 12);
  assert.deepEqual([...new Set(rows.map((r) => r.sensor))], ["s-3", "s-4"]);
  const first = rows[0];
  // s-3 is reading i = 4k + 2, value ((4k + 2) mod 1000) / 10 for k = 0..599.
  const values = Array.from({ length: 600 }, (_, k) => ((4 * k + 2) % 1000) / 10);
  assert.equal(first.ts, START);
  assert.equal(first.count, 600);
  assert.equal(first.min, Math.min(...values));
  assert.equal(first.max, Math.max(...values));
  assert.equal(first.last, values[599]);
  assert.ok(Math.abs(first.avg - values.reduce((a, v) => a + v, 0) / 600) < 1e-9);
});

Deno.test("query --format json is one valid JSON array, also when empty", async () => {
  await using dir = await tempDir();
  const db = await seeded(dir.path);
  const full = await runOnce(["query", "--db", db, "--format", "json", "--limit", "5"]);
  assert.equal(JSON.parse(full.stdout).length, 5);
  const empty = await runOnce(["query", "--db", db, "--format", "json", "--since", "-1m"]);
  assert.deepEqual(JSON.parse(empty.stdout), []);
});

Deno.test("query rejects bad times, unknown sensors and bad widths with exit 2 and changes nothing", async () => {
  await using dir = await tempDir();
  const db = await seeded(dir.path);
  const before = await sha256File(db);
  const cases: [string[], RegExp][] = [
    [["--since", "yesterday"], /--since: cannot read "yesterday" as a time/],
    [["--until", "-1q"], /--until: cannot read/],
    [["--since", "-1h", "--until", "-2h"], /must be before --until/],
    [["--sensor", "nope"], /--sensor: no sensor matches "nope"; known sensors: s-1, s-2/],
    [["--every", "0s"], /--every/],
    [["--format", "xml"], /--format: expected one of/],
    [["--bogus"], /^edgelog: query: unknown option --bogus; see 'edgelog query --help'$/m],
  ];
  for (const [args, message] of cases) {
    const { code, stdout, stderr } = await runOnce(["query", "--db", db, ...args]);
    assert.equal(code, 2, args.join(" "));
    assert.match(stderr, message);
    assert.equal(stdout, "");
  }
  assert.equal(await sha256File(db), before);
});
