/**
 * Seeded fuzzing of the decoder. Replay a failure with the seed it prints: `EDGELOG_FUZZ_SEED=1234 deno test ...`
 * (the env var needs `--allow-env=EDGELOG_FUZZ_SEED`; without it a fresh seed is drawn).
 *
 * @module
 */

import assert from "node:assert/strict";
import { encodeRemainingLength, MqttProtocolError, PacketDecoder, type ServerPacket } from "../../lib/mqtt/_wire.ts";

function seed(): number {
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get("EDGELOG_FUZZ_SEED");
  } catch { /* no env permission: draw one */ }
  return fromEnv ? Number(fromEnv) >>> 0 : crypto.getRandomValues(new Uint32Array(1))[0];
}

/** mulberry32: small, fast, good enough to drive a fuzzer, and replayable from one 32-bit seed. */
function prng(s: number): () => number {
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A valid server packet as bytes, plus the packet it should decode to. */
function validPacket(r: () => number): { bytes: number[]; packet: ServerPacket } {
  const int = (n: number) => Math.floor(r() * n);
  const id = 1 + int(0xffff);
  const te = new TextEncoder();
  const frame = (first: number, body: number[]) => [first, ...encodeRemainingLength(body.length), ...body];
  switch (int(6)) {
    case 0: {
      const code = int(6);
      const sessionPresent = code === 0 && r() < 0.5;
      return {
        bytes: frame(0x20, [sessionPresent ? 1 : 0, code]),
        packet: { type: "connack", sessionPresent, returnCode: code },
      };
    }
    case 1: {
      const qos = int(2) as 0 | 1;
      const dup = qos === 1 && r() < 0.3;
      const retain = r() < 0.3;
      const topic = ["a", "a/b", "sensors/t1", "ä/€", "x".repeat(1 + int(40))][int(5)];
      const t = [...te.encode(topic)];
      const payload = Array.from({ length: int(r() < 0.1 ? 400 : 20) }, () => int(256));
      const body = [t.length >> 8, t.length & 0xff, ...t, ...(qos ? [id >> 8, id & 0xff] : []), ...payload];
      const packet: ServerPacket = { type: "publish", topic, payload: new Uint8Array(payload), qos, dup, retain };
      if (qos) packet.packetId = id;
      return { bytes: frame(0x30 | (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0), body), packet };
    }
    case 2:
      return { bytes: frame(0x40, [id >> 8, id & 0xff]), packet: { type: "puback", packetId: id } };
    case 3: {
      const codes = Array.from({ length: 1 + int(4) }, () => [0, 1, 2, 0x80][int(4)]);
      return {
        bytes: frame(0x90, [id >> 8, id & 0xff, ...codes]),
        packet: { type: "suback", packetId: id, returnCodes: codes },
      };
    }
    case 4:
      return { bytes: frame(0xb0, [id >> 8, id & 0xff]), packet: { type: "unsuback", packetId: id } };
    default:
      return { bytes: [0xd0, 0], packet: { type: "pingresp" } };
  }
}

/** Feeds `input` in random chunks; returns the packets, or the protocol error. Anything else is a failure. */
function feed(
  input: Uint8Array,
  r: () => number,
  maxPacketSize: number,
): { packets: ServerPacket[]; error?: MqttProtocolError } {
  // Half the cases skip oversized PUBLISH packets (the subscriber's mode) instead of failing on them.
  const d = new PacketDecoder({ maxPacketSize, skipOversizedPublish: r() < 0.5 });
  const packets: ServerPacket[] = [];
  let at = 0;
  try {
    while (at < input.length) {
      const n = 1 + Math.floor(r() * Math.min(input.length - at, r() < 0.5 ? 8 : 600));
      for (const p of d.push(input.subarray(at, at + n))) packets.push(p);
      at += n;
    }
    return { packets };
  } catch (e) {
    if (!(e instanceof MqttProtocolError)) throw e;
    return { packets, error: e };
  }
}

Deno.test("fuzz: random and mutated streams only ever yield packets or MqttProtocolError, within a time bound", () => {
  const s = seed();
  console.log(`fuzz seed ${s} (replay: EDGELOG_FUZZ_SEED=${s})`);
  const r = prng(s);
  const int = (n: number) => Math.floor(r() * n);
  const deadline = performance.now() + 20_000;
  const counts = { cases: 0, errors: 0, packets: 0 };
  for (let i = 0; i < 30_000; i++) {
    let input: number[];
    if (i % 3 === 0) {
      input = Array.from({ length: int(80) }, () => int(256)); // noise
    } else {
      input = Array.from({ length: 1 + int(4) }, () => validPacket(r).bytes).flat();
      for (let m = 1 + int(3); m > 0; m--) {
        const at = int(input.length);
        const kind = int(4);
        if (kind === 0) input[at] ^= 1 << int(8); // bit flip
        else if (kind === 1) input.splice(at, 0, int(256)); // insert
        else if (kind === 2) input.splice(at, 1); // delete
        else input = input.slice(0, at); // truncate
      }
    }
    const max = [16, 300, 1024 * 1024][int(3)];
    try {
      const { packets, error } = feed(new Uint8Array(input), r, max);
      counts.packets += packets.length;
      if (error) counts.errors++;
      for (const p of packets) {
        if (p.type === "publish") {
          assert.ok(p.topic.length > 0 && !/[+#]/.test(p.topic));
          if (p.qos > 0) assert.ok(p.packetId! >= 1 && p.packetId! <= 0xffff);
        }
      }
    } catch (e) {
      throw new Error(`seed ${s}, case ${i}, input [${input}]: ${e}`, { cause: e });
    }
    counts.cases++;
    if (performance.now() > deadline) throw new Error(`seed ${s}: fuzzing did not finish in time (case ${i})`);
  }
  console.log(JSON.stringify(counts));
  assert.ok(counts.errors > 1000 && counts.packets > 1000, `both outcomes exercised: ${JSON.stringify(counts)}`);
});

Deno.test("fuzz: valid streams in random chunks decode to exactly the packets that were encoded", () => {
  const s = seed();
  console.log(`fuzz seed ${s} (replay: EDGELOG_FUZZ_SEED=${s})`);
  const r = prng(s);
  for (let i = 0; i < 5_000; i++) {
    const generated = Array.from({ length: 1 + Math.floor(r() * 6) }, () => validPacket(r));
    const input = new Uint8Array(generated.flatMap((g) => g.bytes));
    const { packets, error } = feed(input, r, 1024 * 1024);
    assert.equal(error, undefined, `seed ${s}, case ${i}: ${error}`);
    assert.deepEqual(packets, generated.map((g) => g.packet), `seed ${s}, case ${i}`);
  }
});
