import assert from "node:assert/strict";
import { InvalidValue } from "../../lib/errors.ts";
import { parseModbusSpec } from "../../lib/sources/modbus.ts";

const MAP = JSON.stringify([
  { name: "a", slave: 1, type: "holding", address: 0, datatype: "uint16" },
  { name: "b", slave: 1, type: "holding", address: 1, datatype: "float32" },
  { name: "c", slave: 2, type: "input", address: 10, datatype: "int16" },
]);
const files = (text = MAP) => (path: string) => {
  if (path !== "/etc/edgelog/plc.json") throw new Deno.errors.NotFound(`no ${path}`);
  return text;
};

Deno.test("modbus specs: TCP, RTU and RTU over TCP with their defaults; adjacent registers share a request", () => {
  const tcp = parseModbusSpec("tcp://10.0.0.5?map=/etc/edgelog/plc.json", files());
  assert.deepEqual([tcp.transport, tcp.host, tcp.port, tcp.timeoutMs, tcp.intervalMs], [
    "tcp",
    "10.0.0.5",
    502,
    1000,
    undefined,
  ]);
  assert.deepEqual(tcp.plan.map((r) => [r.slave, r.fc, r.address, r.quantity]), [[1, 3, 0, 3], [2, 4, 10, 1]]);
  const rtu = parseModbusSpec("rtu:///run/edgelog/rs485?baud=19200&map=/etc/edgelog/plc.json&interval=2s", files());
  assert.deepEqual([rtu.serial?.device, rtu.serial?.baud, rtu.serial?.parity, rtu.intervalMs], [
    "/run/edgelog/rs485",
    19200,
    "E",
    2000,
  ]);
  const gw = parseModbusSpec("rtu+tcp://gw.local:4001?map=/etc/edgelog/plc.json&timeout=250ms", files());
  assert.deepEqual([gw.transport, gw.host, gw.port, gw.timeoutMs], ["rtu+tcp", "gw.local", 4001, 250]);
});

Deno.test("bad modbus specs and maps are refused before anything starts (exit 2), naming the problem", () => {
  const bad: [string, RegExp][] = [
    ["udp://x?map=/etc/edgelog/plc.json", /expected modbus:tcp/],
    ["tcp://x", /map= is required/],
    ["tcp://x?map=/nope.json", /cannot read it/],
    ["tcp://x?map=/etc/edgelog/plc.json&baud=9600", /rtu:\/\/ only/],
    ["tcp://x?map=/etc/edgelog/plc.json&what=1", /unknown option what=/],
    ["tcp://x?map=/etc/edgelog/plc.json&timeout=0", /timeout=0/],
    ["rtu:///dev/x?map=/etc/edgelog/plc.json&parity=Q", /parity=Q/],
  ];
  for (const [spec, message] of bad) {
    assert.throws(() => parseModbusSpec(spec, files()), (e: Error) => {
      assert.ok(e instanceof InvalidValue, spec);
      assert.match(e.message, message, spec);
      return true;
    });
  }
  assert.throws(
    () =>
      parseModbusSpec(
        "tcp://x?map=/etc/edgelog/plc.json",
        files('[{"name":"a","slave":1,"type":"holdng","address":0}]'),
      ),
    /map=\/etc\/edgelog\/plc.json: .*type/,
  );
});
