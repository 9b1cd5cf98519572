import assert from "node:assert/strict";
import { ConfigError } from "../lib/errors.ts";
import { bucketStart, parseBucketMs, parseDurationMs, parseSizeBytes, parseTime } from "../lib/units.ts";

const NOW = Date.UTC(2026, 0, 31, 12, 0, 0);

Deno.test("parseDurationMs reads bare numbers in the given unit and explicit units, and rejects the rest", () => {
  assert.equal(parseDurationMs("30d", "s"), 30 * 86_400_000);
  assert.equal(parseDurationMs(60, "s"), 60_000);
  assert.equal(parseDurationMs("1.5s", "ms"), 1500);
  assert.throws(() => parseDurationMs("-1s", "s"));
  assert.throws(() => parseDurationMs("1 fortnight", "s"));
});

Deno.test("parseSizeBytes reads sizes in powers of 1024", () => {
  assert.equal(parseSizeBytes("1024"), 1024);
  assert.equal(parseSizeBytes("2KB"), 2048);
  assert.equal(parseSizeBytes("1.5 MiB"), 1.5 * 1024 * 1024);
  assert.equal(parseSizeBytes("1g"), 1024 ** 3);
  assert.throws(() => parseSizeBytes("big"));
  assert.throws(() => parseSizeBytes("-1MB"));
});

Deno.test("parseTime reads ISO 8601, unix ms, now and relative expressions", () => {
  assert.equal(parseTime("2026-01-31T12:00:00Z", "--since"), NOW);
  assert.equal(parseTime("2026-01-31T13:00:00+01:00", "--since"), NOW);
  assert.equal(parseTime("2026-01-31", "--since"), Date.UTC(2026, 0, 31));
  assert.equal(parseTime(String(NOW), "--since"), NOW);
  assert.equal(parseTime("now", "--since", NOW), NOW);
  assert.equal(parseTime("-1h", "--since", NOW), NOW - 3_600_000);
  assert.equal(parseTime("now-90s", "--since", NOW), NOW - 90_000);
  assert.equal(parseTime("-1.5d", "--since", NOW), NOW - 1.5 * 86_400_000);
  assert.equal(parseTime("-2w", "--since", NOW), NOW - 14 * 86_400_000);
});

Deno.test("parseTime rejects what it cannot read with a message naming the option", () => {
  for (const bad of ["yesterday", "1h", "-1y", "2026-13-45", "", "12:00"]) {
    assert.throws(() => parseTime(bad, "--until", NOW), (e: unknown) => {
      assert.ok(e instanceof ConfigError, bad);
      assert.match(e.message, /^--until: cannot read/);
      return true;
    });
  }
});

Deno.test("parseBucketMs reads widths and rejects zero and garbage", () => {
  assert.equal(parseBucketMs("1m", "--every"), 60_000);
  assert.equal(parseBucketMs("15", "--every"), 15_000);
  assert.equal(parseBucketMs("250ms", "--every"), 250);
  for (const bad of ["0s", "fast", "-1m", "400d"]) assert.throws(() => parseBucketMs(bad, "--every"), ConfigError);
});

Deno.test("bucketStart aligns to the epoch, also before 1970", () => {
  assert.equal(bucketStart(125_000, 60_000), 120_000);
  assert.equal(bucketStart(-1, 60_000), -60_000);
});
