import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../_helpers/database.ts";
import { listenerUrl } from "../_helpers/network.ts";
import { type LoggerProcess, spawnLogger, waitFor } from "../_helpers/process.ts";

Deno.test("a forwarder's lag shows in /metrics and in the dashboard's status while its upstream is down", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    requests++;
    await req.body?.cancel();
    return new Response("down", { status: 503, headers: { "retry-after": "60" } });
  });
  const forward = `http://127.0.0.1:${server.addr.port}/write?name=central`;
  let p: LoggerProcess | undefined;
  try {
    p = spawnLogger(["--db", db, "--sim-rate", "1000", "--listen", "127.0.0.1:0", "--forward", forward]);
    const base = await listenerUrl(p);
    let metrics = "";
    await waitFor(
      async () => {
        metrics = await (await fetch(`${base}/metrics`)).text();
        const m = /^edgelog_forwarder_lag_readings\{forwarder="central"\} (\d+)$/m.exec(metrics);
        return m !== null && Number(m[1]) > 500;
      },
      20_000,
      () => metrics,
    );
    assert.match(metrics, /^edgelog_forwarder_lag_seconds\{forwarder="central"\} \d/m);
    await waitFor(() => requests >= 1, 10_000, () => "the upstream was never tried");
    const status = await (await fetch(`${base}/api/v1/status`)).json();
    const central = status.forwarders.find((f: { name: string }) => f.name === "central");
    assert.ok(central.lag_readings > 0, JSON.stringify(status.forwarders));
    p.kill("SIGTERM");
    assert.equal((await p.exited()).code, 0, p.stderrLines.join("\n"));
  } finally {
    if (p) {
      try {
        p.kill("SIGKILL");
      } catch { /* already gone */ }
      await p.exited();
    }
    await server.shutdown();
  }
});
