import assert from "node:assert/strict";
import { runOnce } from "../_helpers/process.ts";

Deno.test("edgelog health exits 0 or 1 only: a usage error is 1 (Docker's HEALTHCHECK reserves 2)", async () => {
  const cases: [string[], RegExp][] = [
    [["health", "--frobnicate"], /unknown option --frobnicate; see 'edgelog health --help'/],
    [["health", "--timeout"], /--timeout needs a value/],
    [["health", "--url", "http://127.0.0.1:1", "--timeout", "0"], /--timeout: expected seconds > 0/],
    [["health"], /give --url .* or set EDGELOG_LISTEN/],
    [["health", "--url", "http://127.0.0.1:1"], /127\.0\.0\.1:1/],
  ];
  for (const [args, want] of cases) {
    const { code, stderr } = await runOnce(args, { env: { EDGELOG_LISTEN: "" } });
    assert.equal(code, 1, `${args.join(" ")}: ${stderr}`);
    assert.match(stderr, want);
  }
  assert.equal((await runOnce(["health", "--help"])).code, 0);
});
