/**
 * Scenario 4: `systemctl stop` semantics. The unit file in deploy/ passes `systemd-analyze
 * verify`; the logger, leading its own process group as systemd's main process does, gets
 * SIGTERM followed by SIGCONT to the whole group, and SIGKILL after the unit's TimeoutStopSec.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../_helpers/database.ts";
import { requirement } from "../_helpers/requirements.ts";
import { listensForStop, LoggerProcess, MAIN, ROOT, startFlags, waitFor } from "../_helpers/process.ts";
import {
  assertGraceful,
  exitSummary,
  FaultRandom,
  faultTrials,
  killQuietly,
  medianMax,
  printFigures,
  stderrTail,
} from "./_faults.ts";

const UNIT = join(ROOT, "deploy", "edgelog.service");

/** `Key=value` settings of the unit file (the last one wins, as in systemd). */
function unitSettings(): Map<string, string> {
  const settings = new Map<string, string>();
  for (const line of Deno.readTextFileSync(UNIT).split("\n")) {
    const m = /^\s*([A-Za-z]+)=(.*)$/.exec(line);
    if (m) settings.set(m[1], m[2].trim());
  }
  return settings;
}

/** Spawns the logger as the leader of a new session and process group (like a unit's main process). */
function spawnGroupLeader(args: string[]): LoggerProcess {
  const child = new Deno.Command("setsid", {
    args: [Deno.execPath(), "run", ...startFlags(), MAIN, ...args],
    env: { EDGELOG_LOG_FORMAT: "json", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return new LoggerProcess(child);
}

Deno.test("the systemd unit stops with SIGTERM, allows enough time, restarts only on failure, and is hardened", () => {
  const s = unitSettings();
  assert.equal(s.get("KillSignal"), "SIGTERM");
  assert.equal(s.get("Restart"), "on-failure");
  assert.equal(s.get("RestartPreventExitStatus"), "2", "no restart on bad usage; a full disk at start-up (4) heals");
  assert.ok(Number(s.get("StartLimitBurst")) > 0, "restarts are limited");
  const timeoutS = Number(s.get("TimeoutStopSec"));
  assert.ok(timeoutS > 8, "TimeoutStopSec exceeds edgelog's default shutdown-timeout of 8 s");
  assert.equal(s.get("NoNewPrivileges"), "yes");
  assert.equal(s.get("ProtectSystem"), "strict");
  assert.equal(s.get("DynamicUser"), "yes");
  assert.match(s.get("Environment") ?? "", /EDGELOG_/);
  assert.equal(s.get("MemoryDenyWriteExecute"), undefined, "V8's JIT needs W+X memory");
});

/** The verify tests need /usr/local/bin/edgelog, provided in a mount namespace (root). */
const verifyNeeds = requirement("systemd-analyze verify", {
  root: true,
  commands: { "systemd-analyze": "systemd", unshare: "util-linux" },
});

/** Runs `systemd-analyze verify` on `unit` with a stand-in /usr/local/bin/edgelog; returns stderr. */
async function verify(unit: string): Promise<string> {
  verifyNeeds.check();
  // verify insists that ExecStart exists: give it a stand-in binary on a private tmpfs.
  const script = `mount -t tmpfs tmpfs /usr/local/bin && cp /bin/true /usr/local/bin/edgelog &&
    exec systemd-analyze verify "$0"`;
  const out = await new Deno.Command("unshare", {
    args: ["--mount", "--propagation", "private", "sh", "-c", script, unit],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  return stderr;
}

Deno.test("systemd-analyze verify accepts the unit file", { ignore: verifyNeeds.ignore }, async () => {
  assert.equal((await verify(UNIT)).trim(), "", "no warnings");
});

Deno.test("the serial and I2C drop-in the unit's comments describe passes systemd-analyze verify", {
  ignore: verifyNeeds.ignore,
}, async () => {
  const dropIn = Deno.readTextFileSync(UNIT).split("\n").map((l) => /^# {3}([A-Za-z]+=.*)$/.exec(l)?.[1])
    .filter((l): l is string => l !== undefined && !l.startsWith("Environment="));
  const keys = new Set(dropIn.map((l) => l.split("=")[0]));
  assert.deepEqual([...keys].sort(), ["DeviceAllow", "DevicePolicy", "PrivateDevices", "SupplementaryGroups"]);
  assert.ok(dropIn.includes("PrivateDevices=no") && dropIn.includes("SupplementaryGroups=dialout i2c"));
  await using dir = await tempDir("edgelog-unit-");
  const unit = join(dir.path, "edgelog.service");
  Deno.writeTextFileSync(unit, `${Deno.readTextFileSync(UNIT)}\n[Service]\n${dropIn.join("\n")}\n`);
  assert.equal((await verify(unit)).trim(), "", "no warnings");
});

const securityNeeds = requirement("systemd-analyze security", { commands: { "systemd-analyze": "systemd" } });

Deno.test("systemd-analyze security rates the unit's exposure at most 1.7", {
  ignore: securityNeeds.ignore,
}, async () => {
  securityNeeds.check();
  const out = await new Deno.Command("systemd-analyze", {
    args: ["security", "--offline=yes", "--no-pager", UNIT],
    stdout: "piped",
    stderr: "piped",
    env: { SYSTEMD_COLORS: "0" },
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const m = /Overall exposure level for edgelog\.service: (\d+\.\d+)/.exec(text);
  assert.ok(m, text);
  assert.ok(Number(m[1]) <= 1.7, `exposure ${m[1]}:\n${text}`);
});

Deno.test("the unit's Documentation= names files that scripts/install-systemd.sh installs", async () => {
  const docs = unitSettings().get("Documentation")!.split(/\s+/);
  assert.ok(docs.length > 0);
  await using dir = await tempDir("edgelog-install-");
  const out = await new Deno.Command("bash", {
    args: [join(ROOT, "scripts", "install-systemd.sh")],
    env: { PREFIX: dir.path, EDGELOG_BINARY: "/bin/true" },
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  for (const doc of docs) {
    assert.match(doc, /^file:\/\/\//);
    assert.ok(Deno.statSync(join(dir.path, doc.slice("file://".length))).isFile, doc);
  }
  assert.ok(Deno.statSync(join(dir.path, "etc/systemd/system/edgelog.service")).isFile);
  assert.ok(Deno.statSync(join(dir.path, "usr/local/bin/edgelog")).isFile);
});

Deno.test("systemctl stop semantics (SIGTERM + SIGCONT to the group, SIGKILL after TimeoutStopSec) lose nothing", async () => {
  const trials = faultTrials(6);
  const random = new FaultRandom();
  const timeoutMs = Number(unitSettings().get("TimeoutStopSec")) * 1000;
  const latencies: number[] = [];
  const codes: number[] = [];
  const kinds: string[] = [];
  for (let i = 0; i < trials; i++) {
    const kind = ["start-up", "under load", "stopped (SIGSTOP) first"][i % 3];
    kinds.push(kind);
    await using dir = await tempDir("edgelog-fault-systemd-");
    const db = join(dir.path, "edgelog.db");
    const p = spawnGroupLeader(["--db", db, "--sim-rate", "50000"]);
    try {
      const stat = () => Deno.readTextFileSync(`/proc/${p.pid}/stat`).replace(/^.*\) /, "").split(" ");
      await waitFor(() => listensForStop(p.pid), 20_000, () => stderrTail(p));
      assert.equal(Number(stat()[2]), p.pid, "the logger leads its own process group");
      if (kind !== "start-up") {
        await p.waitUntilLogging();
        await new Promise((r) => setTimeout(r, random.int(0, 1500)));
      }
      if (kind === "stopped (SIGSTOP) first") {
        Deno.kill(p.pid, "SIGSTOP");
        await waitFor(() => stat()[0] === "T");
      }
      const t0 = performance.now();
      Deno.kill(-p.pid, "SIGTERM");
      Deno.kill(-p.pid, "SIGCONT");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const killed = new Promise<"killed">((resolve) =>
        timer = setTimeout(() => {
          Deno.kill(-p.pid, "SIGKILL");
          resolve("killed");
        }, timeoutMs)
      );
      const first = await Promise.race([p.exited(), killed]);
      clearTimeout(timer);
      assert.notEqual(first, "killed", `exited within TimeoutStopSec; stderr:\n${stderrTail(p)}`);
      const status = await p.exited();
      latencies.push(performance.now() - t0);
      codes.push(status.code);
      await assertGraceful(p, status, db);
    } finally {
      await killQuietly(p);
    }
  }
  const { median, max } = medianMax(latencies);
  printFigures([{
    scenario: `4. systemctl stop (SIGTERM+SIGCONT to the group, SIGKILL after ${timeoutMs / 1000} s)`,
    trials,
    lost: 0,
    exits: exitSummary(codes),
    stopMs: `${median} / ${max}`,
    notes: [...new Set(kinds)].map((k) => `${kinds.filter((x) => x === k).length} ${k}`).join(", "),
  }], random.seed);
});
