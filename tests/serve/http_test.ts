import assert from "node:assert/strict";
import { ConfigError } from "../../lib/errors.ts";
import { HttpServer, isLoopback, parseListen, urlForListen } from "../../lib/serve/mod.ts";

/** A listener on a free loopback port with one private and one public route; stopped by the disposer. */
async function server(token?: string): Promise<{ base: string } & AsyncDisposable> {
  const http = new HttpServer({ listen: "127.0.0.1:0", token });
  http.route("GET", "/data", () => new Response("secret"));
  http.route("POST", "/data", async (request) => new Response(`got ${(await request.text()).length}`));
  http.route("GET", "/healthz", () => new Response("fine"), { public: true });
  await http.start();
  return { base: `http://127.0.0.1:${http.port}`, [Symbol.asyncDispose]: () => http.stop() };
}

async function fetchText(url: string, init?: RequestInit): Promise<{ status: number; body: string; headers: Headers }> {
  const response = await fetch(url, init);
  return { status: response.status, body: await response.text(), headers: response.headers };
}

Deno.test("with a token, data routes answer 401 without it or with a wrong one, and 200 with it", async () => {
  await using s = await server("s3cret");
  const none = await fetchText(`${s.base}/data`);
  assert.equal(none.status, 401);
  assert.equal(none.headers.get("www-authenticate"), "Bearer");
  assert.equal((await fetchText(`${s.base}/data`, { headers: { authorization: "Bearer wrong" } })).status, 401);
  assert.equal((await fetchText(`${s.base}/data`, { headers: { authorization: "Bearer s3cret!" } })).status, 401);
  assert.equal((await fetchText(`${s.base}/data`, { headers: { authorization: "Basic s3cret" } })).status, 401);
  const ok = await fetchText(`${s.base}/data`, { headers: { authorization: "Bearer s3cret" } });
  assert.deepEqual([ok.status, ok.body], [200, "secret"]);
});

Deno.test("the Bearer scheme is matched case-insensitively (RFC 9110 §11.1)", async () => {
  await using s = await server("s3cret");
  for (const scheme of ["bearer", "BEARER", "BeArEr"]) {
    const ok = await fetchText(`${s.base}/data`, { headers: { authorization: `${scheme} s3cret` } });
    assert.deepEqual([ok.status, ok.body], [200, "secret"], scheme);
  }
  assert.equal((await fetchText(`${s.base}/data`, { headers: { authorization: "bearer wrong" } })).status, 401);
});

Deno.test("HEAD answers every GET route with the GET status and headers and no content (RFC 9110 §9.3.2)", async () => {
  await using s = await server("s3cret");
  const auth = { authorization: "Bearer s3cret" };
  const head = await fetchText(`${s.base}/data`, { method: "HEAD", headers: auth });
  assert.deepEqual([head.status, head.body], [200, ""]);
  assert.equal(head.headers.get("content-type"), "text/plain;charset=UTF-8");
  assert.equal((await fetchText(`${s.base}/data`, { method: "HEAD" })).status, 401, "the token is still required");
  assert.deepEqual([(await fetchText(`${s.base}/healthz`, { method: "HEAD" })).status], [200]);
  assert.equal((await fetchText(`${s.base}/nothing`, { method: "HEAD" })).status, 404);
});

Deno.test("public routes answer without the token", async () => {
  await using s = await server("s3cret");
  const health = await fetchText(`${s.base}/healthz`);
  assert.deepEqual([health.status, health.body], [200, "fine"]);
});

Deno.test("without a token every route is open on loopback", async () => {
  await using s = await server();
  assert.equal((await fetchText(`${s.base}/data`)).body, "secret");
  assert.equal((await fetchText(`${s.base}/data`, { method: "POST", body: "abc" })).body, "got 3");
});

Deno.test("a known path with another method is 405 naming the allowed methods; an unknown path is 404", async () => {
  await using s = await server();
  const wrong = await fetchText(`${s.base}/data`, { method: "DELETE" });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("allow"), "GET, HEAD, POST");
  assert.equal((await fetchText(`${s.base}/healthz`, { method: "POST" })).headers.get("allow"), "GET, HEAD");
  assert.equal((await fetchText(`${s.base}/nothing`)).status, 404);
});

Deno.test("a non-loopback listener without a token is refused as a configuration error", () => {
  assert.throws(
    () => new HttpServer({ listen: "0.0.0.0:8080" }),
    (e) => e instanceof ConfigError && /requires --http-token/.test(e.message),
  );
  new HttpServer({ listen: "0.0.0.0:8080", token: "t" }); // accepted with a token
});

Deno.test("listen addresses parse as HOST:PORT, [v6]:PORT and :PORT, and bad ones name --listen", () => {
  assert.deepEqual(parseListen("127.0.0.1:8080"), { hostname: "127.0.0.1", port: 8080 });
  assert.deepEqual(parseListen("[::1]:9464"), { hostname: "::1", port: 9464 });
  assert.deepEqual(parseListen(":80"), { hostname: "127.0.0.1", port: 80 });
  for (const bad of ["8080", "host:", "host:99999", "a b:1"]) {
    assert.throws(() => parseListen(bad), (e) => e instanceof ConfigError && /^--listen: /.test(e.message), bad);
  }
  assert.ok(isLoopback("127.1.2.3") && isLoopback("::1") && isLoopback("localhost"));
  assert.ok(!isLoopback("0.0.0.0") && !isLoopback("192.0.2.1"));
});

Deno.test("the health command's URL for a listen address reaches wildcard listeners on loopback", () => {
  assert.equal(urlForListen("0.0.0.0:8080"), "http://127.0.0.1:8080");
  assert.equal(urlForListen("[::]:8080"), "http://[::1]:8080");
  assert.equal(urlForListen("127.0.0.1:9464"), "http://127.0.0.1:9464");
  assert.equal(urlForListen("[fd00::1]:1"), "http://[fd00::1]:1");
});
