import assert from "node:assert/strict";
import { ForwardTargetError, parseForwardTarget } from "../../lib/forward/target.ts";

Deno.test("an http URL is line protocol with precision=ms and pass-through query parameters", () => {
  const t = parseForwardTarget("http://127.0.0.1:8086/api/v2/write?org=acme&bucket=edge&token=s3cret&gzip=true");
  assert.equal(t.kind, "influx");
  if (t.kind !== "influx") return;
  assert.equal(t.url, "http://127.0.0.1:8086/api/v2/write?org=acme&bucket=edge&precision=ms");
  assert.equal(t.authorization, "Token s3cret");
  assert.equal(t.gzip, true);
  assert.equal(t.name, "http://127.0.0.1:8086/api/v2/write");
  assert.ok(!t.display.includes("s3cret"));
});

Deno.test("user and password in an http URL become basic authentication and never appear in logs", () => {
  const t = parseForwardTarget("https://bob:pa55@vm.example:8428/write?name=central");
  assert.equal(t.kind === "influx" && t.authorization, `Basic ${btoa("bob:pa55")}`);
  assert.equal(t.name, "central");
  assert.ok(!t.display.includes("pa55"));
});

Deno.test("an mqtt URL gives the broker, the topic template and credentials", () => {
  const t = parseForwardTarget("mqtts://dev:pw@broker:8883/edgelog/{host}/{sensor}?qos=1&batch=500");
  assert.equal(t.kind, "mqtt");
  if (t.kind !== "mqtt") return;
  assert.equal(t.brokerUrl, "mqtts://broker:8883");
  assert.equal(t.topic, "edgelog/{host}/{sensor}");
  assert.equal(t.username, "dev");
  assert.equal(t.password, "pw");
  assert.equal(t.batchSize, 500);
  assert.equal(t.name, "mqtts://broker:8883/edgelog/{host}/{sensor}");
});

Deno.test("unusable forward URLs are refused with a reason", () => {
  for (
    const bad of [
      "ftp://x/y",
      "not a url",
      "mqtt://broker",
      "mqtt://broker/a/#",
      "mqtt://broker/t?qos=2",
      "http://h/write?precision=s",
      "http://h/write?batch=0",
      "http://h/write?gzip=maybe",
      "mqtt://broker/t?colour=red",
    ]
  ) {
    assert.throws(() => parseForwardTarget(bad), ForwardTargetError, bad);
  }
});
