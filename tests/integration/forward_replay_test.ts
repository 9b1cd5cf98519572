import assert from "node:assert/strict";
import { join } from "node:path";
import { cursorOf, readingsByKey, tempDir } from "../_helpers/database.ts";
import { type LoggerProcess, runOnce, spawnLogger, waitFor } from "../_helpers/process.ts";

Deno.test("edgelog replay moves a running forwarder's cursor back and the readings are sent again", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const received = new Map<string, number>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    for (const line of (await req.text()).split("\n")) {
      const m = /sensor=([^ ,]+).* value=\S+ (\d+)$/.exec(line);
      if (m) received.set(`${m[1]}|${m[2]}`, (received.get(`${m[1]}|${m[2]}`) ?? 0) + 1);
    }
    return new Response(null, { status: 204 });
  });
  const url = `http://127.0.0.1:${server.addr.port}/write`;
  let p: LoggerProcess | undefined;
  try {
    p = spawnLogger(["--db", db, "--sim-rate", "1000", "--commit-interval", "100", "--forward", `${url}?name=central`]);
    await p.waitUntilLogging();
    await waitFor(() => (cursorOf(db, "central") ?? 0) >= 500, 30_000, () => p!.stderrLines.join("\n"));
    const list = await runOnce(["replay", "--db", db]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^central\tcursor \d+\tbehind \d+ readings/m);

    const done = await runOnce(["replay", "--db", db, "--forward", "central", "--from-id", "101"]);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /cursor moved from \d+ to 100/);
    const keys = [...readingsByKey(db).keys()];
    await waitFor(() => keys.slice(100, 500).every((k) => received.get(k) === 2), 30_000);
    assert.ok(keys.slice(0, 100).every((k) => received.get(k) === 1), "readings before --from-id were not resent");

    const unknown = await runOnce(["replay", "--db", db, "--forward", "nope", "--from-id", "1"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no forwarder named nope .*known: central/);
    p.kill("SIGTERM");
    assert.equal((await p.exited()).code, 0);
  } finally {
    try {
      p?.kill("SIGKILL");
    } catch { /* exited */ }
    await p?.exited();
    await server.shutdown();
  }
});
