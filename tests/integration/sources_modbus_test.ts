/**
 * The `modbus` source against pymodbus (tests/_helpers/modbus_server.py, three slaves with known
 * values) over Modbus TCP, RTU over TCP, and RTU on a serial line made with a socat pty pair:
 * values, byte orders and scaling as the server holds them; one slave stopped mid-run costs only
 * its own readings, counted as timeouts and logged at most once per 10 s.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readingRows, tempDir } from "../_helpers/database.ts";
import { hasCommand, isRoot, type LoggerProcess, spawnLogger, waitFor } from "../_helpers/process.ts";
import { announceSkip } from "../_helpers/upstreams.ts";

const PYTHON = "/usr/bin/python3";
const SERVER = new URL("../_helpers/modbus_server.py", import.meta.url).pathname;

function pymodbusMissing(): string | undefined {
  try {
    const ok = new Deno.Command(PYTHON, { args: ["-c", "import pymodbus, serial"], stdout: "null", stderr: "null" })
      .outputSync().success;
    return ok
      ? undefined
      : "SKIPPED: pymodbus not found; install the Debian packages 'python3-pymodbus' 'python3-serial'";
  } catch {
    return "SKIPPED: /usr/bin/python3 not found; install the Debian package 'python3-pymodbus'";
  }
}
const skip = pymodbusMissing();

const MAP = [
  { name: "h/int16", slave: 1, type: "holding", address: 0, datatype: "int16" },
  { name: "h/uint16", slave: 1, type: "holding", address: 1, datatype: "uint16" },
  { name: "h/float32_abcd", slave: 1, type: "holding", address: 2, datatype: "float32", order: "ABCD" },
  { name: "h/float32_cdab", slave: 1, type: "holding", address: 4, datatype: "float32", order: "CDAB" },
  { name: "h/int32_badc", slave: 1, type: "holding", address: 6, datatype: "int32", order: "BADC" },
  { name: "h/uint32_dcba", slave: 1, type: "holding", address: 8, datatype: "uint32", order: "DCBA" },
  { name: "h/float64", slave: 1, type: "holding", address: 10, datatype: "float64" },
  { name: "h/temp", slave: 1, type: "holding", address: 18, datatype: "int16", scale: 0.1, unit: "°C" },
  { name: "i/flow", slave: 1, type: "input", address: 0, datatype: "uint16", scale: 0.01, unit: "m³/h" },
  { name: "c/0", slave: 1, type: "coil", address: 0 },
  { name: "c/1", slave: 1, type: "coil", address: 1 },
  { name: "c/3", slave: 1, type: "coil", address: 3 },
  { name: "s2/a", slave: 2, type: "holding", address: 0, datatype: "uint16" },
  { name: "s2/b", slave: 2, type: "holding", address: 1, datatype: "uint16", offset: 100 },
  { name: "s3/t", slave: 3, type: "holding", address: 0, datatype: "int16", scale: 0.5, unit: "°C" },
];

const EXPECTED: Record<string, number> = {
  "h/int16": -1234,
  "h/uint16": 54321,
  "h/float32_abcd": 21.5,
  "h/float32_cdab": -3.25,
  "h/int32_badc": -123456789,
  "h/uint32_dcba": 3000000000,
  "h/float64": 1013.25,
  "h/temp": 21.5,
  "i/flow": 5,
  "c/0": 1,
  "c/1": 0,
  "c/3": 1,
  "s2/a": 7,
  "s2/b": 108,
  "s3/t": -15,
};

/** pymodbus_server.py in `mode`; resolves once it serves, with its port for the TCP modes. */
async function startServer(
  args: string[],
): Promise<{ port?: number; send: (line: string) => Promise<void>; stop: () => Promise<void> }> {
  const child = new Deno.Command(PYTHON, { args: [SERVER, ...args], stdin: "piped", stdout: "piped", stderr: "null" })
    .spawn();
  const writer = child.stdin.getWriter();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`modbus_server.py ${args.join(" ")} exited before serving`);
    text += value;
  }
  reader.releaseLock();
  const ready = JSON.parse(text.split("\n")[0]) as { port?: number };
  return {
    port: ready.port,
    send: (line) => writer.write(new TextEncoder().encode(line + "\n")),
    stop: async () => {
      await writer.close().catch(() => {});
      await child.stdout.cancel().catch(() => {});
      await child.status;
    },
  };
}

/** Runs edgelog on `source` until every sensor was stored, stops slave 2, checks the others go on. */
async function scenario(dir: string, source: string, server: { send: (l: string) => Promise<void> }): Promise<void> {
  const db = join(dir, "edgelog.db");
  const p: LoggerProcess = spawnLogger(["--db", db, "--source", source, "--commit-interval", "50"]);
  try {
    await p.waitUntilLogging();
    const count = (sensor: string) => readingRows(db).filter((r) => r.sensor === sensor).length;
    await waitFor(() => Object.keys(EXPECTED).every((s) => count(s) >= 2), 30_000, () => p.stderrLines.join("\n"));
    const rows = readingRows(db);
    const got = Object.fromEntries(Object.keys(EXPECTED).map((s) => [s, rows.find((r) => r.sensor === s)!.value]));
    assert.deepEqual(got, EXPECTED);
    assert.equal(rows.find((r) => r.sensor === "i/flow")!.unit, "m³/h");

    await server.send("stop 2");
    await p.waitForRecord((r) => r.slave === 2 && r.reason === "timeout", 20_000);
    const [s1, s2, s3] = [count("h/int16"), count("s2/a"), count("s3/t")];
    await waitFor(() => count("h/int16") >= s1 + 20 && count("s3/t") >= s3 + 20, 30_000);
    assert.ok(count("s2/a") <= s2 + 1, "slave 2 is silent");
    p.kill("SIGTERM");
    assert.equal((await p.exited()).code, 0, p.stderrLines.slice(-20).join("\n"));
    const rejected = p.finalRecord()!.rejected_by_reason as Record<string, number>;
    // Asked and silent (timeout), or not asked while it stays silent (slave_silent): nothing else.
    assert.deepEqual(Object.keys(rejected).filter((k) => k !== "slave_silent"), ["timeout"]);
    assert.equal((rejected.timeout + (rejected.slave_silent ?? 0)) % 2, 0, "each poll loses slave 2's 2 readings");
    // Asked again with backoff (0.1 s, 0.2 s, 0.4 s, …), not in each of the 20+ polls: few timeouts.
    assert.ok(rejected.timeout <= 2 * 10, `slave 2 was asked ${rejected.timeout / 2} times`);
    const logged = p.records.filter((r) => r.slave === 2).length;
    assert.ok(logged <= 2, `slave 2 logged ${logged} times`);
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* exited */ }
    await p.exited();
  }
}

async function writeMap(dir: string): Promise<string> {
  const path = join(dir, "map.json");
  await Deno.writeTextFile(path, JSON.stringify(MAP));
  return path;
}

Deno.test({
  name: "modbus TCP: values, byte orders and scaling as pymodbus holds them; a stopped slave costs only its own",
  ignore: announceSkip(skip),
  fn: async () => {
    await using dir = await tempDir();
    const map = await writeMap(dir.path);
    const server = await startServer(["tcp"]);
    try {
      await scenario(dir.path, `modbus:tcp://127.0.0.1:${server.port}?map=${map}&interval=100ms&timeout=300ms`, server);
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "modbus RTU over TCP (a serial gateway): the same values; a stopped slave costs only its own",
  ignore: announceSkip(skip),
  fn: async () => {
    await using dir = await tempDir();
    const map = await writeMap(dir.path);
    const server = await startServer(["rtu-tcp"]);
    try {
      await scenario(
        dir.path,
        `modbus:rtu+tcp://127.0.0.1:${server.port}?map=${map}&interval=100ms&timeout=300ms`,
        server,
      );
    } finally {
      await server.stop();
    }
  },
});

const rtuSkip = skip ??
  (!hasCommand("socat")
    ? "SKIPPED: 'socat' not found; install the Debian package 'socat'"
    : !isRoot()
    ? "SKIPPED: the RTU test bind-mounts a pty and needs root"
    : undefined);

Deno.test({
  name: "modbus RTU on a serial line (socat pty pair, 19200 8N2): values, CRC, and one of three slaves stopped",
  ignore: announceSkip(rtuSkip),
  fn: async () => {
    await using dir = await tempDir();
    const map = await writeMap(dir.path);
    const [a, b, tty] = [join(dir.path, "a"), join(dir.path, "b"), join(dir.path, "tty")];
    const socat = new Deno.Command("socat", {
      args: [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    let server: Awaited<ReturnType<typeof startServer>> | undefined;
    try {
      await waitFor(() => {
        try {
          Deno.statSync(a);
          Deno.statSync(b);
          return true;
        } catch {
          return false;
        }
      }, 10_000);
      // Deno opens /dev only with --allow-all: the line reaches edgelog at another path (docs/SOURCES.md).
      await Deno.writeTextFile(tty, "");
      const mount = await new Deno.Command("mount", { args: ["--bind", Deno.realPathSync(a), tty] }).output();
      assert.ok(mount.success, new TextDecoder().decode(mount.stderr));
      // 8N2, the spec's framing without parity: Linux ptys refuse parity bits (EINVAL).
      server = await startServer(["rtu", b, "19200", "N", "2"]);
      await scenario(
        dir.path,
        `modbus:rtu://${tty}?baud=19200&parity=N&stop=2&map=${map}&interval=100ms&timeout=300ms`,
        server,
      );
    } finally {
      await server?.stop();
      await new Deno.Command("umount", { args: ["--lazy", tty] }).output();
      socat.kill("SIGTERM");
      await socat.status;
    }
  },
});
