import assert from "node:assert/strict";
import { join } from "node:path";
import { HttpServer } from "../../lib/serve/http.ts";
import { Store } from "../../lib/store/mod.ts";
import { countReadings, tempDir, withDb } from "../_helpers/database.ts";
import { Pipeline } from "../../lib/pipeline.ts";
import { rejectionsOf } from "../../lib/sources/mod.ts";
import { HttpIngestSource, INGEST_PATH } from "../../lib/sources/http_ingest.ts";

interface Rig extends AsyncDisposable {
  url: string;
  pipeline: Pipeline;
  db: string;
}

async function rig(options: { bufferSize?: number; maxBodyBytes?: number; commitIntervalMs?: number } = {}) {
  const dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const store = Store.open(db, { durability: "normal" });
  const pipeline = new Pipeline(store, {
    commitIntervalMs: options.commitIntervalMs ?? 20,
    batchSize: 5000,
    bufferSize: options.bufferSize ?? 10_000,
  });
  pipeline.start();
  const http = new HttpServer({ listen: "127.0.0.1:0" });
  const source = new HttpIngestSource({
    http,
    pipeline,
    rejections: rejectionsOf("http", pipeline),
    maxBodyBytes: options.maxBodyBytes ?? 1 << 20,
  });
  await http.start();
  const early = await fetch(`http://127.0.0.1:${http.port}${INGEST_PATH}`, { method: "POST", body: "{}" });
  assert.equal(early.status, 503, "before start the route answers 503");
  await early.body?.cancel();
  source.start(pipeline.emit);
  const r: Rig = {
    url: `http://127.0.0.1:${http.port}${INGEST_PATH}`,
    pipeline,
    db,
    async [Symbol.asyncDispose]() {
      await http.stop();
      source.stop();
      pipeline.stopTimers();
      pipeline.flush();
      pipeline.close();
      store.close();
      await dir[Symbol.asyncDispose]();
    },
  };
  return r;
}

const line = (sensor: string, value: unknown) => JSON.stringify({ sensor, value });

Deno.test("an NDJSON body is queued (202) and committed", async () => {
  await using r = await rig();
  const res = await fetch(r.url, { method: "POST", body: [line("a", 1), line("b", 2), ""].join("\n") });
  assert.equal(res.status, 202);
  assert.deepEqual(await res.json(), { accepted: 2, rejected: 0, committed: false });
  assert.equal(await r.pipeline.waitStored(2), true);
  assert.equal(countReadings(r.db), 2);
});

Deno.test("with ?sync=1 the answer is 200 only once the readings are committed", async () => {
  await using r = await rig({ commitIntervalMs: 200 });
  const res = await fetch(r.url + "?sync=1", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify([{ sensor: "a", value: 1, unit: "V" }, { sensor: "a", value: 2, ts: Date.now() - 1000 }]),
  });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { accepted: 2, rejected: 0, committed: true });
  assert.equal(countReadings(r.db), 2, "committed before the answer");
});

Deno.test("a mixed body stores its valid lines and answers 400 listing each rejected line", async () => {
  await using r = await rig();
  const body = [line("a", 1), "{oops", line("b", "NaN"), "", line("c", 3)].join("\n");
  const res = await fetch(r.url + "?sync=1", { method: "POST", body });
  assert.equal(res.status, 400);
  const answer = await res.json();
  assert.equal(answer.accepted, 2);
  assert.equal(answer.rejected, 2);
  assert.equal(answer.committed, true);
  assert.deepEqual(answer.errors.map((e: { line: number; reason: string }) => [e.line, e.reason]), [
    [2, "invalid_json"],
    [3, "wrong_type"],
  ]);
  const values = withDb(r.db, (db) => db.prepare("SELECT value FROM readings ORDER BY id").all().map((x) => x.value));
  assert.deepEqual(values, [1, 3]);
  assert.deepEqual(r.pipeline.counters.rejectedByReason, { invalid_json: 1, wrong_type: 1 });
});

Deno.test("JSON array elements are reported by index", async () => {
  await using r = await rig();
  const res = await fetch(r.url, {
    method: "POST",
    headers: { "content-type": "application/json; charset=utf-8" },
    body: JSON.stringify([{ sensor: "a", value: 1 }, { sensor: "" }]),
  });
  assert.equal(res.status, 400);
  const answer = await res.json();
  assert.deepEqual(answer.errors, [{ index: 1, reason: "missing_field", message: 'missing field "value"' }]);
});

Deno.test("a body that is not JSON at all, or invalid UTF-8, gets 400 and stores nothing", async () => {
  await using r = await rig();
  assert.equal(
    (await fetch(r.url, { method: "POST", body: "[1, 2" }).then(async (x) => (await x.body?.cancel(), x))).status,
    400,
  );
  const res = await fetch(r.url, { method: "POST", body: new Uint8Array([0x7b, 0xff, 0x7d, 0x0a]) });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).errors[0].reason, "invalid_utf8");
  const empty = await fetch(r.url, { method: "POST", body: "\n\n" });
  assert.equal(empty.status, 400);
  await empty.body?.cancel();
  assert.equal(r.pipeline.counters.taken, 0);
});

Deno.test("a body over the size limit gets 413, also when sent without a length", async () => {
  await using r = await rig({ maxBodyBytes: 1024 });
  const big = Array.from({ length: 100 }, (_, i) => line("a", i)).join("\n");
  const res = await fetch(r.url, { method: "POST", body: big });
  assert.equal(res.status, 413);
  await res.body?.cancel();
  const chunked = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < 10; i++) c.enqueue(new TextEncoder().encode(big.slice(i * 300, (i + 1) * 300)));
      c.close();
    },
  });
  const res2 = await fetch(r.url, { method: "POST", body: chunked });
  assert.equal(res2.status, 413);
  await res2.body?.cancel();
  assert.equal(r.pipeline.counters.taken, 0);
  assert.equal(r.pipeline.counters.rejectedByReason.body_too_large, 2);
});

Deno.test("when the buffer cannot take the whole body now the answer is 503 with Retry-After, and a retry succeeds", async () => {
  await using r = await rig({ bufferSize: 5, commitIntervalMs: 60_000 });
  const body = (n: number) => Array.from({ length: n }, (_, i) => line("a", i)).join("\n");
  const first = await fetch(r.url, { method: "POST", body: body(3) });
  assert.equal(first.status, 202);
  await first.body?.cancel();
  const full = await fetch(r.url, { method: "POST", body: body(3) });
  assert.equal(full.status, 503);
  assert.equal(full.headers.get("retry-after"), "1");
  await full.body?.cancel();
  assert.equal(r.pipeline.counters.taken, 3, "nothing of the refused body is taken");
  assert.ok(r.pipeline.flush(), "the buffer is committed");
  const retry = await fetch(r.url, { method: "POST", body: body(3) });
  assert.equal(retry.status, 202, "the same body succeeds once there is room");
  await retry.body?.cancel();
  assert.equal(r.pipeline.counters.taken, 6);
});

Deno.test("a body with more readings than the whole buffer can hold gets 413 (retrying cannot help), nothing taken", async () => {
  await using r = await rig({ bufferSize: 5 });
  const res = await fetch(r.url, {
    method: "POST",
    body: Array.from({ length: 6 }, (_, i) => line("a", i)).join("\n"),
  });
  assert.equal(res.status, 413);
  assert.equal(res.headers.get("retry-after"), null, "no invitation to retry the same body");
  const answer = await res.json();
  assert.match(answer.error, /6 readings in one body, more than the buffer holds \(--buffer-size 5\)/);
  assert.equal(answer.accepted, 0);
  assert.equal(r.pipeline.counters.taken, 0);
  const five = await fetch(r.url, {
    method: "POST",
    body: Array.from({ length: 5 }, (_, i) => line("a", i)).join("\n"),
  });
  assert.equal(five.status, 202, "a body exactly the buffer's size is taken");
  await five.body?.cancel();
});

Deno.test("more than 1000 invalid lines refuse the whole body", async () => {
  await using r = await rig();
  const body = [line("ok", 1), ...Array.from({ length: 1001 }, () => "x")].join("\n");
  const res = await fetch(r.url, { method: "POST", body });
  assert.equal(res.status, 400);
  const answer = await res.json();
  assert.equal(answer.accepted, 0);
  assert.equal(answer.errors.length, 1000);
  assert.equal(r.pipeline.counters.taken, 0);
  assert.equal(r.pipeline.counters.rejected, 1002);
});

Deno.test("a compressed body is refused with 415, not parsed as garbage", async () => {
  await using r = await rig();
  const res = await fetch(r.url, { method: "POST", headers: { "content-encoding": "gzip" }, body: "\x1f\x8b" });
  assert.equal(res.status, 415);
  await res.body?.cancel();
  assert.equal(r.pipeline.counters.taken + r.pipeline.counters.rejected, 0);
});
