/**
 * The permissions the `start` task gives the program (and `compile` bakes into the binary): the
 * real inputs of an edge box — /sys, /proc/self and serial devices under /dev — work with them
 * out of the box. docs/SECURITY.md explains the choice.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import denoJson from "../deno.json" with { type: "json" };
import { countReadings, readingRows, tempDir } from "./_helpers/database.ts";
import { hasCommand, isRoot, spawnLogger, startFlags, waitFor } from "./_helpers/process.ts";
import { FAKE_SYSFS, writeFakeSysfs } from "./_helpers/sysfs.ts";

/** The permission set before docs/SECURITY.md's decision, kept to show what Deno refuses it. */
const NARROW_FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-run",
  "--allow-env=EDGELOG_*",
  "--allow-sys=hostname",
];

/** Reads /proc/self/io and /proc/self/status, lists /sys/class, reads one line from a tty. */
const PROBE = `
const out = {};
const attempt = async (name, fn) => {
  try { out[name] = await fn(); } catch (e) { out[name] = e.name + ": " + e.message; }
};
await attempt("io", () => /^wchar: \\d+$/m.test(Deno.readTextFileSync("/proc/self/io")));
await attempt("status", () => /^VmRSS:/m.test(Deno.readTextFileSync("/proc/self/status")));
await attempt("sys", () => { Deno.readDirSync("/sys/class"); return true; });
await attempt("serial", async () => {
  const tty = await Deno.open(Deno.args[0], { read: true, write: true });
  console.log("opened");
  const buf = new Uint8Array(64);
  const n = await tty.read(buf);
  tty.close();
  return new TextDecoder().decode(buf.subarray(0, n ?? 0)).trim();
});
console.log(JSON.stringify(out));
`;

/** Runs the probe with `flags` against a socat pty pair; returns what it could do. */
async function probe(flags: string[]): Promise<Record<string, unknown>> {
  await using dir = await tempDir("edgelog-perm-");
  const script = join(dir.path, "probe.js");
  await Deno.writeTextFile(script, PROBE);
  const [a, b] = [join(dir.path, "ttyA"), join(dir.path, "ttyB")];
  // A serial line stand-in: two ptys under /dev/pts joined by socat, like a USB adapter and its device.
  const socat = new Deno.Command("socat", {
    args: [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`],
    stderr: "null",
  }).spawn();
  try {
    const exists = (path: string) => {
      try {
        return Deno.lstatSync(path).isSymlink;
      } catch {
        return false;
      }
    };
    await waitFor(() => exists(a) && exists(b), 10_000);
    const device = await Deno.realPath(a);
    assert.match(device, /^\/dev\/pts\/\d+$/);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, script, device],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const lines: string[] = [];
    const reading = (async () => {
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) lines.push(...chunk.split("\n"));
    })();
    const other = await Deno.open(b, { write: true });
    try {
      // The probe may never open the device (refused): then it finishes without waiting for input.
      const done = child.status.then(() => true);
      let finished = false;
      done.then(() => finished = true);
      await waitFor(() => finished || lines.includes("opened"), 20_000);
      if (!finished) await other.write(new TextEncoder().encode("t1 21.5\n"));
      await child.status;
      await reading;
    } finally {
      other.close();
      await child.stderr.cancel();
    }
    const json = lines.find((l) => l.startsWith("{"));
    assert.ok(json, `probe output: ${lines.join("\n")}`);
    return JSON.parse(json);
  } finally {
    socat.kill("SIGTERM");
    await socat.status;
  }
}

Deno.test("the start and compile tasks bake the same flags", () => {
  // The build time is stamped first (scripts/stamp_build_time.ts), then the binary compiled.
  const compile =
    /^(?:deno run \S.* scripts\/stamp_build_time\.ts && )?deno compile (.*) --include \S+ --output \S+ main\.ts$/
      .exec(denoJson.tasks.compile);
  assert.ok(compile, denoJson.tasks.compile);
  assert.deepEqual(compile[1].split(/\s+/), startFlags());
});

Deno.test("with the start task's flags the program reads /proc/self, lists /sys and reads a serial device", {
  ignore: !hasCommand("socat"),
}, async () => {
  assert.deepEqual(await probe(startFlags()), { io: true, status: true, sys: true, serial: "t1 21.5" });
});

Deno.test("Deno refuses /proc/self, /sys and /dev to --allow-read, which is why the tasks take --allow-all", {
  ignore: !hasCommand("socat"),
}, async () => {
  // If a later Deno lifts this, docs/SECURITY.md's decision deserves another look.
  const got = await probe(["--no-prompt", ...NARROW_FLAGS]);
  for (const key of ["io", "status", "sys", "serial"]) {
    assert.match(String(got[key]), /^NotCapable: Requires all access to/, `${key}: ${got[key]}`);
  }
});

/** True when this machine's /sys has thermal zones or hwmon chips. */
function hasRealSensors(): boolean {
  const entries = (dir: string) => {
    try {
      return [...Deno.readDirSync(dir)].map((e) => e.name);
    } catch {
      return [];
    }
  };
  return entries("/sys/class/thermal").some((n) => n.startsWith("thermal_zone")) ||
    entries("/sys/class/hwmon").some((n) => n.startsWith("hwmon"));
}

Deno.test("deno task start --source sysfs reads the real /sys out of the box", {
  ignore: !hasRealSensors() && !isRoot(),
}, async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const real = hasRealSensors();
  let prefix: string[] | undefined;
  if (!real) {
    // No sensors here (a VM): put a fixture tree on a tmpfs at /sys/class in a private mount
    // namespace, so the program still reads paths under /sys, which is what Deno restricts.
    const fixture = join(dir.path, "fixture");
    await writeFakeSysfs(fixture, FAKE_SYSFS);
    prefix = [
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      'mount -t tmpfs -o mode=0755 sysclass /sys/class && cp -R "$0/class/." /sys/class/ && exec "$@"',
      fixture,
    ];
  }
  const p = spawnLogger(["--db", db, "--source", "sysfs", "--interval", "50ms"], { prefix });
  try {
    await p.waitUntilLogging();
    await waitFor(() => countReadings(db) > 0, 20_000, () => p.stderrLines.join("\n"));
    p.kill("SIGTERM");
    assert.equal((await p.exited()).code, 0, p.stderrLines.join("\n"));
    const denied = p.stderrLines.filter((l) => /allow-all|Requires all access|NotCapable/.test(l));
    assert.deepEqual(denied, [], "no permission problem");
    const sensors = new Set(readingRows(db).map((r) => r.sensor));
    assert.ok(sensors.size > 0);
    if (!real) assert.ok(sensors.has("thermal_zone0/acpitz") && sensors.has("coretemp/temp1"), [...sensors].join());
    console.log(`sysfs read from ${real ? "this machine's /sys" : "a fixture mounted at /sys/class"}: ${[...sensors]}`);
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
});
