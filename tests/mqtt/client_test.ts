/**
 * The client against a scripted fake server: what a real broker never does (malformed packets, silence), and the
 * exact bytes and their order (PUBACK ordering, DUP resend).
 *
 * @module
 */

import assert from "node:assert/strict";
import { MqttClient, MqttConnackError, MqttConnectionError, MqttProtocolError } from "../../lib/mqtt/client.ts";
import { type ByteReader, FakeServer, Inbox, serverPublish, waitFor, within, writeAll } from "../_helpers/mqtt.ts";

const CONNACK = new Uint8Array([0x20, 2, 0, 0]);
const CONNACK_SESSION = new Uint8Array([0x20, 2, 1, 0]);

/** Reads the client's CONNECT and answers with `connack`. */
async function handshake(conn: Deno.Conn, reader: ByteReader, connack = CONNACK): Promise<void> {
  const p = await reader.packet();
  assert.equal(p?.type, 1, "first packet is CONNECT");
  await writeAll(conn, connack);
}

/** Reads packets until EOF (the client closed), returning them. */
async function drain(reader: ByteReader): Promise<{ type: number; flags: number; body: Uint8Array }[]> {
  const out = [];
  for (let p = await reader.packet(); p; p = await reader.packet()) out.push(p);
  return out;
}

/** Connects to a fake server sending `bad` right after CONNACK; returns the close reason and how long it took. */
async function closeReasonAfter(bad: Uint8Array, maxPacketSize?: number): Promise<{ error: unknown; ms: number }> {
  const server = new FakeServer(async (conn, reader) => {
    await handshake(conn, reader);
    await writeAll(conn, bad);
    await drain(reader); // keep the connection open: the client must fail on the bytes, not on EOF
  });
  // Long keep-alive and connect timeout: an error within a second cannot come from a timer.
  const client = new MqttClient({ url: server.url, clientId: "c1", keepAliveSeconds: 60, maxPacketSize });
  const start = performance.now();
  let error: unknown;
  try {
    const { closed } = await client.connect();
    error = await within(closed, 2000, "the connection to close");
  } catch (e) {
    error = e; // CONNACK and the bad bytes may arrive in one read; then connect itself fails
  }
  const ms = performance.now() - start;
  await server.done;
  return { error, ms };
}

Deno.test("a remaining length of five bytes from the server closes the connection at once with a protocol error", async () => {
  const { error, ms } = await closeReasonAfter(new Uint8Array([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]));
  assert.ok(error instanceof MqttProtocolError, String(error));
  assert.match(error.message, /remaining length longer than four bytes/);
  assert.ok(ms < 1000, `took ${ms} ms`);
});

Deno.test("an unknown packet type and an oversized packet close the connection at once", async () => {
  const unknown = await closeReasonAfter(new Uint8Array([0xf0, 0]));
  assert.ok(unknown.error instanceof MqttProtocolError);
  assert.match(unknown.error.message, /reserved packet type 15/);
  assert.ok(unknown.ms < 1000, `took ${unknown.ms} ms`);
  // 2 MB announced, no body sent: the limit is checked on the header.
  const big = await closeReasonAfter(new Uint8Array([0x30, 0x80, 0x80, 0x80, 0x01]), 1024 * 1024);
  assert.ok(big.error instanceof MqttProtocolError);
  assert.match(big.error.message, /exceeds the limit of 1048576 bytes/);
  assert.ok(big.ms < 1000, `took ${big.ms} ms`);
  const qos2 = await closeReasonAfter(serverPublish("t", "x", 2, 1));
  assert.ok(qos2.error instanceof MqttProtocolError);
});

Deno.test("PUBACKs leave in the order the PUBLISH packets arrived, whatever order the consumer acks in", async () => {
  const seen: { type: number; body: number[] }[] = [];
  const server = new FakeServer(async (conn, reader) => {
    await handshake(conn, reader);
    await writeAll(conn, new Uint8Array([...serverPublish("t", "a", 1, 10), ...serverPublish("t", "b", 1, 11)]));
    await writeAll(conn, new Uint8Array([...serverPublish("t", "q0", 0), ...serverPublish("t", "c", 1, 12)]));
    for (const p of await drain(reader)) seen.push({ type: p.type, body: [...p.body] });
  });
  const inbox = new Inbox();
  const client = new MqttClient({ url: server.url, clientId: "c1", onMessage: inbox.handler });
  await client.connect();
  const [a, b, q0, c] = await inbox.take(4);
  assert.deepEqual([a.packetId, b.packetId, q0.packetId, c.packetId], [10, 11, undefined, 12]);
  assert.equal(q0.ack(), true); // QoS 0: nothing to send
  c.ack();
  b.ack();
  b.ack(); // idempotent
  // A QoS 0 publish is written after anything queued before it: if a PUBACK had gone out, it would come first.
  await client.publish("marker", "1", { qos: 0 });
  assert.equal(client.stats.packetsSent, 2); // CONNECT and the marker: the PUBACKs of 12 and 11 wait for 10
  a.ack();
  await waitFor(() => client.stats.packetsSent === 5, "three PUBACKs");
  await client.close();
  await server.done;
  assert.deepEqual(seen.map((p) => [p.type, ...p.body]), [
    [3, 0, 6, ..."marker"].map((x) => typeof x === "string" ? x.charCodeAt(0) : x).concat([49]),
    [4, 0, 10],
    [4, 0, 11],
    [4, 0, 12],
    [14],
  ]);
});

Deno.test("ack after the delivering connection is gone returns false and sends nothing", async () => {
  const server = new FakeServer(async (conn, reader) => {
    await handshake(conn, reader);
    await writeAll(conn, serverPublish("t", "a", 1, 1));
    await reader.packet(); // DISCONNECT
  });
  const inbox = new Inbox();
  const client = new MqttClient({ url: server.url, clientId: "c1", onMessage: inbox.handler });
  await client.connect();
  const [m] = await inbox.take(1);
  await client.close();
  assert.equal(m.ack(), false);
  await server.done;
});

Deno.test("a redelivery with DUP of a message the consumer still holds is not delivered twice", async () => {
  const server = new FakeServer(async (conn, reader) => {
    await handshake(conn, reader);
    await writeAll(conn, serverPublish("t", "a", 1, 5));
    await writeAll(conn, serverPublish("t", "a", 1, 5, true));
    await writeAll(conn, serverPublish("t", "b", 1, 6));
    await drain(reader);
  });
  const inbox = new Inbox();
  const client = new MqttClient({ url: server.url, clientId: "c1", onMessage: inbox.handler });
  await client.connect();
  const got = await inbox.take(2);
  assert.deepEqual(got.map((m) => m.packetId), [5, 6]);
  await client.close();
  await server.done;
});

Deno.test("keep-alive: PINGREQ after an idle keep-alive period; no PINGRESP within the bound closes the connection", async () => {
  let pingreqs = 0;
  const server = new FakeServer(async (conn, reader) => {
    await handshake(conn, reader);
    for (let p = await reader.packet(); p; p = await reader.packet()) if (p.type === 12) pingreqs++; // never answered
  });
  const client = new MqttClient({ url: server.url, clientId: "c1", keepAliveSeconds: 1, pingTimeoutMs: 300 });
  const start = performance.now();
  const { closed } = await client.connect();
  const reason = await within(closed, 5000, "the ping timeout");
  const ms = performance.now() - start;
  assert.ok(reason instanceof MqttConnectionError);
  assert.match(reason.message, /no PINGRESP within 300 ms/);
  assert.ok(ms >= 1250 && ms < 4000, `closed after ${ms} ms, expected about 1000 + 300`);
  await server.done;
  assert.equal(pingreqs, 1);
});

Deno.test("connect: a refusal is MqttConnackError; a silent server hits the connect timeout; a wrong first packet", async () => {
  const refusing = new FakeServer((conn, reader) => handshake(conn, reader, new Uint8Array([0x20, 2, 0, 2])));
  const c1 = new MqttClient({ url: refusing.url, clientId: "c1" });
  await assert.rejects(c1.connect(), (e: unknown) => e instanceof MqttConnackError && e.code === 2 && e.permanent);
  await refusing.done;

  const silent = new FakeServer(async (_conn, reader) => void await drain(reader));
  const c2 = new MqttClient({ url: silent.url, clientId: "c2", connectTimeoutMs: 300 });
  const start = performance.now();
  await assert.rejects(c2.connect(), /no CONNACK within 300 ms/);
  assert.ok(performance.now() - start < 1500);
  await silent.done;

  const wrong = new FakeServer(async (conn, reader) => {
    await reader.packet();
    await writeAll(conn, new Uint8Array([0xd0, 0]));
    await drain(reader);
  });
  const c3 = new MqttClient({ url: wrong.url, clientId: "c3" });
  await assert.rejects(c3.connect(), /first packet from the broker is pingresp, not CONNACK/);
  await wrong.done;
});

Deno.test("persistent session: an unacknowledged QoS 1 publish is resent with DUP and its id after reconnect", async () => {
  const publishes: { flags: number; id: number }[] = [];
  const server = new FakeServer(async (conn, reader, i) => {
    await handshake(conn, reader, i === 0 ? CONNACK : CONNACK_SESSION);
    const p = await reader.packet();
    assert.equal(p?.type, 3);
    const id = (p!.body[3] << 8) | p!.body[4]; // topic "t": 2 + 1 bytes, then the id
    publishes.push({ flags: p!.flags, id });
    if (i === 0) return; // drop the connection without PUBACK
    await writeAll(conn, new Uint8Array([0x40, 2, id >> 8, id & 0xff]));
    await drain(reader);
  }, 2);
  const client = new MqttClient({ url: server.url, clientId: "c1", cleanSession: false });
  const first = await client.connect();
  const published = client.publish("t", "x", { qos: 1 });
  assert.ok((await within(first.closed, 2000, "the drop")) instanceof MqttConnectionError);
  const second = await client.connect();
  assert.equal(second.sessionPresent, true);
  await within(published, 2000, "PUBACK after the resend");
  await client.close();
  await server.done;
  assert.deepEqual(publishes, [{ flags: 0b0010, id: publishes[0].id }, { flags: 0b1010, id: publishes[0].id }]);
});

Deno.test("clean session: a publish in flight rejects when the connection drops; publishing offline rejects", async () => {
  const server = new FakeServer(async (conn, reader) => {
    await handshake(conn, reader);
    await reader.packet();
  });
  const client = new MqttClient({ url: server.url, clientId: "c1" });
  await client.connect();
  await assert.rejects(client.publish("t", "x", { qos: 1 }), MqttConnectionError);
  await assert.rejects(client.publish("t", "x", { qos: 1 }), /not connected/);
  await server.done;
});

Deno.test("maxUnacked: at the limit the client stops reading until the consumer acks, then goes on in order", async () => {
  const server = new FakeServer(async (conn, reader) => {
    await handshake(conn, reader);
    await writeAll(conn, new Uint8Array([1, 2, 3, 4].flatMap((i) => [...serverPublish("t", `m${i}`, 1, i)])));
    await drain(reader);
  });
  const inbox = new Inbox();
  const client = new MqttClient({ url: server.url, clientId: "c1", maxUnacked: 2, onMessage: inbox.handler });
  await client.connect();
  const [m1, m2] = await inbox.take(2);
  assert.equal(client.stats.packetsReceived, 3); // CONNACK, m1, m2: m3 is decoded but held back
  m2.ack(); // frees no slot: m1, the head, is still unacknowledged
  assert.equal(inbox.untaken.length, 0);
  m1.ack();
  const [m3, m4] = await inbox.take(2);
  assert.deepEqual([m3.packetId, m4.packetId], [3, 4]);
  m3.ack();
  m4.ack();
  await client.close();
  await server.done;
});
