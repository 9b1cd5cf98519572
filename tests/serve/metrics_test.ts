import assert from "node:assert/strict";
import { Histogram } from "../../lib/histogram.ts";
import { join } from "node:path";
import { escapeLabelValue, Exposition, formatValue, processMetrics } from "../../lib/serve/metrics.ts";
import { tempDir } from "../_helpers/database.ts";
import { listenerUrl } from "../_helpers/network.ts";
import { hasCommand, run, spawnLogger, startFlags } from "../_helpers/process.ts";

Deno.test("label values escape backslash, double quote and line feed as the text format requires", () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(0.25), "0.25");
});

Deno.test("an exposition with awkward label values passes promtool", { ignore: !hasCommand("promtool") }, async () => {
  const out = new Exposition();
  out.family("edgelog_test_total", "counter", "A help text with a \\ backslash\nand a line feed.")
    .sample(3, { source: 'we"ird\\name\nhere', reason: "ünïcode ✓" });
  const h = new Histogram([0.5, 1]);
  h.observe(0.7);
  out.histogram("edgelog_test_seconds", "Durations.", h);
  const check = await run("promtool", ["check", "metrics"], out.text());
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.match(out.text(), /^edgelog_test_seconds_bucket\{le="\+Inf"\} 1$/m);
  assert.match(out.text(), /^edgelog_test_total\{source="we\\"ird\\\\name\\nhere",reason="ünïcode ✓"\} 3$/m);
});

/** `# TYPE` lines of an exposition: family name → type. */
function families(text: string): Map<string, string> {
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
}

Deno.test(
  "the first scrape of a running logger passes promtool with no findings, follows the naming guide, and HEAD works",
  {
    ignore: !hasCommand("promtool"),
  },
  async () => {
    await using dir = await tempDir();
    const startedAt = Date.now() / 1000;
    const p = spawnLogger([
      ...["--db", join(dir.path, "e.db"), "--listen", "127.0.0.1:0", "--source", "simulated", "--source", "stdin"],
      ...["--forward", "http://127.0.0.1:9/write?name=nowhere"],
    ], { stdin: "piped" });
    try {
      const base = await listenerUrl(p);
      const text = await (await fetch(`${base}/metrics`)).text();
      const check = await run("promtool", ["check", "metrics"], text);
      assert.equal(check.code, 0, check.stdout + check.stderr);
      assert.equal(check.stdout + check.stderr, "", "promtool has no findings");

      const types = families(text);
      for (const [name, type] of types) {
        if (type === "counter") assert.match(name, /_total$/, `counter ${name}`);
        if (type === "histogram") assert.match(name, /_(seconds|bytes|readings)$/, `histogram ${name} has a unit`);
        if (/readings/.test(name)) assert.match(name, /_readings(_total)?$/, `${name}: _readings at the end`);
      }
      assert.ok(!types.has("edgelog_uptime_seconds"), "no duplicate of process_start_time_seconds");
      assert.doesNotMatch(text, /=""/, "no sample with an empty label");
      assert.match(text, /^edgelog_taken_readings_total\{source="stdin"\} 0$/m, "counters start at 0 per source");
      assert.match(text, /^edgelog_dropped_readings_total\{source="stdin"\} 0$/m);
      for (const reason of ["invalid_json", "bad_sensor_name", "too_many_sensors"]) {
        assert.match(
          text,
          new RegExp(`^edgelog_rejected_readings_total\\{source="stdin",reason="${reason}"\\} 0$`, "m"),
        );
      }
      const sample = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
      assert.ok(Math.abs(sample("process_start_time_seconds") - startedAt) < 30, "process_start_time_seconds");
      assert.ok(sample("process_resident_memory_bytes") > 0);
      // Deno lets a program read /proc/self only with every permission (--allow-all).
      if (startFlags().some((f) => f === "--allow-all" || f === "-A")) {
        assert.ok(sample("process_cpu_seconds_total") > 0, "process_cpu_seconds_total");
        assert.ok(sample("process_open_fds") > 3 && sample("process_max_fds") >= sample("process_open_fds"));
        assert.ok(sample("process_virtual_memory_bytes") > sample("process_resident_memory_bytes"));
      } else {
        assert.ok(!types.has("process_cpu_seconds_total"), "left out, not failing, without access to /proc");
      }

      // RFC 9110: every GET route answers HEAD with the same status and headers, and no content.
      for (const path of ["/healthz", "/metrics", "/api/v1/status", "/api/v1/sensors", "/", "/favicon.ico"]) {
        const get = await fetch(`${base}${path}`);
        await get.body?.cancel();
        const head = await fetch(`${base}${path}`, { method: "HEAD" });
        assert.equal(head.status, get.status, `HEAD ${path}`);
        assert.equal(head.headers.get("content-type"), get.headers.get("content-type"), `HEAD ${path}`);
        assert.equal(await head.text(), "", `HEAD ${path} has no content`);
      }
    } finally {
      p.kill("SIGTERM");
      await p.exited();
    }
  },
);

Deno.test("without a readable /proc the process metrics degrade to what Deno tells, and the scrape still works", () => {
  const out = new Exposition();
  processMetrics(out, () => {
    throw new Deno.errors.NotCapable("read");
  }, () => {
    throw new Deno.errors.NotCapable("read");
  });
  assert.deepEqual([...families(out.text()).keys()], ["process_resident_memory_bytes", "process_start_time_seconds"]);
});

Deno.test("process CPU time is read after the command name, which may hold spaces and parentheses", () => {
  const out = new Exposition();
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3)); // field n holds the number n
  processMetrics(out, (path) => path.endsWith("stat") ? `42 (a (b) c) ${fields.join(" ")}\n` : "", () => 7);
  assert.match(out.text(), /^process_cpu_seconds_total 0\.29$/m, "(utime 14 + stime 15) / 100");
  assert.match(out.text(), /^process_virtual_memory_bytes 23$/m);
  assert.match(out.text(), /^process_open_fds 7$/m);
});
