/**
 * Scenario 3: the program as PID 1 of a fresh PID namespace, chrooted into a rootfs that holds
 * only what a `FROM scratch` image gives it: the deno binary, the libraries `ldd` lists, the
 * program and its npm cache, and the data directory, running as the image's non-root user.
 * `docker stop` semantics: SIGTERM, then SIGKILL after 10 s. Also checks that the Dockerfile's
 * final stage copies exactly that.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { tempDir } from "../_helpers/database.ts";
import { requirement } from "../_helpers/requirements.ts";
import {
  catchesSignal,
  childPid,
  LoggerProcess,
  MAIN,
  ROOT,
  runOnce,
  startFlags,
  waitFor,
} from "../_helpers/process.ts";
import {
  assertGraceful,
  exitedWithin,
  exitSummary,
  FaultRandom,
  faultTrials,
  killQuietly,
  medianMax,
  printFigures,
  readingsSummary,
  stderrTail,
} from "./_faults.ts";

/** docker stop's grace period before SIGKILL. */
const DOCKER_GRACE_MS = 10_000;
/** The non-root user of the image (Dockerfile `USER`). */
const IMAGE_USER = "65532:65532";

/** The absolute library paths `ldd` lists for `binary` (the vDSO has no file and is left out). */
async function linkedLibraries(binary: string): Promise<string[]> {
  const out = await new Deno.Command("ldd", { args: [binary], stdout: "piped" }).output();
  assert.ok(out.success, "ldd runs");
  const text = new TextDecoder().decode(out.stdout);
  return [...text.matchAll(/(\/\S+) \(0x[0-9a-f]+\)/g)].map((m) => m[1]).sort();
}

/** Where Deno keeps its npm cache (`deno info --json`). */
async function npmCacheDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).npmCache;
}

/** Builds the scratch-like rootfs; returns the libraries it holds. */
async function buildRootfs(root: string): Promise<string[]> {
  Deno.chmodSync(root, 0o755); // an image's / is world-traversable; temp dirs are not
  Deno.copyFileSync(Deno.execPath(), join(root, "deno"));
  const libs = await linkedLibraries(Deno.execPath());
  for (const lib of libs) {
    Deno.mkdirSync(join(root, dirname(lib)), { recursive: true });
    Deno.copyFileSync(Deno.realPathSync(lib), join(root, lib));
  }
  const app = join(root, "app");
  for (const file of ["main.ts", "deno.json", "deno.lock"]) {
    Deno.mkdirSync(app, { recursive: true });
    Deno.copyFileSync(join(ROOT, file), join(app, file));
  }
  await copyTree(join(ROOT, "lib"), join(app, "lib"));
  await run(Deno.execPath(), ["cache", MAIN]); // the npm packages must be in the cache we copy
  await copyTree(await npmCacheDir(), join(root, "deno-dir", "npm"));
  for (const dir of ["data", "proc"]) Deno.mkdirSync(join(root, dir), { mode: 0o700 });
  // The image's user owns its data directory and the (writable) Deno cache.
  const [uid, gid] = IMAGE_USER.split(":").map(Number);
  Deno.chownSync(join(root, "data"), uid, gid);
  await run("chown", ["-R", IMAGE_USER, join(root, "deno-dir")]);
  return libs;
}

async function copyTree(from: string, to: string): Promise<void> {
  Deno.mkdirSync(dirname(to), { recursive: true });
  await run("cp", ["-R", from, to]);
}

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stderr: "piped" }).output();
  assert.ok(out.success, `${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

/**
 * Starts the logger as PID 1 of a fresh PID + mount + network namespace, chrooted into `root`.
 * Like a container it has its own loopback, so the image's listener port (9464) never collides
 * with another run on the same machine.
 */
function spawnContainer(root: string, args: string[]): LoggerProcess {
  // bash brings the namespace's loopback up and mounts /proc for the new PID namespace, then
  // becomes (through chroot) the deno process.
  const child = new Deno.Command("unshare", {
    args: [
      "--pid",
      "--fork",
      "--mount",
      "--net",
      "--kill-child=SIGKILL",
      "bash",
      "-c",
      'ip link set lo up && mount -t proc proc "$0/proc" && exec chroot --userspec="$1" "$0" "${@:2}"',
      root,
      IMAGE_USER,
      "/deno",
      "run",
      "--cached-only",
      ...startFlags(),
      "/app/main.ts",
      ...args,
    ],
    // A container's environment: only what the image and `docker run -e` set.
    clearEnv: true,
    env: {
      PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
      DENO_DIR: "/deno-dir",
      ...imageEnv(),
      EDGELOG_LOG_FORMAT: "json",
      NO_COLOR: "1",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return new LoggerProcess(child);
}

/** The environment the image sets (its final stage's ENV lines), as `docker run` would pass it. */
function imageEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of finalStage(Deno.readTextFileSync(join(ROOT, "Dockerfile")))) {
    if (i.instruction !== "ENV") continue;
    const m = /^([A-Z_]+)=(\S+)$/.exec(i.args);
    assert.ok(m, `ENV in KEY=value form: ${i.args}`);
    env[m[1]] = m[2];
  }
  return env;
}

/** The final stage of a Dockerfile, parsed into its instructions (continuations joined). */
function finalStage(dockerfile: string): { instruction: string; args: string }[] {
  const lines = dockerfile.replaceAll(/\\\n/g, " ").split("\n").map((l) => l.trim());
  const instructions = lines.filter((l) => l && !l.startsWith("#")).map((l) => {
    const m = /^(\S+)\s*(.*)$/.exec(l)!;
    return { instruction: m[1].toUpperCase(), args: m[2] };
  });
  const lastFrom = instructions.findLastIndex((i) => i.instruction === "FROM");
  return instructions.slice(lastFrom);
}

const ldd = requirement("the Dockerfile's library check", { commands: { ldd: "libc-bin" } });

Deno.test("the Dockerfile's final stage copies exactly what the scratch rootfs needs", {
  ignore: ldd.ignore,
}, async () => {
  ldd.check();
  const stage = finalStage(Deno.readTextFileSync(join(ROOT, "Dockerfile")));
  assert.equal(stage[0].args, "scratch", "the final stage is FROM scratch");
  const copies = stage.filter((i) => i.instruction === "COPY").map((i) => {
    const parts = i.args.split(/\s+/).filter((p) => !p.startsWith("--chown"));
    assert.ok(parts[0].startsWith("--from="), `every COPY of the final stage comes from the build stage: ${i.args}`);
    return { from: parts[1], to: parts[2] };
  });
  const libs = await linkedLibraries(Deno.execPath());
  const copiedLibs = copies.filter((c) => c.to !== "/edgelog" && c.to !== "/data");
  assert.ok(libs.length > 0, "ldd lists the runtime's libraries");
  assert.deepEqual(copiedLibs.map((c) => c.to).sort(), libs, "exactly the libraries ldd lists for the runtime");
  for (const c of copiedLibs) assert.equal(c.from, c.to, "each library keeps its path");
  assert.deepEqual(copies.filter((c) => c.to === "/edgelog").map((c) => c.from), ["/src/dist/edgelog"]);
  assert.equal(copies.filter((c) => c.to === "/data").length, 1, "the data directory");
  assert.equal(copies.length, copiedLibs.length + 2, "nothing else is copied");
  const get = (name: string) => stage.filter((i) => i.instruction === name).map((i) => i.args);
  assert.deepEqual(get("ENV"), ["EDGELOG_DB=/data/edgelog.db", "EDGELOG_LISTEN=127.0.0.1:9464"]);
  assert.deepEqual(get("VOLUME"), ['["/data"]']);
  assert.deepEqual(get("STOPSIGNAL"), ["SIGTERM"]);
  assert.deepEqual(get("HEALTHCHECK"), ['CMD ["/edgelog","health"]']);
  assert.equal(get("USER").length, 1);
  assert.ok(!/^(0|root)(:|$)/.test(get("USER")[0]), "a non-root user");
  // The build stage's guard lists the same libraries, so a new base image fails the build.
  const guard = Deno.readTextFileSync(join(ROOT, "Dockerfile")).match(/printf '%s\\n' \\\n([\s\S]*?)\| sort/);
  assert.ok(guard, "the build stage checks ldd's list");
  assert.deepEqual(guard[1].split(/[\s\\]+/).filter(Boolean).sort(), copiedLibs.map((c) => c.to).sort());
});

const containerNeeds = requirement("the container-stop scenario", {
  root: true,
  commands: { unshare: "util-linux", nsenter: "util-linux", chroot: "coreutils", ip: "iproute2" },
});

Deno.test("as PID 1 in a scratch-like chroot, docker stop's SIGTERM commits everything well before SIGKILL", {
  ignore: containerNeeds.ignore,
}, async () => {
  containerNeeds.check();
  const trials = faultTrials(4);
  const random = new FaultRandom();
  await using dir = await tempDir("edgelog-fault-container-");
  const libs = await buildRootfs(dir.path);
  const db = join(dir.path, "data", "edgelog.db");
  const latencies: number[] = [];
  const codes: number[] = [];
  let rows = 0;
  for (let i = 0; i < trials; i++) {
    const p = spawnContainer(dir.path, ["--sim-rate", "50000"]);
    try {
      const pid1 = await childPid(p.pid);
      if (i === 0) {
        // docker stop during start-up: as soon as PID 1 has its handler.
        await waitFor(() => catchesSignal(pid1, 15), 30_000, () => stderrTail(p));
      } else {
        const start = await p.waitUntilLogging(30_000);
        assert.equal(start.pid, 1, "edgelog is PID 1 of its namespace");
        if (i === 1) {
          // The image's HEALTHCHECK (`/edgelog health`) against the container's loopback listener,
          // run inside the container's network namespace as Docker does.
          const health = await runOnce(["health"], {
            env: { EDGELOG_LISTEN: imageEnv().EDGELOG_LISTEN },
            prefix: ["nsenter", "--target", String(pid1), "--net", "--"],
          });
          assert.equal(health.code, 0, `HEALTHCHECK: ${health.stdout}${health.stderr}`);
        }
        await new Promise((r) => setTimeout(r, random.int(0, 1500)));
      }
      const t0 = performance.now();
      Deno.kill(pid1, "SIGTERM");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const killed = new Promise<"killed">((resolve) =>
        timer = setTimeout(() => {
          Deno.kill(pid1, "SIGKILL"); // docker stop's second step
          resolve("killed");
        }, DOCKER_GRACE_MS)
      );
      const first = await Promise.race([p.exited(), killed]);
      clearTimeout(timer);
      assert.notEqual(first, "killed", `exited before docker stop's SIGKILL; stderr:\n${stderrTail(p)}`);
      const status = await p.exited();
      latencies.push(performance.now() - t0);
      codes.push(status.code);
      const final = await assertGraceful(p, status, db, rows);
      rows += final.stored;
    } finally {
      await killQuietly(p);
    }
  }
  // docker stop right after docker start: PID 1 ignores a signal that has no handler yet.
  const earlyTrials = 2;
  let ignored = 0;
  for (let i = 0; i < earlyTrials; i++) {
    const p = spawnContainer(dir.path, ["--sim-rate", "50000"]);
    try {
      const pid1 = await childPid(p.pid);
      const handled = catchesSignal(pid1, 15);
      Deno.kill(pid1, "SIGTERM");
      if (handled) {
        const status = await exitedWithin(p, DOCKER_GRACE_MS);
        codes.push(status.code);
        rows += (await assertGraceful(p, status, db, rows)).stored;
        continue;
      }
      // No handler yet: PID 1 drops the signal, and the logger starts as if nothing happened.
      await p.waitUntilLogging(30_000);
      ignored++;
      Deno.kill(pid1, "SIGTERM");
      const status = await exitedWithin(p, DOCKER_GRACE_MS);
      codes.push(status.code);
      rows += (await assertGraceful(p, status, db, rows)).stored;
    } finally {
      await killQuietly(p);
    }
  }
  assert.equal(readingsSummary(db).rows, rows);
  assert.equal(Deno.statSync(db).uid, Number(IMAGE_USER.split(":")[0]), "written as the image's non-root user");
  const { median, max } = medianMax(latencies);
  printFigures([{
    scenario: "3. docker stop of PID 1 in a scratch-like chroot (SIGTERM, SIGKILL at 10 s)",
    trials: trials + earlyTrials,
    lost: 0,
    exits: exitSummary(codes),
    stopMs: `${median} / ${max}`,
    notes: `rootfs: deno + ${libs.length} libraries from ldd + app + npm cache + /data; user ${IMAGE_USER}; ` +
      `1 stop during start-up; SIGTERM at delay 0 dropped by PID 1 in ${ignored}/${earlyTrials} (a second one stopped it)`,
  }], random.seed);
});
