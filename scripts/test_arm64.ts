/**
 * `deno task test:arm64 [--quick]`: edgelog on Deno's arm64 build, emulated by qemu-user on this
 * machine. The tests run on this (native) Deno; every edgelog they start runs on the arm64 Deno
 * (`EDGELOG_TEST_DENO`), with its own DENO_DIR under .cache/arm64/. Runs the core stop tests
 * (SIGTERM, SIGINT, SIGKILL + restart, PID 1, the writer lock, readers, usage errors), the
 * container stand-in with the arm64 rootfs, and a short fault-suite subset (restart cycles,
 * SIGKILL during start-up). `--quick` (CI) runs a
 * few of them. Timings under emulation are a sanity check, not performance.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

async function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd: ROOT, env, stdout: "piped", stderr: "inherit" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${out.code}):\n${text}`);
  return text;
}

/** Runs `deno test` on this Deno with the arm64 environment; returns whether it passed. */
async function denoTest(env: Record<string, string>, filter: string, files: string[]): Promise<boolean> {
  console.error(`\n== arm64: ${files.join(" ")} --filter '${filter}'`);
  const status = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--no-prompt", "--allow-all", "--filter", filter, ...files],
    cwd: ROOT,
    env,
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  return status.success;
}

const quick = Deno.args.includes("--quick");
const deno = (await run("bash", ["scripts/arm64-deno.sh", "--check"])).trim();
const denoDir = `${ROOT}.cache/arm64/deno-dir`;
const arm64 = ["env", `DENO_DIR=${denoDir}`, "qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu", deno];
// The program's npm packages, fetched by the arm64 Deno itself.
await run(arm64[0], [...arm64.slice(1), "cache", "main.ts", "lib/serve/read_worker.ts"]);
console.error((await run(arm64[0], [...arm64.slice(1), "--version"])).split("\n")[0] + " (aarch64, qemu-user)");
const env = {
  EDGELOG_TEST_DENO: arm64.join(" "),
  EDGELOG_ARM64_DENO: deno,
  EDGELOG_TEST_TIMEOUT_SCALE: "6",
  DENO_NO_UPDATE_CHECK: "1",
  NO_COLOR: "1",
};
const results: boolean[] = [];
if (quick) {
  results.push(
    await denoTest(env, "/^(SIGTERM under load|SIGKILL leaves|SIGTERM as PID 1|a second writer)/", [
      "tests/integration/stop_test.ts",
    ]),
  );
  results.push(await denoTest(env, "arm64 library list", ["tests/faults/container_stop_test.ts"]));
} else {
  // Everything in stop_test.ts but the start-up race ("SIGTERM during start-up"): its check
  // (SigCgt in /proc) sees qemu's handlers, not the program's, so it cannot tell when to signal.
  const stopTests = "/^(SIGTERM under load|SIGINT under load|the default database path|SIGTERM as PID 1|" +
    "a second SIGTERM|SIGKILL leaves|a second writer|readers on their own|a bad flag|--version)/";
  results.push(await denoTest(env, stopTests, ["tests/integration/stop_test.ts"]));
  results.push(await denoTest(env, "(arm64)", ["tests/faults/container_stop_test.ts"]));
  // The fault-suite subset: SIGTERM/SIGKILL restart cycles on one database, and SIGKILL during
  // start-up. (The SIGKILL-at-random-moments test also bounds how old the newest committed reading
  // may be, a timing that emulation does not meet; its durability checks are covered here.)
  results.push(
    await denoTest({ ...env, EDGELOG_FAULT_CYCLES: "4" }, "start/stop cycles", ["tests/faults/restart_cycles_test.ts"]),
  );
  results.push(
    await denoTest({ ...env, EDGELOG_FAULT_TRIALS: "3" }, "SIGKILL during start-up", [
      "tests/faults/hard_kill_test.ts",
    ]),
  );
}
const failed = results.filter((ok) => !ok).length;
console.error(`\narm64${quick ? " (quick)" : ""}: ${results.length - failed} of ${results.length} test runs passed`);
Deno.exit(failed === 0 ? 0 : 1);
