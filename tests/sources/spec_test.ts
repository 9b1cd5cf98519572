import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../_helpers/database.ts";
import { parseInvocation, type RunConfig } from "../../lib/config.ts";
import { ConfigError } from "../../lib/errors.ts";

function run(args: string[], env: Record<string, string> = {}, file?: unknown): RunConfig {
  const inv = parseInvocation({
    args,
    env: (name) => env[name],
    readTextFile: () => JSON.stringify(file),
  });
  assert.equal(inv.command, "run");
  return (inv as { config: RunConfig }).config;
}

function problems(args: string[], env: Record<string, string> = {}, file?: unknown): string[] {
  try {
    run(args, env, file);
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("without --source the simulated source runs", () => {
  assert.deepEqual(run([]).sources, [{ kind: "simulated", options: "" }]);
});

Deno.test("--source is repeatable and keeps the order given", () => {
  const c = run(["--source", "sysfs", "--source", "stdin", "--source", "exec:echo t 1"]);
  assert.deepEqual(c.sources.map((s) => s.kind), ["sysfs", "stdin", "exec"]);
  assert.deepEqual(c.sources[2].exec?.argv, ["echo", "t", "1"]);
});

Deno.test("EDGELOG_SOURCE takes a list separated by ; or newlines, and flags replace it", () => {
  assert.deepEqual(run([], { EDGELOG_SOURCE: "sysfs; stdin\nsimulated" }).sources.map((s) => s.kind), [
    "sysfs",
    "stdin",
    "simulated",
  ]);
  assert.deepEqual(run(["--source", "stdin"], { EDGELOG_SOURCE: "sysfs" }).sources.map((s) => s.kind), ["stdin"]);
});

Deno.test("the config file takes source as an array of strings", () => {
  const c = run(["--config", "c.json"], {}, { source: ["sysfs", "exec:mode=stream ./read.sh"], interval: "2s" });
  assert.deepEqual(c.sources.map((s) => s.kind), ["sysfs", "exec"]);
  assert.equal(c.sources[1].exec?.mode, "stream");
  assert.equal(c.intervalMs, 2000);
  assert.ok(problems(["--config", "c.json"], {}, { source: [1] })[0].includes("array of strings"));
});

Deno.test("exec settings before the command are parsed and the command is split like a shell", () => {
  const c = run(["--source", `exec:timeout=3s format=text interval=250 max-output=4096 sh -c 'echo "a b" 1'`]);
  assert.deepEqual(c.sources[0].exec, {
    argv: ["sh", "-c", `echo "a b" 1`],
    mode: "interval",
    timeoutMs: 3000,
    format: "text",
    intervalMs: 250,
    maxOutputBytes: 4096,
  });
  assert.equal(run(["--source", "exec:mode=stream x"]).sources[0].exec?.timeoutMs, 0);
});

Deno.test("invalid sources are reported, each naming the flag", () => {
  assert.match(problems(["--source", "carrier-pigeon"])[0], /--source: unknown source kind "carrier-pigeon"/);
  assert.match(problems(["--source", "exec"])[0], /exec needs a command/);
  assert.match(problems(["--source", "exec:mode=fast x"])[0], /expected one of interval, stream/);
  assert.match(problems(["--source", "exec:sh -c 'x"])[0], /unterminated/);
  assert.match(problems(["--source", "stdin:x"])[0], /takes no options/);
  assert.match(problems(["--source", "stdin", "--source", "stdin"])[0], /only once/);
  assert.match(problems(["--source", "http"])[0], /--source http: needs the HTTP listener; add --listen/);
  assert.equal(run(["--source", "http", "--listen", "127.0.0.1:0"]).sources[0].kind, "http");
});

Deno.test("--interval accepts ms and durations, --sysfs-root and --http-max-body are read", () => {
  assert.equal(run(["--interval", "5s"]).intervalMs, 5000);
  assert.equal(run(["--interval", "250"]).intervalMs, 250);
  assert.equal(run([]).intervalMs, 5000);
  assert.match(problems(["--interval", "soon"])[0], /--interval/);
  assert.equal(run(["--sysfs-root", "/tmp/fake"]).sysfsRoot, "/tmp/fake");
  assert.equal(run(["--http-max-body", "65536"]).httpMaxBodyBytes, 65536);
});

Deno.test("the field inputs come from flags, the environment and the config file alike", async () => {
  await using dir = await tempDir();
  const map = join(dir.path, "map.json");
  await Deno.writeTextFile(map, '[{"name":"a","slave":1,"type":"holding","address":0,"datatype":"uint16"}]');
  const configFile = join(dir.path, "edgelog.json");
  await Deno.writeTextFile(configFile, JSON.stringify({ source: [`modbus:tcp://plc?map=${map}`, "serial:/run/gps"] }));
  const run = (args: string[], env: Record<string, string> = {}) => {
    const inv = parseInvocation({ args, env: (k) => env[k], readTextFile: Deno.readTextFileSync });
    return inv.command === "run" ? inv.config.sources.map((s) => s.kind) : [];
  };
  assert.deepEqual(run(["--source", "mqtt://b/home/#", "--source", "serial:/run/gps?baud=4800"]), ["mqtt", "serial"]);
  assert.deepEqual(run([], { EDGELOG_SOURCE: "mqtts://b/t/+?unit=V; sysfs" }), ["mqtt", "sysfs"]);
  assert.deepEqual(run(["--config", configFile]), ["modbus", "serial"]);
  assert.throws(() => run([], { EDGELOG_SOURCE: "modbus:tcp://plc" }), /EDGELOG_SOURCE: .*map= is required/);
});
