/**
 * The `mqtt` source against a real mosquitto and mosquitto_pub: messages published before
 * edgelog starts, while it is SIGKILLed and across a broker restart are all stored at least once;
 * bad payloads are counted by reason and acknowledged (not delivered again).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readingRows, tempDir } from "../_helpers/database.ts";
import { Mosquitto, mosquittoPub } from "../_helpers/mqtt.ts";
import { type LoggerProcess, spawnLogger, waitFor } from "../_helpers/process.ts";
import { announceSkip, makeCertificates, makePasswordFile, missing } from "../_helpers/upstreams.ts";

const skip = missing("mosquitto", "mosquitto") ?? missing("mosquitto_pub", "mosquitto-clients");
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

Deno.test({
  name: "mqtt: readings published before start, during a SIGKILL and across a broker restart are all stored",
  ignore: announceSkip(skip),
  fn: async () => {
    await using dir = await tempDir();
    const db = join(dir.path, "edgelog.db");
    // Saved at once, so even a SIGKILLed broker keeps the session and its queued messages.
    await using broker = await Mosquitto.start({ extraConfig: ["autosave_interval 1", "autosave_on_changes true"] });
    const source = `mqtt://127.0.0.1:${broker.port}/test/#?unit=u`;
    const running: LoggerProcess[] = [];
    const spawn = async () => {
      const p = spawnLogger(["--db", db, "--source", source, "--commit-interval", "50"]);
      running.push(p);
      await p.waitUntilLogging();
      await p.waitForRecord((r) => /connected as/.test(String(r.message)) || r.clientId !== undefined);
      return p;
    };
    const values = () => new Set(readingRows(db).filter((r) => r.sensor === "test/seq").map((r) => r.value));
    const stopped = async (p: LoggerProcess, signal: Deno.Signal) => {
      p.kill(signal);
      const status = await p.exited();
      if (signal === "SIGTERM") assert.equal(status.code, 0, p.stderrLines.slice(-20).join("\n"));
    };
    try {
      // The first run makes the persistent session; then 1..200 and bad payloads arrive while
      // edgelog is stopped.
      let p = await spawn();
      await stopped(p, "SIGTERM");
      await mosquittoPub(broker.port, "test/seq", range(1, 200));
      await mosquittoPub(broker.port, "test/bad", ["abc", "{not json", "{}", "NaN"]);
      const big = join(dir.path, "big.json"); // over max-payload (256 KiB by default)
      await Deno.writeTextFile(big, `{"t":${"1".repeat(300 * 1024)}}`);
      const pub = await new Deno.Command("mosquitto_pub", {
        args: ["-h", "127.0.0.1", "-p", String(broker.port), "-q", "1", "-t", "test/big", "-f", big],
      }).output();
      assert.ok(pub.success);
      await mosquittoPub(broker.port, "test/room", ['{"temperature":21.5,"nested":{"humidity":40},"Time":"x"}']);
      p = await spawn();
      await waitFor(() => values().size >= 200, 30_000, () => p.stderrLines.slice(-20).join("\n"));
      await waitFor(() => readingRows(db).some((r) => r.sensor === "test/room/nested/humidity"), 30_000);
      await stopped(p, "SIGTERM");
      const rejected = p.finalRecord()?.rejected_by_reason as Record<string, number>;
      assert.deepEqual({ ...rejected }, { bad_payload: 2, invalid_json: 1, not_finite: 1, payload_too_large: 1 });

      // 201..1200 while edgelog is SIGKILLed in the middle.
      p = await spawn();
      const publishing = mosquittoPub(broker.port, "test/seq", range(201, 1200));
      await waitFor(() => values().size >= 300, 30_000);
      await stopped(p, "SIGKILL");
      await publishing;
      p = await spawn();
      await waitFor(() => values().size >= 1200, 60_000, () => `${values().size} of 1200`);
      await stopped(p, "SIGTERM");
      // The refused messages, the oversized one too, were acknowledged: they did not come again.
      assert.equal(p.finalRecord()?.rejected, 0, p.stderrLines.join("\n"));

      // Broker SIGKILLed and restarted; edgelog reconnects and resumes the session.
      p = await spawn();
      await mosquittoPub(broker.port, "test/seq", range(1201, 1300));
      await broker.stop("SIGKILL");
      await broker.restart();
      await mosquittoPub(broker.port, "test/seq", range(1301, 1400));
      await waitFor(() => values().size >= 1400, 60_000, () => `${values().size} of 1400`);
      await stopped(p, "SIGTERM");

      const got = values();
      const lost = range(1, 1400).map(Number).filter((v) => !got.has(v));
      assert.deepEqual(lost, [], `${lost.length} messages never stored`);
      // At least once: the killed broker may have sent it again; every copy is the same.
      const room = new Set(
        readingRows(db).filter((r) => r.sensor.startsWith("test/room")).map((r) => `${r.sensor}=${r.value} ${r.unit}`),
      );
      assert.deepEqual([...room], ["test/room/temperature=21.5 u", "test/room/nested/humidity=40 u"]);
    } finally {
      for (const p of running) {
        try {
          p.kill("SIGKILL");
        } catch { /* exited */ }
        await p.exited();
      }
    }
  },
});

Deno.test({
  name: "mqtts: a private CA and a password subscribe and store; a wrong password is logged and retried, not fatal",
  ignore: announceSkip(skip ?? missing("openssl", "openssl") ?? missing("mosquitto_passwd", "mosquitto")),
  fn: async () => {
    await using dir = await tempDir();
    const certs = await makeCertificates(dir.path);
    const passwordFile = await makePasswordFile(dir.path, "box", "s3cret");
    await using broker = await Mosquitto.start({ security: { ...certs, passwordFile } });
    const db = join(dir.path, "edgelog.db");
    const url = (auth: string, filter: string) =>
      `mqtts://${auth}@127.0.0.1:${broker.port}/${filter}?ca=${certs.caFile}`;
    const p = spawnLogger(["--db", db, "--source", url("box:s3cret", "t/#"), "--source", url("box:wrong", "u/#")]);
    try {
      await p.waitForRecord((r) => /connected as/.test(r.message));
      await p.waitForRecord((r) => /not authorized|bad user name or password/.test(String(r.problem)));
      await mosquittoPub(broker.port, "t/x", ["42"], [
        ...["--cafile", certs.caFile, "-u", "box", "-P", "s3cret"],
      ]);
      await waitFor(() => readingRows(db).some((r) => r.sensor === "t/x" && r.value === 42), 20_000);
      p.kill("SIGTERM");
      assert.equal((await p.exited()).code, 0);
      assert.ok(!p.stderrLines.join("\n").includes("s3cret"), "the password is never logged");
    } finally {
      try {
        p.kill("SIGKILL");
      } catch { /* exited */ }
      await p.exited();
    }
  },
});
