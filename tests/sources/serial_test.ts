import assert from "node:assert/strict";
import { InvalidValue } from "../../lib/errors.ts";
import { parseSerialSpec, sttyArgs } from "../../lib/sources/serial.ts";
import { parseSourceList } from "../../lib/sources/spec.ts";

Deno.test("serial options: defaults 9600 8N1 auto, and each setting becomes its stty argument", () => {
  const d = parseSerialSpec("/dev/ttyUSB0");
  assert.deepEqual([d.device, d.baud, d.dataBits, d.parity, d.stopBits, d.format, d.stty], [
    "/dev/ttyUSB0",
    9600,
    8,
    "N",
    1,
    "auto",
    "auto",
  ]);
  assert.deepEqual(sttyArgs(d), [
    "-F",
    "/dev/ttyUSB0",
    "9600",
    "cs8",
    "-parenb",
    "-cstopb",
    "raw",
    "-echo",
    "clocal",
    "-crtscts",
  ]);
  const e = parseSerialSpec("/run/edgelog/gps?baud=4800&parity=e&stop=2&data=7&format=nmea&prefix=boat/gnss");
  assert.deepEqual(sttyArgs(e).slice(2, 7), ["4800", "cs7", "parenb", "-parodd", "cstopb"]);
  assert.equal(sttyArgs(parseSerialSpec("/x?parity=O"))[5], "parodd");
  assert.equal(e.prefix, "boat/gnss");
});

Deno.test("bad serial options are refused before anything starts (exit 2)", () => {
  for (const bad of ["", "ttyUSB0", "/dev/x?baud=1234", "/dev/x?parity=X", "/dev/x?speed=9600", "/dev/x?prefix="]) {
    assert.throws(() => parseSerialSpec(bad), InvalidValue, bad);
  }
  assert.throws(() => parseSourceList(["serial"]), InvalidValue);
  assert.throws(() => parseSourceList(["serial:/dev/x", "serial:/dev/x?baud=4800"]), /twice/);
  assert.deepEqual(parseSourceList(["serial:/dev/a", "serial:/dev/b"]).map((s) => s.serial?.device), [
    "/dev/a",
    "/dev/b",
  ]);
});
