import assert from "node:assert/strict";
import type { Logger } from "@logtape/logtape";
import { Rejections } from "../../lib/sources/_rejections.ts";

Deno.test("every rejection is counted by reason but logged at most once per reason and interval", () => {
  const counted: Record<string, number> = {};
  const logged: Record<string, unknown>[] = [];
  let now = 0;
  const log = { warn: (_m: string, props: Record<string, unknown>) => logged.push(props) } as unknown as Logger;
  const r = new Rejections("test", { reject: (reason, n = 1) => counted[reason] = (counted[reason] ?? 0) + n }, {
    logIntervalMs: 1000,
    now: () => now,
    log,
  });
  for (let i = 0; i < 500; i++) r.reject("invalid_json", "bad");
  r.reject("not_finite", "nan");
  r.reject("not_finite", "nan", "line 3", 4);
  assert.deepEqual(counted, { invalid_json: 500, not_finite: 5 });
  assert.equal(logged.length, 2);
  now = 1500;
  r.reject("invalid_json", "bad");
  assert.equal(logged.length, 3);
  assert.equal(logged[2].unlogged, 499, "the next line says how many were not logged");
});
