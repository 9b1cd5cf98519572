import assert from "node:assert/strict";
import { Store } from "../../lib/store/mod.ts";
import { seedReadings, sha256File, tempDir } from "../_helpers/database.ts";
import { requirement } from "../_helpers/requirements.ts";
import { run, runOnce, spawnLogger } from "../_helpers/process.ts";
import { InfluxDB1 } from "../_helpers/upstreams.ts";
import { join } from "node:path";

const T0 = Date.UTC(2026, 0, 1);
/** Names and units that need quoting in CSV and escaping in line protocol. */
const TRICKY = [
  { sensor: 'room "a", north', unit: "°C", value: 21.5 },
  { sensor: "line\nbreak", unit: "kW h", value: -0.25 },
  { sensor: "a=b c,d\\e", unit: undefined, value: 1e-7 },
  { sensor: "plain", unit: "%", value: 42 },
];

function trickyDb(path: string): void {
  const store = Store.open(path, { durability: "normal" });
  try {
    store.append(TRICKY.map((r, i) => ({ ...r, ts: T0 + i })));
  } finally {
    store.close();
  }
}

Deno.test("export CSV follows RFC 4180: python's csv module reads back every field", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  trickyDb(db);
  const { code, stdout, stderr } = await runOnce(["export", "--db", db]);
  assert.equal(code, 0, stderr);
  const py = new Deno.Command("python3", {
    args: ["-c", "import csv,json,sys; print(json.dumps(list(csv.reader(sys.stdin, strict=True))))"],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const writer = py.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdout));
  await writer.close();
  const parsed = JSON.parse(new TextDecoder().decode((await py.output()).stdout)) as string[][];
  assert.deepEqual(parsed[0], ["id", "ts", "time", "sensor", "value", "unit"]);
  assert.deepEqual(
    parsed.slice(1),
    TRICKY.map((r, i) => [
      String(i + 1),
      String(T0 + i),
      new Date(T0 + i).toISOString(),
      r.sensor,
      String(r.value),
      r.unit ?? "",
    ]),
  );
});

Deno.test("export NDJSON gives one JSON object per reading", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  trickyDb(db);
  const { code, stdout } = await runOnce(["export", "--db", db, "--format", "ndjson"]);
  assert.equal(code, 0);
  const rows = stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(
    rows,
    TRICKY.map((r, i) => ({ id: i + 1, sensor: r.sensor, ts: T0 + i, value: r.value, unit: r.unit ?? null })),
  );
});

Deno.test("export line protocol escapes per InfluxDB's rules", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  trickyDb(db);
  const { code, stdout, stderr } = await runOnce([
    ...["export", "--db", db, "--format", "line", "--measurement", "my m,x"],
  ]);
  assert.equal(code, 0);
  assert.equal(
    stdout,
    [
      `my\\ m\\,x,sensor=room\\ "a"\\,\\ north,unit=°C value=21.5 ${T0}000000`,
      `my\\ m\\,x,sensor=a\\=b\\ c\\,d\\e value=1e-7 ${T0 + 2}000000`,
      `my\\ m\\,x,sensor=plain,unit=% value=42 ${T0 + 3}000000`,
      "",
    ].join("\n"),
  );
  assert.match(stderr, /1 readings of sensor "line\\nbreak" left out: the sensor name contains control characters/);
});

const influxd = requirement("the InfluxDB export test", { commands: { influxd: "influxdb" } });

Deno.test("a real InfluxDB accepts the exported line protocol and stores every reading", {
  ignore: influxd.ignore,
}, async () => {
  influxd.check();
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  trickyDb(db);
  const { stdout } = await runOnce(["export", "--db", db, "--format", "line"]);
  const influx = new InfluxDB1(dir.path);
  await influx.start(); // creates the database "edgelog"
  try {
    const res = await fetch(`${influx.url}/write?db=edgelog&precision=ns`, { method: "POST", body: stdout });
    assert.equal(res.status, 204, await res.text());
    const q = new URLSearchParams({
      db: "edgelog",
      epoch: "ms",
      q: 'SELECT "value", "sensor", "unit" FROM "edgelog" ORDER BY time',
    });
    const answer = await (await fetch(`${influx.url}/query?${q}`)).json();
    const values = answer.results[0].series?.[0].values ?? [];
    const carried = TRICKY.map((r, i) => [T0 + i, r.value, r.sensor, r.unit ?? null]).filter((r) => r[0] !== T0 + 1);
    assert.deepEqual(values, carried, "every reading but the one whose name has a line break");
  } finally {
    await influx.stop();
  }
});

Deno.test("export --after-id continues exactly where an earlier export stopped", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  await seedReadings(db, 5000, { sensors: 3 });
  const full = (await runOnce(["export", "--db", db, "--format", "ndjson"])).stdout.trimEnd().split("\n");
  const tail = (await runOnce(["export", "--db", db, "--format", "ndjson", "--after-id", "1234"])).stdout.trimEnd()
    .split("\n");
  assert.equal(full.length, 5000);
  assert.deepEqual(tail, full.slice(1234));
});

Deno.test("export --since/--until keeps only the range", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  await seedReadings(db, 1000, { sensors: 2, startTs: T0, stepMs: 1000 });
  const { stdout } = await runOnce([
    "export",
    "--db",
    db,
    "--format",
    "ndjson",
    "--since",
    new Date(T0 + 100_000).toISOString(),
    "--until",
    String(T0 + 200_000),
  ]);
  const rows = stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
  assert.equal(rows.length, 200);
  assert.ok(rows.every((r) => r.ts >= T0 + 100_000 && r.ts < T0 + 200_000));
});

Deno.test("export --out into a missing directory exits 2 and writes nothing", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  await seedReadings(db, 10);
  const before = await sha256File(db);
  const { code, stderr } = await runOnce(["export", "--db", db, "--out", join(dir.path, "no", "x.csv")]);
  assert.equal(code, 2);
  assert.match(stderr, /--out: the directory .*\/no does not exist; create it first/);
  assert.equal(await sha256File(db), before);
  const ok = await runOnce(["export", "--db", db, "--out", join(dir.path, "x.csv")]);
  assert.equal(ok.code, 0);
  assert.equal(Deno.readTextFileSync(join(dir.path, "x.csv")).split("\r\n").length, 12);
  assert.equal(Deno.statSync(join(dir.path, "x.csv")).mode! & 0o777, 0o600);
});

Deno.test("export interrupted by SIGINT names the last id, and resuming from it completes the export", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "e.db");
  const rows = 1_000_000;
  await seedReadings(db, rows, { sensors: 4 });
  // The export writes into a FIFO the test reads: once the test stops reading, the export cannot
  // get ahead, so the signal surely arrives long before the last row (no early return needed).
  const out = join(dir.path, "part.ndjson");
  assert.equal((await run("mkfifo", [out])).code, 0, "mkfifo");
  const p = spawnLogger(["export", "--db", db, "--format", "ndjson", "--out", out]);
  const fifo = await Deno.open(out, { read: true });
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(1 << 16);
  const readSome = async (atLeast: number) => {
    for (let size = 0; size < atLeast;) {
      const n = await fifo.read(buf);
      if (n === null) return;
      chunks.push(buf.slice(0, n));
      size += n;
    }
  };
  await readSome(1_000_000);
  p.kill("SIGINT");
  await readSome(Infinity); // drain to the end the export chose
  fifo.close();
  const status = await p.exited();
  assert.equal(status.code, 130, p.stderrLines.join("\n"));
  const m = /resume with --after-id (\d+)/.exec(p.stderrLines.join("\n"));
  assert.ok(m, p.stderrLines.join("\n"));
  const lastId = Number(m[1]);
  const decoder = new TextDecoder();
  const first = chunks.map((c) => decoder.decode(c, { stream: true })).join("").trimEnd().split("\n");
  assert.equal(JSON.parse(first.at(-1)!).id, lastId, "the file ends with a complete record of the last id");
  assert.ok(lastId < rows);
  const rest = await runOnce(["export", "--db", db, "--format", "ndjson", "--after-id", String(lastId)]);
  const second = rest.stdout.trimEnd().split("\n");
  assert.equal(first.length + second.length, rows);
  assert.equal(JSON.parse(second[0]).id, lastId + 1);
});
