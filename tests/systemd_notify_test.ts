import assert from "node:assert/strict";
import { join } from "node:path";
import { countReadings, tempDir } from "./_helpers/database.ts";
import { hasCommand, spawnLogger, textLines, waitFor } from "./_helpers/process.ts";
import { notifyEnv } from "../lib/systemd_notify.ts";

Deno.test("notifyEnv reads the socket and halves WATCHDOG_USEC, only for this process", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(notifyEnv(env({})), undefined);
  assert.deepEqual(notifyEnv(env({ NOTIFY_SOCKET: "/run/systemd/notify" })), {
    socket: "/run/systemd/notify",
    heartbeatMs: undefined,
  });
  assert.deepEqual(notifyEnv(env({ NOTIFY_SOCKET: "@n", WATCHDOG_USEC: "30000000" })), {
    socket: "@n",
    heartbeatMs: 15_000,
  });
  assert.equal(
    notifyEnv(env({ NOTIFY_SOCKET: "@n", WATCHDOG_USEC: "30000000", WATCHDOG_PID: String(Deno.pid + 1) }))!
      .heartbeatMs,
    undefined,
    "a watchdog meant for another process is not fed",
  );
});

/** A fake service manager: a unix datagram socket that records every message, one per line. */
class FakeNotifySocket implements AsyncDisposable {
  readonly path: string;
  readonly messages: string[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #done: Promise<void>;

  constructor(path: string) {
    this.path = path;
    const script = `import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    print(s.recv(65536).decode(errors="replace").replace("\\n", "|"), flush=True)
`;
    const child = new Deno.Command("python3", {
      args: ["-c", script, path],
      stdout: "piped",
      stderr: "inherit",
      stdin: "null",
    }).spawn();
    this.#child = child;
    this.#done = (async () => {
      for await (const line of textLines(child.stdout)) this.messages.push(line);
    })();
  }

  /** The state messages (systemd-notify's BARRIER=1 handshakes left out). */
  states(): string[] {
    return this.messages.filter((m) => m !== "listening" && m !== "BARRIER=1");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#child.kill("SIGTERM");
    await this.#child.status;
    await this.#done;
  }
}

Deno.test({
  name:
    "under Type=notify the logger says READY=1 once logging, feeds the watchdog while the writer ticks, and STOPPING=1 at the stop",
  ignore: !hasCommand("systemd-notify"),
  fn: async () => {
    await using dir = await tempDir();
    await using manager = new FakeNotifySocket(join(dir.path, "notify.sock"));
    await waitFor(() => manager.messages.includes("listening"));
    const db = join(dir.path, "edgelog.db");
    const p = spawnLogger(["--db", db, "--sim-rate", "200", "--commit-interval", "100"], {
      env: { NOTIFY_SOCKET: manager.path, WATCHDOG_USEC: "400000" },
    });
    try {
      await waitFor(
        () => manager.states().some((m) => m.startsWith("READY=1")),
        20_000,
        () => p.stderrLines.join("\n"),
      );
      assert.ok(
        p.records.some((r) => typeof r.sqlite_version === "string"),
        "READY=1 comes after the database is open",
      );
      assert.match(manager.states()[0], /^EXTEND_TIMEOUT_USEC=\d+\|STATUS=opening the database$/);
      assert.match(manager.states()[1], /^READY=1\|STATUS=logging to /);
      await waitFor(() => manager.states().filter((m) => m === "WATCHDOG=1").length >= 3, 10_000);
      // A frozen process (what a hung writer looks like from outside) sends nothing.
      p.kill("SIGSTOP");
      const frozenAt = manager.states().length;
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(manager.states().length, frozenAt, "no heartbeat while frozen");
      p.kill("SIGCONT");
      await waitFor(() => manager.states().length > frozenAt, 10_000);
      p.kill("SIGTERM");
      assert.equal((await p.exited()).code, 0);
    } finally {
      try {
        p.kill("SIGKILL");
      } catch { /* exited */ }
      await p.exited();
    }
    await waitFor(() => manager.states().some((m) => m.startsWith("STOPPING=1")), 5_000);
    const states = manager.states();
    assert.match(states.find((m) => m.startsWith("STOPPING=1"))!, /STATUS=stopping \(SIGTERM\)/);
    assert.ok(states.findIndex((m) => m.startsWith("READY=1")) < states.findIndex((m) => m.startsWith("STOPPING=1")));
    assert.ok(countReadings(db) > 0);
  },
});

Deno.test("the unit is Type=notify with a watchdog, and lets the logger's systemd-notify children report", () => {
  const unit = Deno.readTextFileSync(new URL("../deploy/edgelog.service", import.meta.url));
  const setting = (key: string) => new RegExp(`^${key}=(.*)$`, "m").exec(unit)?.[1];
  assert.equal(setting("Type"), "notify");
  assert.equal(setting("NotifyAccess"), "all");
  assert.ok(Number(setting("WatchdogSec")) >= 10, "a watchdog, long enough for a slow card's commit");
  assert.equal(setting("ExecReload"), "/bin/kill -HUP $MAINPID", "systemctl reload sends SIGHUP");
});
