import assert from "node:assert/strict";
import {
  encodeConnect,
  encodeDisconnect,
  encodePingreq,
  encodePuback,
  encodePublish,
  encodeRemainingLength,
  encodeSubscribe,
  encodeUnsubscribe,
  MqttProtocolError,
  PacketDecoder,
  type ServerPacket,
} from "../../lib/mqtt/_wire.ts";

const bytes = (...b: number[]) => new Uint8Array(b);
const utf8 = (s: string) => [...new TextEncoder().encode(s)];

function decodeAll(input: Uint8Array, max?: number): ServerPacket[] {
  return [...new PacketDecoder({ maxPacketSize: max }).push(input)];
}

function rejects(input: Uint8Array, pattern: RegExp, max?: number): void {
  assert.throws(() => decodeAll(input, max), (e: unknown) => {
    assert.ok(e instanceof MqttProtocolError, `expected MqttProtocolError, got ${e}`);
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("remaining length: the spec's boundary values (§2.2.3)", () => {
  const cases: [number, number[]][] = [
    [0, [0x00]],
    [127, [0x7f]],
    [128, [0x80, 0x01]],
    [16_383, [0xff, 0x7f]],
    [16_384, [0x80, 0x80, 0x01]],
    [2_097_151, [0xff, 0xff, 0x7f]],
    [2_097_152, [0x80, 0x80, 0x80, 0x01]],
    [268_435_455, [0xff, 0xff, 0xff, 0x7f]],
  ];
  for (const [n, encoded] of cases) assert.deepEqual(encodeRemainingLength(n), encoded, `length ${n}`);
  assert.throws(() => encodeRemainingLength(268_435_456), RangeError);
});

Deno.test("CONNECT: protocol name, level 4, flags, keep-alive, client id, user name and password", () => {
  assert.deepEqual(
    [...encodeConnect({ clientId: "ab", cleanSession: false, keepAliveSeconds: 60, username: "u", password: "p" })],
    [0x10, 20, 0, 4, ...utf8("MQTT"), 4, 0xc0, 0, 60, 0, 2, ...utf8("ab"), 0, 1, ...utf8("u"), 0, 1, ...utf8("p")],
  );
  assert.deepEqual(
    [...encodeConnect({ clientId: "", cleanSession: true, keepAliveSeconds: 0 })],
    [0x10, 12, 0, 4, ...utf8("MQTT"), 4, 0x02, 0, 0, 0, 0],
  );
  assert.throws(() => encodeConnect({ clientId: "", cleanSession: false, keepAliveSeconds: 0 }), /clean session/);
  assert.throws(() => encodeConnect({ clientId: "a", cleanSession: true, keepAliveSeconds: 0, password: "p" }), /user/);
  assert.throws(() => encodeConnect({ clientId: "a", cleanSession: true, keepAliveSeconds: 65_536 }), RangeError);
});

Deno.test("PUBLISH, PUBACK, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT encode per spec", () => {
  assert.deepEqual(
    [...encodePublish({ topic: "a/b", payload: bytes(9), qos: 1, packetId: 0x0102, retain: true, dup: true })],
    [0x3b, 8, 0, 3, ...utf8("a/b"), 1, 2, 9],
  );
  assert.deepEqual([...encodePublish({ topic: "t", payload: bytes(), qos: 0 })], [0x30, 3, 0, 1, ...utf8("t")]);
  assert.deepEqual([...encodePuback(0xfffe)], [0x40, 2, 0xff, 0xfe]);
  assert.deepEqual(
    [...encodeSubscribe(5, [{ topicFilter: "s/+/t", qos: 1 }, { topicFilter: "#", qos: 0 }])],
    [0x82, 14, 0, 5, 0, 5, ...utf8("s/+/t"), 1, 0, 1, ...utf8("#"), 0],
  );
  assert.deepEqual([...encodeUnsubscribe(6, ["a/#"])], [0xa2, 7, 0, 6, 0, 3, ...utf8("a/#")]);
  assert.deepEqual([...encodePingreq()], [0xc0, 0]);
  assert.deepEqual([...encodeDisconnect()], [0xe0, 0]);
  const big = encodePublish({ topic: "t", payload: new Uint8Array(200_000), qos: 1, packetId: 1 });
  assert.deepEqual([...big.subarray(0, 4)], [0x32, ...encodeRemainingLength(200_005)]);
});

Deno.test("encoders refuse what the spec forbids: wildcards in topic names, bad filters, QoS 2, id 0", () => {
  assert.throws(() => encodePublish({ topic: "a/+", payload: bytes(), qos: 0 }), /wildcard/);
  assert.throws(() => encodePublish({ topic: "", payload: bytes(), qos: 0 }), /empty/);
  assert.throws(() => encodePublish({ topic: "t", payload: bytes(), qos: 1 }), /packet identifier/);
  assert.throws(() => encodePublish({ topic: "t", payload: bytes(), qos: 0, dup: true }), /DUP/);
  assert.throws(() => encodePublish({ topic: "t", payload: bytes(), qos: 2 as 1, packetId: 1 }), /QoS/);
  assert.throws(() => encodeSubscribe(1, [{ topicFilter: "a/#/b", qos: 1 }]), /'#'/);
  assert.throws(() => encodeSubscribe(1, [{ topicFilter: "a/b+", qos: 1 }]), /'\+'/);
  assert.throws(() => encodeSubscribe(1, [{ topicFilter: "a", qos: 2 as 1 }]), /QoS/);
  assert.throws(() => encodeSubscribe(1, []), /at least one/);
  assert.throws(() => encodePuback(0), /packet identifier/);
  assert.throws(() => encodePuback(65_536), /packet identifier/);
});

Deno.test("server packets decode: CONNACK, PUBLISH QoS 0/1 with DUP and RETAIN, PUBACK, SUBACK, UNSUBACK, PINGRESP", () => {
  const input = bytes(
    ...[0x20, 2, 1, 0],
    ...[0x30, 5, 0, 1, ...utf8("t"), ...utf8("hi")],
    ...[0x3b, 6, 0, 1, ...utf8("t"), 0, 7, ...utf8("x")],
    ...[0x40, 2, 0, 9],
    ...[0x90, 5, 0, 3, 1, 0x80, 0],
    ...[0xb0, 2, 0, 4],
    ...[0xd0, 0],
  );
  const te = new TextEncoder();
  assert.deepEqual(decodeAll(input), [
    { type: "connack", sessionPresent: true, returnCode: 0 },
    { type: "publish", topic: "t", payload: te.encode("hi"), qos: 0, dup: false, retain: false },
    { type: "publish", topic: "t", payload: te.encode("x"), qos: 1, dup: true, retain: true, packetId: 7 },
    { type: "puback", packetId: 9 },
    { type: "suback", packetId: 3, returnCodes: [1, 0x80, 0] },
    { type: "unsuback", packetId: 4 },
    { type: "pingresp" },
  ]);
});

Deno.test("a stream split at every byte boundary decodes to the same packets", () => {
  const input = bytes(
    ...[0x20, 2, 0, 0],
    ...encodePublishLike(300),
    ...[0x40, 2, 0, 9],
    ...[0xd0, 0],
  );
  const whole = decodeAll(input);
  assert.equal(whole.length, 4);
  for (let cut = 1; cut < input.length; cut++) {
    const d = new PacketDecoder();
    assert.deepEqual([...d.push(input.subarray(0, cut)), ...d.push(input.subarray(cut))], whole, `cut at ${cut}`);
  }
  const d = new PacketDecoder();
  const oneByOne = [...input].flatMap((b) => [...d.push(bytes(b))]);
  assert.deepEqual(oneByOne, whole);
});

/** A server PUBLISH QoS 1 with `payloadLength` bytes of payload (two-byte remaining length above 127). */
function encodePublishLike(payloadLength: number): number[] {
  const body = [0, 1, ...utf8("t"), 0, 1, ...new Array(payloadLength).fill(7)];
  return [0x32, ...encodeRemainingLength(body.length), ...body];
}

Deno.test("a remaining length of more than four bytes fails on the fourth byte, before any fifth byte arrives", () => {
  const d = new PacketDecoder();
  assert.deepEqual([...d.push(bytes(0x30, 0xff, 0xff, 0xff))], []); // could still end in a fourth byte < 0x80
  assert.throws(() => [...d.push(bytes(0xff))], /remaining length longer than four bytes/);
  // The decoder stays failed: a stream cannot be resynchronised.
  assert.throws(() => [...d.push(bytes(0xd0, 0))], /remaining length longer than four bytes/);
});

Deno.test("packets over maxPacketSize fail at the header, before the body is buffered", () => {
  const d = new PacketDecoder({ maxPacketSize: 1024 });
  // Header announces 268 MB; nothing of the body follows, the error must not wait for it.
  assert.throws(() => [...d.push(bytes(0x30, 0xff, 0xff, 0xff, 0x7f))], /exceeds the limit of 1024 bytes/);
  assert.deepEqual(decodeAll(bytes(...encodePublishLike(1016)), 1024).length, 1); // exactly 1024 bytes
  rejects(bytes(...encodePublishLike(1017)), /packet of 1025 bytes exceeds/, 1024);
});

Deno.test("reserved and client-only packet types and wrong fixed-header flags are protocol errors at once", () => {
  rejects(bytes(0x00), /reserved packet type 0/);
  rejects(bytes(0xf0), /reserved packet type 15/);
  for (const first of [0x10, 0x82, 0xa2, 0xc0, 0xe0]) rejects(bytes(first), /never sent by a server/);
  rejects(bytes(0x41), /invalid fixed-header flags/);
  rejects(bytes(0x21), /packet type 2 with invalid fixed-header flags 1/);
  rejects(bytes(0xd8), /packet type 13 with invalid fixed-header flags 8/);
});

Deno.test("PUBREL needs flags 0b0010; PUBLISH QoS 3 and QoS 0 with DUP are malformed", () => {
  assert.deepEqual(decodeAll(bytes(0x62, 2, 0, 1)), [{ type: "pubrel", packetId: 1 }]);
  rejects(bytes(0x60), /invalid fixed-header flags/);
  rejects(bytes(0x36), /QoS 3/);
  rejects(bytes(0x38), /QoS 0 and DUP/);
});

Deno.test("malformed bodies are protocol errors: lengths, ids, return codes, topic names", () => {
  rejects(bytes(0x20, 3, 0, 0, 0), /CONNACK with remaining length 3/);
  rejects(bytes(0x20, 2, 2, 0), /reserved acknowledge flags/);
  rejects(bytes(0x20, 2, 0, 6), /reserved return code 6/);
  rejects(bytes(0x20, 2, 1, 5), /session present/);
  rejects(bytes(0x40, 2, 0, 0), /packet identifier 0/);
  rejects(bytes(0x40, 3, 0, 1, 0), /PUBACK with remaining length 3/);
  rejects(bytes(0x90, 2, 0, 1), /SUBACK without return codes/);
  rejects(bytes(0x90, 3, 0, 1, 3), /invalid return code 3/);
  rejects(bytes(0xd0, 1, 0), /PINGRESP with remaining length 1/);
  rejects(bytes(0x30, 1, 0), /too short for a topic name/);
  rejects(bytes(0x30, 3, 0, 5, 0x61), /runs past the packet/);
  rejects(bytes(0x30, 2, 0, 0), /empty topic name/);
  rejects(bytes(0x30, 3, 0, 1, 0xff), /not valid UTF-8/);
  rejects(bytes(0x30, 3, 0, 1, 0x23), /wildcard/);
  rejects(bytes(0x30, 3, 0, 1, 0x00), /U\+0000/);
  rejects(bytes(0x32, 4, 0, 1, 0x61, 0), /too short for a packet identifier/);
  rejects(bytes(0x32, 5, 0, 1, 0x61, 0, 0), /packet identifier 0/);
});

Deno.test("with skipOversizedPublish an oversized PUBLISH keeps its topic and id, drops its payload unread, and decoding goes on", () => {
  const payload = 5000;
  const topic = [0, 3, ...new TextEncoder().encode("a/b")];
  const body = [...topic, 0x12, 0x34, ...new Array(payload).fill(0x41)];
  const length = encodeRemainingLength(body.length);
  const wire = bytes(0x32, ...length, ...body, 0xd0, 0x00); // QoS 1 PUBLISH, then a PINGRESP
  for (const step of [1, 7, 100, wire.length]) {
    const d = new PacketDecoder({ maxPacketSize: 1024, skipOversizedPublish: true });
    const got: ServerPacket[] = [];
    for (let i = 0; i < wire.length; i += step) got.push(...d.push(wire.subarray(i, i + step)));
    assert.deepEqual(got, [
      {
        type: "publish",
        topic: "a/b",
        payload: new Uint8Array(0),
        qos: 1,
        dup: false,
        retain: false,
        packetId: 0x1234,
        oversized: payload,
      },
      { type: "pingresp" },
    ], `step ${step}`);
  }
  // Other packet types over the limit are still protocol errors.
  const d = new PacketDecoder({ maxPacketSize: 1024, skipOversizedPublish: true });
  assert.throws(() => [...d.push(bytes(0x90, 0xff, 0x7f))], /exceeds the limit/);
});
