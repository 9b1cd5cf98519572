import assert from "node:assert/strict";
import { parseInvocation } from "../../lib/config.ts";
import type { ConfigError } from "../../lib/errors.ts";

const VM = "http://127.0.0.1:8428/write";
const MQ = "mqtt://127.0.0.1:1883/edgelog/{host}/{sensor}";

function parse(args: string[], env: Record<string, string> = {}, file?: unknown) {
  const inv = parseInvocation({
    args: file === undefined ? args : ["--config", "c.json", ...args],
    env: (name) => env[name],
    readTextFile: () => JSON.stringify(file),
  });
  assert.equal(inv.command, "run");
  return inv.command === "run" ? inv.config.forward : [];
}

Deno.test("no --forward means no forwarders", () => {
  assert.deepEqual(parse([]), []);
});

Deno.test("--forward may be given several times", () => {
  assert.deepEqual(parse(["--forward", VM, "--forward", MQ]), [VM, MQ]);
});

Deno.test("EDGELOG_FORWARD holds several URLs separated by semicolons or newlines", () => {
  assert.deepEqual(parse([], { EDGELOG_FORWARD: `${VM} ; ${MQ}` }), [VM, MQ]);
  assert.deepEqual(parse([], { EDGELOG_FORWARD: `${VM}\n${MQ}` }), [VM, MQ]);
});

Deno.test("the config file takes an array (or one string) and flags replace the whole list", () => {
  assert.deepEqual(parse([], {}, { forward: [VM, MQ] }), [VM, MQ]);
  assert.deepEqual(parse([], {}, { forward: VM }), [VM]);
  assert.deepEqual(parse(["--forward", MQ], { EDGELOG_FORWARD: VM }, { forward: [VM] }), [MQ]);
});

Deno.test("a bad forward URL and a duplicate name are configuration errors naming the source", () => {
  assert.throws(() => parse(["--forward", "ftp://x/y"]), (e: ConfigError) => {
    assert.match(e.problems[0], /^--forward: .*unsupported scheme 'ftp:'/);
    return true;
  });
  assert.throws(() => parse([], { EDGELOG_FORWARD: `${VM};${VM}` }), (e: ConfigError) => {
    assert.match(e.problems[0], /^environment EDGELOG_FORWARD: two forwarders named/);
    return true;
  });
  assert.throws(() => parse([], {}, { forward: [VM, 3] }), (e: ConfigError) => {
    assert.match(e.problems[0], /expected an array of strings/);
    return true;
  });
});
