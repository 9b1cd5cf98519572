import assert from "node:assert/strict";
import { join } from "node:path";
import { bootClock, syncSourceOf } from "../lib/clock_sync.ts";
import { tempDir } from "./_helpers/database.ts";

Deno.test("file:PATH says synchronized while the file exists, like timesyncd's", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "synchronized");
  const sync = syncSourceOf(`file:${path}`)!;
  assert.equal(sync.name, `file:${path}`);
  assert.equal(await sync.synchronized(), false);
  Deno.writeTextFileSync(path, "");
  assert.equal(await sync.synchronized(), true);
  assert.equal(syncSourceOf("none"), undefined);
  assert.equal(syncSourceOf("timesyncd")?.name, "timesyncd");
});

Deno.test("chrony: synchronized unless chronyc's leap status says not synchronised, or chronyc fails", async () => {
  await using dir = await tempDir();
  const chronyc = join(dir.path, "chronyc");
  const fake = (leap: string, code = 0) =>
    Deno.writeTextFileSync(
      chronyc,
      `#!/bin/sh\nprintf 'Reference ID    : 00000000 ()\\nLeap status     : ${leap}\\n'\nexit ${code}\n`,
      {
        mode: 0o755,
      },
    );
  const path = Deno.env.get("PATH") ?? "";
  Deno.env.set("PATH", `${dir.path}:${path}`);
  try {
    // A fresh source each time: one asks chronyc at most every 10 s.
    fake("Not synchronised");
    assert.equal(await syncSourceOf("chrony")!.synchronized(), false);
    fake("Normal");
    assert.equal(await syncSourceOf("chrony")!.synchronized(), true);
    fake("Normal", 1);
    assert.equal(await syncSourceOf("chrony")!.synchronized(), false);
  } finally {
    Deno.env.set("PATH", path);
  }
});

Deno.test("the boot clock names this boot and counts up with the monotonic clock", async () => {
  const a = bootClock();
  if (a === undefined) return; // not Linux, or /proc unreadable: the caller then abandons earlier runs
  await new Promise((resolve) => setTimeout(resolve, 50));
  const b = bootClock()!;
  assert.equal(b.bootId, a.bootId);
  assert.ok(b.uptimeMs - a.uptimeMs >= 40 && b.uptimeMs - a.uptimeMs < 1000, `${b.uptimeMs - a.uptimeMs}`);
});
