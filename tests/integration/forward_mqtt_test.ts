import assert from "node:assert/strict";
import { join } from "node:path";
import { cursorOf, logRows, maxReadingId, tempDir } from "../_helpers/database.ts";
import { type LoggerProcess, spawnLogger, waitFor } from "../_helpers/process.ts";
import { announceSkip, missing, Mosquitto } from "../_helpers/upstreams.ts";

const skip = missing("mosquitto", "mosquitto") ?? missing("mosquitto_sub", "mosquitto-clients");

Deno.test({
  name: "an MQTT subscriber receives every reading at least once across a broker restart",
  ignore: announceSkip(skip),
  fn: async () => {
    await using dir = await tempDir();
    const db = join(dir.path, "edgelog.db");
    const broker = new Mosquitto(dir.path);
    await broker.start();
    const sub = new Deno.Command("mosquitto_sub", {
      args: [
        ...["-h", "127.0.0.1", "-p", String(broker.port), "-q", "1", "-c", "-i", `edgelog-test-${broker.port}`],
        ...["-t", "edgelog/#", "-t", "probe", "-v"],
      ],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const ids = new Set<number>();
    const malformed: string[] = []; // messages whose topic does not name their sensor, or not JSON
    let probes = 0;
    let messages = 0;
    const reading = (async () => {
      let rest = "";
      for await (const chunk of sub.stdout.pipeThrough(new TextDecoderStream())) {
        rest += chunk;
        let nl;
        while ((nl = rest.indexOf("\n")) >= 0) {
          const line = rest.slice(0, nl);
          rest = rest.slice(nl + 1);
          const space = line.indexOf(" ");
          const topic = line.slice(0, space);
          if (topic === "probe") probes++;
          else {
            try {
              const payload = JSON.parse(line.slice(space + 1)) as { id: number; sensor: string };
              if (!topic.endsWith(`/${payload.sensor}`)) malformed.push(line);
              ids.add(payload.id);
              messages++;
            } catch {
              malformed.push(line);
            }
          }
        }
      }
    })();
    const probe = async () => {
      const before = probes;
      await waitFor(
        async () => {
          await new Deno.Command("mosquitto_pub", {
            args: ["-h", "127.0.0.1", "-p", String(broker.port), "-q", "1", "-t", "probe", "-m", "x"],
            stdout: "null",
            stderr: "null",
          }).output();
          await new Promise((r) => setTimeout(r, 200));
          return probes > before;
        },
        30_000,
        () => "the subscriber does not receive the probe",
      );
    };
    const running: LoggerProcess[] = [];
    const forward = `mqtt://127.0.0.1:${broker.port}/edgelog/{host}/{sensor}?backoff-min=0.2&backoff-max=1`;
    const name = `mqtt://127.0.0.1:${broker.port}/edgelog/{host}/{sensor}`;
    const spawn = async (rate: number) => {
      const p = spawnLogger(["--db", db, "--sim-rate", String(rate), "--commit-interval", "100", "--forward", forward]);
      running.push(p);
      await p.waitUntilLogging();
      return p;
    };
    try {
      await probe();
      let p = await spawn(1000);
      await waitFor(() => (cursorOf(db, name) ?? 0) >= 1000, 30_000, () => p.stderrLines.join("\n"));
      await broker.stop(); // outage: the subscriber's session is saved with the broker's state
      const atStop = maxReadingId(db);
      await waitFor(() => maxReadingId(db) >= atStop + 1000, 30_000);
      await broker.start();
      await probe(); // the subscriber reconnected
      const atRestart = maxReadingId(db);
      await waitFor(() => (cursorOf(db, name) ?? 0) >= atRestart, 60_000, () => p.stderrLines.slice(-20).join("\n"));
      p.kill("SIGTERM");
      assert.equal((await p.exited()).code, 0);
      p = await spawn(0);
      await waitFor(() => cursorOf(db, name) === maxReadingId(db), 60_000);
      p.kill("SIGTERM");
      assert.equal((await p.exited()).code, 0);
      const all = logRows(db).map((r) => r.id);
      await waitFor(() => all.every((id) => ids.has(id)), 30_000, () => {
        const lost = all.filter((id) => !ids.has(id));
        return `${lost.length} readings never arrived, e.g. ids ${lost.slice(0, 5).join(", ")}`;
      });
      assert.ok(messages >= all.length);
      assert.deepEqual(malformed.slice(0, 5), [], "every message is JSON and its topic names its sensor");
    } finally {
      for (const p of running) {
        try {
          p.kill("SIGKILL");
        } catch { /* exited */ }
        await p.exited();
      }
      try {
        sub.kill("SIGTERM");
      } catch { /* exited */ }
      await sub.status;
      await reading; // the loop cannot throw: what it found wrong is in `malformed`
      await broker.stop();
    }
  },
});
