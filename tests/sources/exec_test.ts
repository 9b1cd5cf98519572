import assert from "node:assert/strict";
import type { Logger } from "@logtape/logtape";
import { parseInvocation, type RunConfig } from "../../lib/config.ts";
import type { Reading } from "../../lib/reading.ts";
import type { ExecSpec } from "../../lib/sources/mod.ts";
import { processRunning, waitFor } from "../_helpers/process.ts";
import { Rejections } from "../../lib/sources/_rejections.ts";
import { ExecSource } from "../../lib/sources/exec.ts";

function spec(source: string): ExecSpec {
  const inv = parseInvocation({ args: ["--source", source], env: () => undefined, readTextFile: () => "" });
  return (inv as { config: RunConfig }).config.sources[0].exec!;
}

function rig(source: string) {
  const rejected: Record<string, number> = {};
  const errors: Record<string, unknown>[] = [];
  const log = {
    warn: () => {},
    info: () => {},
    error: (_m: string, p: Record<string, unknown>) => errors.push(p),
  } as unknown as Logger;
  const got: Reading[] = [];
  const exec = new ExecSource({
    spec: spec(source),
    intervalMs: 20,
    rejections: new Rejections("exec", { reject: (r, n = 1) => rejected[r] = (rejected[r] ?? 0) + n }, { log }),
    log,
  });
  const emit = (readings: readonly Reading[]) => (got.push(...readings), readings.length);
  return { exec, got, rejected, errors, emit };
}

Deno.test("exec parses NDJSON and text lines from a real command and counts bad lines", async () => {
  const r = rig(
    `exec:sh -c 'echo "{\\"sensor\\":\\"j\\",\\"value\\":1.5,\\"unit\\":\\"V\\"}"; echo "t 2 C"; echo "bad line here x"; echo "n NaN"'`,
  );
  r.exec.start(r.emit);
  await waitFor(() => r.got.length >= 2);
  await r.exec.stop();
  assert.deepEqual(r.got.slice(0, 2).map((x) => [x.sensor, x.value, x.unit]), [["j", 1.5, "V"], ["t", 2, "C"]]);
  assert.ok(r.rejected.bad_text_line >= 1 && r.rejected.not_finite >= 1);
  assert.deepEqual(r.errors, []);
});

Deno.test("a failing command is logged with its exit code and stderr tail, and retried", async () => {
  const r = rig(`exec:sh -c 'echo boom-$$ >&2; exit 3'`);
  const outcome = await r.exec.runOnce();
  assert.equal(outcome.code, 3);
  assert.match(outcome.stderrTail, /^boom-\d+$/);
  const runs: number[] = [];
  const exec = new ExecSource({
    spec: spec(`exec:sh -c 'echo run >&2; exit 3'`),
    intervalMs: 10,
    rejections: new Rejections("exec", { reject: () => {} }),
    log: { error: (_m: string, p: Record<string, unknown>) => runs.push(p.failures as number) } as unknown as Logger,
    failureLogIntervalMs: 0,
  });
  exec.start(r.emit);
  await waitFor(() => runs.length >= 3);
  await exec.stop();
  assert.deepEqual(runs.slice(0, 3), [1, 2, 3]);
});

Deno.test("a command that hangs is killed at its timeout, with whatever it started", async () => {
  const pids = await Deno.makeTempFile({ prefix: "edgelog-exec-pids-" });
  try {
    // The shell and a background child it started both hang; both pids are written down first.
    const r = rig(`exec:timeout=300ms sh -c 'echo "a 1"; sleep 60 & echo $! $$ > ${pids}; sleep 60'`);
    const t0 = performance.now();
    const outcome = await r.exec.runOnce();
    assert.equal(outcome.timedOut, true);
    assert.equal(outcome.signal, "SIGKILL");
    assert.ok(performance.now() - t0 < 30_000);
    assert.equal(r.got.length, 0, "not started, so nothing emitted");
    const started = (await Deno.readTextFile(pids)).trim().split(/\s+/).map(Number);
    assert.equal(started.length, 2, `the shell and its child: ${started}`);
    await waitFor(() => started.every((pid) => !processRunning(pid)), 10_000, () => {
      return `still running: ${started.filter(processRunning).join(", ")}`;
    });
  } finally {
    await Deno.remove(pids);
  }
});

Deno.test("a command printing more than max-output is killed", async () => {
  const r = rig(`exec:max-output=10000 interval=1h sh -c 'while :; do echo "a 1"; done'`);
  r.exec.start(r.emit);
  await waitFor(() => r.errors.length > 0, 20_000);
  await r.exec.stop();
  assert.match(String(r.errors[0].what), /more than 10000 bytes/);
  assert.ok(r.got.length > 0 && r.got.length <= 10000 / 4, `${r.got.length} readings from one run`);
});

Deno.test("a command that cannot be started is reported, not thrown", async () => {
  const r = rig(`exec:/nonexistent/sensor-tool`);
  const outcome = await r.exec.runOnce();
  assert.ok(outcome.spawnError);
});

Deno.test("stream mode reads a long-running command and stops it on stop", async () => {
  const r = rig(`exec:mode=stream sh -c 'i=0; while :; do i=$((i+1)); echo "s $i"; sleep 0.01; done'`);
  r.exec.start(r.emit);
  await waitFor(() => r.got.length >= 5);
  await r.exec.stop();
  const n = r.got.length;
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(r.got.length, n, "nothing after stop");
  assert.deepEqual(r.got.slice(0, 5).map((x) => x.value), [1, 2, 3, 4, 5]);
  assert.deepEqual(r.errors, [], "a stop is not a failure");
});
