import assert from "node:assert/strict";
import { PacketReader, publishPacket } from "../../lib/forward/_mqtt_wire.ts";
import type { StoredReading } from "../../lib/store/mod.ts";
import { tempDir } from "../_helpers/database.ts";
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

Deno.test("packets split across reads are reassembled, including multi-byte remaining lengths", () => {
  const big = publishPacket("t", new Uint8Array(300), 1, 513); // remaining length 305: two bytes
  const puback = new Uint8Array([0x40, 2, 2, 1]);
  const all = new Uint8Array([...big, ...puback]);
  const reader = new PacketReader();
  const got = [
    ...reader.push(all.subarray(0, 2)),
    ...reader.push(all.subarray(2, 200)),
    ...reader.push(all.subarray(200)),
  ];
  assert.deepEqual(got.map((p) => [p.type, p.body.length]), [[3, 305], [4, 2]]);
  assert.deepEqual([...got[1].body], [2, 1]);
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
