import assert from "node:assert/strict";
import { ConfigError, parseInvocation, parseSizeBytes } from "../lib/config.ts";

const parse = (args: string[], env: Record<string, string> = {}) =>
  parseInvocation({ args, env: (n) => env[n], readTextFile: () => "{}" });

Deno.test("retention settings come from flags and EDGELOG_* variables, off by default", () => {
  const off = parse([]);
  assert.ok(off.command === "run");
  assert.equal(off.config.retentionMs, undefined);
  assert.equal(off.config.maxDbSizeBytes, undefined);
  assert.equal(off.config.downsampleAfterMs, undefined);
  assert.equal(off.config.downsampleBucketMs, 60_000);
  const on = parse(["--retention", "30d", "--downsample-after", "7d", "--downsample-bucket", "5m"], {
    EDGELOG_MAX_DB_SIZE: "500MB",
  });
  assert.ok(on.command === "run");
  assert.equal(on.config.retentionMs, 30 * 86_400_000);
  assert.equal(on.config.maxDbSizeBytes, 500 * 1024 * 1024);
  assert.equal(on.config.downsampleAfterMs, 7 * 86_400_000);
  assert.equal(on.config.downsampleBucketMs, 300_000);
});

Deno.test("bad retention settings are all reported at once, each naming its source", () => {
  assert.throws(
    () => parse(["--retention", "soon", "--max-db-size", "12"], { EDGELOG_DOWNSAMPLE_BUCKET: "0s" }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.problems.length, 3);
      assert.match(e.problems.join("\n"), /EDGELOG_DOWNSAMPLE_BUCKET/);
      assert.match(e.problems.join("\n"), /--retention: expected a duration/);
      assert.match(e.problems.join("\n"), /--max-db-size: must be at least 1048576 bytes/);
      return true;
    },
  );
});

Deno.test("parseSizeBytes reads sizes in powers of 1024", () => {
  assert.equal(parseSizeBytes("1024"), 1024);
  assert.equal(parseSizeBytes("2KB"), 2048);
  assert.equal(parseSizeBytes("1.5 MiB"), 1.5 * 1024 * 1024);
  assert.equal(parseSizeBytes("1g"), 1024 ** 3);
  assert.throws(() => parseSizeBytes("big"));
  assert.throws(() => parseSizeBytes("-1MB"));
});
