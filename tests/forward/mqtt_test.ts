import assert from "node:assert/strict";
import type { StoredReading } from "../../lib/store/mod.ts";
import { tempDir } from "../_helpers/database.ts";
import { FakeServer, writeAll } from "../_helpers/mqtt.ts";
import { hasCommand } from "../_helpers/process.ts";
import { announceSkip, makeCertificates, makePasswordFile, missing, Mosquitto } from "../_helpers/upstreams.ts";
import { MqttForwarder, payloadFor, topicFor } from "../../lib/forward/mqtt.ts";
import { type MqttTarget, parseForwardTarget } from "../../lib/forward/target.ts";

const ROW: StoredReading = { id: 7, sensor: "room/1+a", unit: "°C", ts: 1_700_000_000_000, value: 21.5 };

Deno.test("the topic template is filled in and MQTT wildcards in values are made safe", () => {
  assert.equal(topicFor("edgelog/{host}/{sensor}/{unit}", "box#1", ROW), "edgelog/box_1/room_1_a/°C");
  assert.deepEqual(JSON.parse(payloadFor("box", ROW)), {
    id: 7,
    host: "box",
    sensor: "room/1+a",
    ts: 1_700_000_000_000,
    value: 21.5,
    unit: "°C",
  });
});

/** A broker that reads the CONNECT, answers `afterConnect` (CONNACK first) and records the client ids. */
function fakeBroker(afterConnect: Uint8Array, connections: number) {
  const clientIds: string[] = [];
  const server = new FakeServer(async (conn, reader) => {
    const connect = await reader.packet();
    if (!connect || connect.type !== 1) return;
    const idLength = (connect.body[10] << 8) | connect.body[11];
    clientIds.push(new TextDecoder().decode(connect.body.subarray(12, 12 + idLength)));
    await writeAll(conn, afterConnect);
    while (await reader.packet()) { /* until the client goes */ }
  }, connections);
  return { server, clientIds };
}

const CONNACK = new Uint8Array([0x20, 2, 0, 0]);

Deno.test("the default client id is 1-23 letters and digits, stable per box and database, distinct per database", async () => {
  const { server, clientIds } = fakeBroker(CONNACK, 3);
  const target = parseForwardTarget(`mqtt://127.0.0.1:${server.port}/edgelog/{sensor}?timeout=0.3`) as MqttTarget;
  for (const db of ["/var/lib/edgelog/a.db", "/var/lib/edgelog/a.db", "/var/lib/edgelog/b.db"]) {
    const forwarder = new MqttForwarder(target, "box-17.local", db);
    await forwarder.send([ROW]).catch(() => {}); // the fake broker never acknowledges: only the CONNECT matters
    await forwarder.close();
  }
  await server.done;
  assert.equal(clientIds.length, 3);
  for (const id of clientIds) assert.match(id, /^[0-9a-zA-Z]{1,23}$/);
  assert.equal(clientIds[0], clientIds[1], "the same box and database give the same id");
  assert.notEqual(clientIds[0], clientIds[2], "another database gives another id");
});

Deno.test("a remaining length of more than four bytes from the broker fails the send at once, not at the timeout", async () => {
  const { server } = fakeBroker(new Uint8Array([...CONNACK, 0x30, 0xff, 0xff, 0xff, 0xff]), 1);
  const target = parseForwardTarget(`mqtt://127.0.0.1:${server.port}/edgelog/{sensor}?timeout=20`) as MqttTarget;
  const forwarder = new MqttForwarder(target, "box", "/tmp/edgelog.db");
  const start = performance.now();
  await assert.rejects(forwarder.send([ROW]), /remaining length longer than four bytes/);
  assert.ok(performance.now() - start < 5000, `took ${Math.round(performance.now() - start)} ms`);
  await forwarder.close();
  await server.done;
});

const skip = missing("mosquitto", "mosquitto") ?? missing("mosquitto_passwd", "mosquitto") ??
  (hasCommand("openssl") ? undefined : "SKIPPED: 'openssl' not found; install the Debian package 'openssl'");

Deno.test({
  name: "mqtts with a private CA and a password delivers with PUBACK; a wrong password is a permanent error",
  ignore: announceSkip(skip),
  fn: async () => {
    await using dir = await tempDir();
    const certs = await makeCertificates(dir.path);
    const passwordFile = await makePasswordFile(dir.path, "box", "s3cret");
    const broker = new Mosquitto(dir.path, { ...certs, passwordFile });
    await broker.start();
    const target = (auth: string) =>
      parseForwardTarget(
        `mqtts://${auth}@127.0.0.1:${broker.port}/edgelog/{host}/{sensor}?ca=${certs.caFile}&timeout=5`,
      ) as MqttTarget;
    try {
      const ok = new MqttForwarder(target("box:s3cret"), "box");
      await ok.send([ROW, { ...ROW, id: 8 }]);
      await ok.send([{ ...ROW, id: 9 }]); // the same connection again
      await ok.close();
      const bad = new MqttForwarder(target("box:wrong"), "box");
      await assert.rejects(bad.send([ROW]), (e: { permanent?: boolean; message: string }) => {
        assert.equal(e.permanent, true, e.message);
        assert.match(e.message, /not authorized|bad user name or password/);
        return true;
      });
      await bad.close();
      const untrusted = new MqttForwarder(
        parseForwardTarget(`mqtts://box:s3cret@127.0.0.1:${broker.port}/t?timeout=5`) as MqttTarget,
        "box",
      );
      await assert.rejects(untrusted.send([ROW]), /certificate|UnknownIssuer|invalid peer/i);
      await untrusted.close();
    } finally {
      await broker.stop();
    }
  },
});
