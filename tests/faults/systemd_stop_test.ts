/**
 * Scenario 4: `systemctl stop` semantics. The unit file in deploy/ passes `systemd-analyze
 * verify`; the logger, leading its own process group as systemd's main process does, gets
 * SIGTERM followed by SIGCONT to the whole group, and SIGKILL after the unit's TimeoutStopSec.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../_helpers/database.ts";
import { requirement } from "../_helpers/requirements.ts";
import { catchesSignal, LoggerProcess, MAIN, ROOT, startFlags, waitFor } from "../_helpers/process.ts";
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

/** The verify test needs /usr/local/bin/edgelog, provided in a mount namespace (root). */
const verify = requirement("systemd-analyze verify", {
  root: true,
  commands: { "systemd-analyze": "systemd", unshare: "util-linux" },
});

Deno.test("systemd-analyze verify accepts the unit file", { ignore: verify.ignore }, async () => {
  verify.check();
  // verify insists that ExecStart exists: give it a stand-in binary on a private tmpfs.
  const script = `mount -t tmpfs tmpfs /usr/local/bin && cp /bin/true /usr/local/bin/edgelog &&
    exec systemd-analyze verify "$0"`;
  const out = await new Deno.Command("unshare", {
    args: ["--mount", "--propagation", "private", "sh", "-c", script, UNIT],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.equal(stderr.trim(), "", "no warnings");
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
      await waitFor(() => catchesSignal(p.pid, 15), 20_000, () => stderrTail(p));
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
