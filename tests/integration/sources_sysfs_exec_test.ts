import assert from "node:assert/strict";
import { join } from "node:path";
import { countReadings, readingRows, tempDir } from "../_helpers/database.ts";
import { requirement } from "../_helpers/requirements.ts";
import { LoggerProcess, MAIN, processRunning, spawnLogger, waitFor } from "../_helpers/process.ts";
import { FAKE_IIO_W1, FAKE_IIO_W1_READINGS, FAKE_SYSFS, writeFakeSysfs } from "../_helpers/sysfs.ts";

Deno.test("sysfs sensors of a fake tree are sampled every interval with their units", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "sys");
  await writeFakeSysfs(root, FAKE_SYSFS);
  const db = join(dir.path, "edgelog.db");
  const p = spawnLogger(["--db", db, "--source", "sysfs", "--sysfs-root", root, "--interval", "50ms"]);
  try {
    await p.waitUntilLogging();
    await waitFor(() => countReadings(db) >= 27, 20_000, () => p.stderrLines.join("\n"));
    // A sensor that appears later is picked up.
    await writeFakeSysfs(root, { "class/hwmon/hwmon3/name": "acpi_fan\n", "class/hwmon/hwmon3/fan1_input": "900\n" });
    await waitFor(() => readingRows(db).some((r) => r.sensor === "acpi_fan/fan1"), 20_000);
    p.kill("SIGTERM");
    assert.equal((await p.exited()).code, 0, p.stderrLines.join("\n"));
    const rows = readingRows(db);
    const first = new Map(rows.map((r) => [r.sensor, r]));
    assert.equal(first.get("thermal_zone1/x86_pkg_temp")?.value, 45);
    assert.equal(first.get("thermal_zone1/x86_pkg_temp")?.unit, "°C");
    assert.equal(first.get("nvme@hwmon2/power1")?.value, 4.5);
    assert.equal(first.get("nvme@hwmon2/power1")?.unit, "W");
    assert.equal(first.get("nvme@hwmon2/in0")?.unit, "V");
    assert.equal(first.get("acpi_fan/fan1")?.unit, "rpm");
    assert.equal(p.finalRecord()!.stored, rows.length);
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
});

Deno.test("IIO and 1-Wire sensors of a fake tree are stored with their units; a failed 1-Wire CRC is counted", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "sys");
  await writeFakeSysfs(root, FAKE_IIO_W1);
  const db = join(dir.path, "edgelog.db");
  const env = { EDGELOG_SOURCE: "sysfs", EDGELOG_SYSFS_ROOT: root, EDGELOG_INTERVAL: "100ms" };
  const p = spawnLogger(["--db", db], { env });
  try {
    await p.waitUntilLogging();
    const expected = Object.keys(FAKE_IIO_W1_READINGS).length;
    await waitFor(() => countReadings(db) >= 2 * expected, 20_000, () => p.stderrLines.join("\n"));
    p.kill("SIGTERM");
    assert.equal((await p.exited()).code, 0, p.stderrLines.join("\n"));
    const first = new Map(readingRows(db).map((r) => [r.sensor, [Number(r.value.toPrecision(12)), r.unit]]));
    assert.deepEqual(Object.fromEntries(first), FAKE_IIO_W1_READINGS);
    const rejected = p.finalRecord()!.rejected_by_reason as Record<string, number>;
    assert.ok(rejected.bad_crc >= 2, JSON.stringify(rejected));
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
});

Deno.test("an exec command's readings are stored every interval, next to sysfs", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "sys");
  await writeFakeSysfs(root, FAKE_SYSFS);
  const db = join(dir.path, "edgelog.db");
  const script = join(dir.path, "read.sh");
  await Deno.writeTextFile(
    script,
    `#!/bin/sh\necho "load $(cut -d' ' -f1 /proc/loadavg)"\necho '{"sensor":"battery","value":12.6,"unit":"V"}'\necho 'garbage'\n`,
  );
  await Deno.chmod(script, 0o755);
  const p = spawnLogger([
    "--db",
    db,
    "--source",
    `exec:${script}`,
    "--source",
    "sysfs",
    "--sysfs-root",
    root,
    "--interval",
    "50ms",
  ]);
  try {
    await p.waitUntilLogging();
    await waitFor(
      () => readingRows(db).filter((r) => r.sensor === "battery").length >= 3,
      20_000,
      () => p.stderrLines.join("\n"),
    );
    p.kill("SIGTERM");
    assert.equal((await p.exited()).code, 0, p.stderrLines.join("\n"));
    const rows = readingRows(db);
    assert.ok(rows.some((r) => r.sensor === "load" && r.value >= 0));
    assert.ok(rows.some((r) => r.sensor === "coretemp/temp1"));
    assert.deepEqual(rows.find((r) => r.sensor === "battery")?.unit, "V");
    const final = p.finalRecord()!;
    assert.equal(final.stored, rows.length);
    assert.ok((final.rejected_by_reason as Record<string, number>).bad_text_line >= 3);
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
});

Deno.test("a failing exec command is logged with its exit code and stderr, retried, and the logger keeps running", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const flag = join(dir.path, "healthy");
  const p = spawnLogger([
    "--db",
    db,
    "--source",
    `exec:sh -c 'if [ -e ${flag} ]; then echo "ok 1"; else echo "sensor bus down" >&2; exit 7; fi'`,
    "--interval",
    "50ms",
  ]);
  try {
    const failure = await p.waitForRecord((r) => r.level === "ERROR" && r.exit_code === 7);
    assert.match(String(failure.stderr_tail), /sensor bus down/);
    await Deno.writeTextFile(flag, "");
    await waitFor(() => countReadings(db) >= 2, 20_000, () => p.stderrLines.join("\n"));
    p.kill("SIGTERM");
    assert.equal((await p.exited()).code, 0, p.stderrLines.join("\n"));
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
});

Deno.test("a stopping logger stops its long-running exec command", async () => {
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  const pidFile = join(dir.path, "pid");
  const p = spawnLogger([
    "--db",
    db,
    "--source",
    `exec:mode=stream sh -c 'echo $$ > ${pidFile}; while :; do echo "tick 1"; sleep 0.02; done'`,
  ]);
  try {
    await p.waitUntilLogging();
    await waitFor(() => countReadings(db) >= 5, 20_000, () => p.stderrLines.join("\n"));
    const pid = Number(await Deno.readTextFile(pidFile));
    p.kill("SIGTERM");
    assert.equal((await p.exited()).code, 0, p.stderrLines.join("\n"));
    assert.equal(countReadings(db), p.finalRecord()!.stored);
    await waitFor(() => !processRunning(pid), 10_000, () => `command ${pid} still running`);
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
});

/** Temperature/sensor files the sysfs source would read in this machine's /sys. */
function realSensors(): number {
  let n = 0;
  const list = (d: string) => {
    try {
      return [...Deno.readDirSync(d)].map((e) => e.name);
    } catch {
      return [];
    }
  };
  for (const z of list("/sys/class/thermal")) if (list(`/sys/class/thermal/${z}`).includes("temp")) n++;
  for (const h of list("/sys/class/hwmon")) {
    n += list(`/sys/class/hwmon/${h}`).filter((f) => f.endsWith("_input")).length;
  }
  return n;
}

const sysClass = requirement("the real /sys permission test", { files: { "/sys/class": "a mounted /sys" } });

Deno.test("a deno run with less than --allow-all gets one clear error for /sys saying how to give access", {
  ignore: sysClass.ignore,
}, async () => {
  sysClass.check();
  await using dir = await tempDir();
  const db = join(dir.path, "edgelog.db");
  // The start task has --allow-all (docs/SECURITY.md); someone's own `deno run` may not.
  const narrow = ["--allow-read", "--allow-write", "--allow-net", "--allow-run", "--allow-env=EDGELOG_*"];
  const p = new LoggerProcess(
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", ...narrow, MAIN, "--db", db, "--source", "sysfs", "--interval", "50ms"],
      env: { EDGELOG_LOG_FORMAT: "json", NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn(),
  );
  try {
    const error = await p.waitForRecord((r) => r.level === "ERROR" && String(r.message).includes("sysfs"));
    assert.match(
      String(error.message),
      /run it with --allow-all, or bind-mount \/sys read-only elsewhere.*--sysfs-root/,
    );
    await new Promise((r) => setTimeout(r, 200)); // several more ticks
    assert.equal(p.records.filter((r) => String(r.message).includes("sysfs")).length, 1, "said once, not per tick");
    p.kill("SIGTERM");
    assert.equal((await p.exited()).code, 0, p.stderrLines.join("\n"));
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
});

const bindMount = requirement("the bind-mounted /sys test", { root: true, commands: { unshare: "util-linux" } });

Deno.test("the real /sys bind-mounted elsewhere is read with the start task's permissions and yields readings", {
  ignore: bindMount.ignore,
}, async () => {
  bindMount.check();
  await using dir = await tempDir();
  const mountpoint = join(dir.path, "hostsys");
  await Deno.mkdir(mountpoint);
  const db = join(dir.path, "edgelog.db");
  // A machine without sensors (a VM) would make this test pass with 0 readings: then a fake
  // thermal zone is mounted over class/thermal inside the read-only bind of the real /sys.
  const real = realSensors();
  if (real === 0) {
    console.log("no sensors in this machine's /sys: a fake thermal zone is mounted inside the bind mount");
  }
  const fake = real > 0 ? "" : `&& mount -t tmpfs -o size=64k tmpfs "$0/class/thermal"
    && mkdir "$0/class/thermal/thermal_zone0" && echo 42500 > "$0/class/thermal/thermal_zone0/temp"
    && echo fake-cpu > "$0/class/thermal/thermal_zone0/type"`;
  // A private mount namespace: the bind mount vanishes with the process.
  const p = spawnLogger(["--db", db, "--source", "sysfs", "--sysfs-root", mountpoint, "--interval", "50ms"], {
    prefix: [
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      `mount --bind -o ro /sys "$0" ${fake.replaceAll("\n", "")} && exec "$@"`,
      mountpoint,
    ],
  });
  try {
    await p.waitUntilLogging();
    await waitFor(() => countReadings(db) >= 3, 20_000, () => `no sysfs readings:\n${p.stderrLines.join("\n")}`);
    p.kill("SIGTERM");
    assert.equal((await p.exited()).code, 0, p.stderrLines.join("\n"));
    const denied = p.stderrLines.filter((l) => /allow-all|Requires all access/.test(l));
    assert.deepEqual(denied, [], "no permission problem");
    // This machine may have no hwmon chips, but it has the thermal class: that listing must work.
    if (await Deno.stat("/sys/class/thermal").then(() => true, () => false)) {
      assert.ok(!p.stderrLines.some((l) => l.includes('class/thermal"')), p.stderrLines.join("\n"));
    }
    if (real === 0) {
      const values = readingRows(db).map((r) => r.value);
      assert.ok(values.every((v) => v === 42.5), `the fake zone's 42500 m°C is read as 42.5 °C: ${values}`);
    }
    assert.equal(countReadings(db), p.finalRecord()!.stored);
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
});
