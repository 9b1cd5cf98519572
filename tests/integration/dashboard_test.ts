import assert from "node:assert/strict";
import { join } from "node:path";
// Test-only: a direct specifier keeps it out of the program's import map and module graph.
import { type BrowserContext, chromium } from "npm:playwright-core@1.65.1";
import { countReadings, tempDir } from "../_helpers/database.ts";
import { listenerUrl } from "../_helpers/network.ts";
import { type LoggerProcess, run, runOnce, spawnLogger, waitFor } from "../_helpers/process.ts";
import { requirement } from "../_helpers/requirements.ts";

const CHROMIUM = "/usr/bin/chromium";
const promtool = requirement("promtool check metrics", { commands: { promtool: "prometheus" } });
const inChromium = requirement("the dashboard in Chromium", {
  root: true,
  commands: { nsenter: "util-linux", unshare: "util-linux" },
  files: { [CHROMIUM]: "Debian package chromium" },
});

/** The value of an unlabelled sample in a Prometheus exposition. */
function sample(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

/** Stops `p` with SIGTERM and asserts the clean stop stored every reading it took. */
async function stopCleanly(p: LoggerProcess, rows: () => number | Promise<number>): Promise<void> {
  try {
    p.kill("SIGTERM");
  } catch { /* already exited: the assertions below say how */ }
  const status = await p.exited();
  assert.equal(status.code, 0, p.stderrLines.join("\n"));
  const final = p.finalRecord();
  assert.ok(final);
  assert.equal(final.stored, final.taken);
  assert.equal(await rows(), final.stored);
}

Deno.test("a running logger serves /healthz, Prometheus /metrics (promtool-clean) and the read API", {
  ignore: promtool.ignore,
}, async () => {
  promtool.check();
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const p = spawnLogger(["--db", db, "--listen", "127.0.0.1:0", "--sim-rate", "300"]);
  try {
    const base = await listenerUrl(p);
    await waitFor(() => countReadings(db) >= 300, 20_000);

    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.equal((await health.json()).status, "ok");
    assert.equal((await runOnce(["health", "--url", base])).code, 0, "edgelog health says healthy");
    assert.equal((await runOnce(["health"], { env: { EDGELOG_LISTEN: base.slice(7) } })).code, 0);

    const metrics = await fetch(`${base}/metrics`);
    assert.match(metrics.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    const text = await metrics.text();
    const check = await run("promtool", ["check", "metrics"], text);
    assert.equal(check.code, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
    assert.equal(check.stdout + check.stderr, "", "no lint problems");
    const storedMetric = sample(text, "edgelog_stored_readings_total");
    assert.ok(storedMetric >= 300, `stored ${storedMetric}`);
    assert.ok(storedMetric <= countReadings(db), "the metric never counts more than the database holds");
    assert.match(text, /^edgelog_taken_readings_total\{source="simulated"\} \d+$/m);
    assert.match(text, /^edgelog_build_info\{version="0\.1\.0",sqlite_version="3\.[\d.]+",deno_version="[^"]+"\} 1$/m);
    assert.equal(sample(text, "edgelog_healthy"), 1);
    const commits = sample(text, "edgelog_commits_total");
    assert.equal(sample(text, "edgelog_commit_duration_seconds_count"), commits);
    assert.ok(sample(text, "edgelog_database_size_bytes") > 0);
    assert.ok(sample(text, "process_resident_memory_bytes") > 0);

    const { sensors } = await (await fetch(`${base}/api/v1/sensors`)).json();
    assert.deepEqual(sensors.map((s: { name: string }) => s.name), ["humidity-1", "pressure-1", "temperature-1"]);
    const raw = await (await fetch(`${base}/api/v1/readings?sensor=temperature-1&since=0`)).json();
    const rows = countReadings(db);
    assert.ok(raw.t.length >= 100 && raw.t.length <= rows, `raw readings ${raw.t.length}`);
    const buckets = await (await fetch(`${base}/api/v1/readings?sensor=pressure-1&since=-1h&every=1s`)).json();
    assert.ok(buckets.t.length >= 1);
    assert.ok(buckets.t.every((t: number) => t % 1000 === 0), "bucket starts are whole seconds");
    assert.equal((await fetch(`${base}/api/v1/readings?sensor=nope`)).status, 404);
    assert.equal((await fetch(`${base}/api/v1/readings?sensor=humidity-1&every=soon`)).status, 400);
  } finally {
    await stopCleanly(p, () => countReadings(db));
  }
  assert.equal((await runOnce(["health", "--url", "http://127.0.0.1:9", "--timeout", "2"])).code, 1);
});

Deno.test("with --http-token, data routes need the token and /healthz stays public", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const p = spawnLogger(["--db", db, "--listen", "127.0.0.1:0", "--http-token", "s3cret", "--sim-rate", "50"]);
  try {
    const base = await listenerUrl(p);
    const health = await fetch(`${base}/healthz`);
    await health.body?.cancel();
    assert.equal(health.status, 200);
    for (const path of ["/metrics", "/api/v1/sensors", "/api/v1/status"]) {
      const denied = await fetch(`${base}${path}`);
      await denied.body?.cancel();
      assert.equal(denied.status, 401, path);
      const allowed = await fetch(`${base}${path}`, { headers: { authorization: "Bearer s3cret" } });
      await allowed.body?.cancel();
      assert.equal(allowed.status, 200, path);
    }
    const page = await fetch(`${base}/`);
    assert.match(await page.text(), /<title>edgelog<\/title>/);
  } finally {
    await stopCleanly(p, () => countReadings(db));
  }
});

/**
 * The real fault: the database lives on a small tmpfs mounted in a private mount namespace;
 * the test fills that tmpfs (entering the namespace with nsenter) so commits fail with
 * SQLITE_FULL, then frees it again.
 */
Deno.test({
  name: "the dashboard charts live data in Chromium and shows a banner while the disk is full",
  ignore: inChromium.ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    inChromium.check();
    await using dir = await tempDir();
    const dataDir = join(dir.path, "data");
    await Deno.mkdir(dataDir);
    const db = join(dataDir, "edgelog.db");
    // A process that holds the mount namespace, so the tmpfs outlives the logger and the test
    // can read the database it left there.
    const holder = new Deno.Command("unshare", {
      args: [
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount -t tmpfs -o size=24m,mode=700 edgelog-test "$0" && echo mounted && exec sleep 600',
        dataDir,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const holderOut = holder.stdout.getReader();
    const first = await holderOut.read();
    assert.match(new TextDecoder().decode(first.value), /mounted/, "tmpfs mounted in the namespace");
    const inNamespace = (...cmd: string[]) => run("nsenter", ["--target", String(holder.pid), "--mount", "--", ...cmd]);
    const p = spawnLogger(["--db", db, "--listen", "127.0.0.1:0", "--sim-rate", "3000", "--clock-sync", "none"], {
      prefix: ["nsenter", "--target", String(holder.pid), "--mount", "--"],
    });
    const fill = join(dataDir, "fill");
    const profile = await Deno.makeTempDir({ prefix: "edgelog-chromium-" });
    let browser: BrowserContext | undefined;
    try {
      browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        viewport: { width: 1280, height: 900 },
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
        ],
      });
      const base = await listenerUrl(p);
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${base}/`);

      // One chart per sensor, each with data points drawn on its canvas.
      const points = () => page.$$eval(".chart", (els) => els.map((e) => Number(e.getAttribute("data-points"))));
      await waitFor(async () => (await points()).length === 3 && (await points()).every((n) => n >= 2), 30_000);
      assert.equal(await page.locator(".chart canvas").count(), 3);
      assert.equal(await page.locator("#banner").isVisible(), false, "no banner while healthy");
      await waitFor(async () => (await page.locator("#stat-clock").textContent()) === "trusted", 10_000);

      // Live: the newest bucket moves forward without reloading the page.
      const newest = () => page.$$eval(".chart", (els) => els[0].getAttribute("data-points"));
      const storedText = () => page.locator("#stat-stored").textContent();
      const before = await storedText();
      await waitFor(async () => (await storedText()) !== before, 20_000, () => "stored count never updated");
      const firstPoints = Number(await newest());
      await waitFor(async () => Number(await newest()) > firstPoints, 30_000, () => "chart never grew");
      // EDGELOG_DASHBOARD_SCREENSHOT=path.png saves what the browser showed (healthy, then unhealthy).
      const shot = Deno.env.get("EDGELOG_DASHBOARD_SCREENSHOT");
      if (shot) await page.screenshot({ path: shot, fullPage: true });

      // Zoom: dragging across a chart fetches that window again at a finer resolution and stops
      // following; a double-click goes back to the live last hour.
      const every = () => page.$$eval(".chart", (els) => els.map((e) => e.getAttribute("data-every")));
      assert.deepEqual(await every(), ["6000", "6000", "6000"], "the last hour in 6 s buckets");
      const box = (await page.locator(".chart .u-over").first().boundingBox())!;
      await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width * 0.95, box.y + box.height / 2, { steps: 5 });
      await page.mouse.up();
      await waitFor(async () => (await every()).every((e) => e === "1000"), 20_000, () => "zoom did not refetch");
      assert.equal(await page.locator("#live.active").count(), 0, "not live while zoomed");
      await page.locator(".chart .u-over").first().dblclick();
      await waitFor(async () => (await every()).every((e) => e === "6000"), 20_000, () => "reset did not refetch");
      assert.equal(await page.locator("#live.active").count(), 1);

      // Fill the disk: commits fail, /healthz turns 503 and the page shows the banner.
      await inNamespace("dd", "if=/dev/zero", `of=${fill}`, "bs=1M");
      await waitFor(
        async () => (await fetch(`${base}/healthz`).then((r) => r.text().then(() => r.status))) === 503,
        60_000,
      );
      await page.locator("#banner").waitFor({ state: "visible", timeout: 30_000 });
      assert.match((await page.locator("#banner").textContent())!, /Writer unhealthy: .*commits failed in a row/);
      assert.equal((await runOnce(["health", "--url", base])).code, 1, "edgelog health says unhealthy");
      if (shot) await page.screenshot({ path: shot.replace(/(\.png)?$/, "-unhealthy.png"), fullPage: true });

      // Free the disk: the writer catches up and the banner goes away.
      const removed = await inNamespace("rm", "-f", fill);
      assert.equal(removed.code, 0, removed.stderr);
      await page.locator("#banner").waitFor({ state: "hidden", timeout: 30_000 });
      assert.deepEqual(errors, [], "no script errors on the page");
    } finally {
      await browser?.close();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      await inNamespace("rm", "-f", fill).catch(() => {});
      try {
        // After a clean stop the .db file alone holds every row: copy it out of the tmpfs.
        const copy = join(dir.path, "copy.db");
        await stopCleanly(p, async () => {
          const cp = await inNamespace("cp", db, copy);
          assert.equal(cp.code, 0, cp.stderr);
          return countReadings(copy);
        });
      } finally {
        holder.kill("SIGKILL");
        await holderOut.cancel();
        await holder.status;
      }
    }
  },
});
