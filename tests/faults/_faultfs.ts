/**
 * Drives `_faultfs.py`, a fault-injecting FUSE filesystem, from tests. It mirrors a backing
 * directory; written data stays in memory until `fsync`/`fdatasync` (namespace changes until a
 * directory fsync), so a {@link FaultFs.cut} drops everything unsynced, like a power cut, and
 * fails every later operation with EIO. It also injects errors (EIO, ENOSPC, …) into reads,
 * writes and fsyncs on chosen paths ({@link FaultFs.fault}). The consistency model and the
 * control protocol are described at the top of `_faultfs.py`.
 *
 * Needs root, `/dev/fuse`, `/usr/bin/python3` with Debian's `python3-fusepy`, and `fusermount3`
 * (`fuse3`): see {@link faultFsRequirement}.
 *
 * @example
 * ```ts
 * await using fs = await FaultFs.mount();
 * // … a program writes below fs.mnt …
 * await fs.fault("write EIO count=1 path=*.db-wal");
 * await fs.cut();         // resolves once the cut is in effect
 * await fs.unmount();     // what survived is in fs.backing
 * ```
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { waitFor } from "../_helpers/process.ts";
import { type Requirement, requirement } from "../_helpers/requirements.ts";

const SCRIPT = fileURLToPath(new URL("./_faultfs.py", import.meta.url));
const PYTHON = "/usr/bin/python3"; // Debian's python, the one python3-fusepy installs into

/** What a test using {@link FaultFs} needs; pass `ignore` to `Deno.test` and call `check()` first. */
export function faultFsRequirement(what: string): Requirement {
  return requirement(what, {
    root: true,
    commands: { fusermount3: "fuse3" },
    files: {
      "/dev/fuse": "the fuse kernel module",
      [PYTHON]: "Debian package python3",
      "/usr/lib/python3/dist-packages/fusepy.py": "Debian package python3-fusepy",
    },
  });
}

/** One reply of the control channel. */
export interface FaultFsReply {
  ok: boolean;
  error?: string;
  [key: string]: unknown;
}

/** Options of {@link FaultFs.mount}. */
export interface FaultFsOptions {
  /** Backing directory holding the durable state (default: a fresh one in the mount's temp dir). */
  backing?: string;
  /** Extra `_faultfs.py` flags, e.g. `["--meta-on-fsync"]` (ext4-like) or `["--direct-io"]`. */
  args?: string[];
  /** How long the mount may take to become ready (ms). */
  timeoutMs?: number;
}

/** True when `dir` is the mount point of a faultfs filesystem in this mount namespace. */
export function isFaultFsMounted(dir: string): boolean {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n").some((line) => {
    const fields = line.split(" ");
    const sep = fields.indexOf("-");
    return fields[4] === dir && sep > 0 && fields[sep + 1] === "fuse.faultfs";
  });
}

async function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, out: decode(out.stdout) + decode(out.stderr) };
}

/** A mounted faultfs: `mnt` is where programs write, `backing` what survives a cut. */
export class FaultFs implements AsyncDisposable {
  readonly #process: Deno.ChildProcess;
  readonly #status: Promise<Deno.CommandStatus>;
  readonly #stderr: string[] = [];
  readonly #stderrDone: Promise<void>;
  #exited = false;
  #unmounted = false;

  private constructor(
    /** The temp dir holding `backing/`, `mnt/` and the control socket. */
    readonly dir: string,
    /** The durable state. */
    readonly backing: string,
    /** The mount point. */
    readonly mnt: string,
    /** The control socket. */
    readonly control: string,
    process: Deno.ChildProcess,
  ) {
    this.#process = process;
    this.#status = process.status.then((s) => {
      this.#exited = true;
      return s;
    });
    this.#stderrDone = (async () => {
      for await (const chunk of process.stderr.pipeThrough(new TextDecoderStream())) this.#stderr.push(chunk);
    })();
  }

  /** Mounts a fresh faultfs; resolves once it answers on its control socket and is mounted. */
  static async mount(options: FaultFsOptions = {}): Promise<FaultFs> {
    const dir = await Deno.makeTempDir({ prefix: "edgelog-faultfs-" });
    const backing = options.backing ?? `${dir}/backing`;
    const mnt = `${dir}/mnt`;
    const control = `${dir}/control.sock`;
    await Deno.mkdir(backing, { recursive: true });
    await Deno.mkdir(mnt);
    const process = new Deno.Command(PYTHON, {
      args: [SCRIPT, backing, mnt, "--ctl", control, ...(options.args ?? [])],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const fs = new FaultFs(dir, backing, mnt, control, process);
    try {
      await waitFor(
        async () => {
          if (fs.#exited) throw new Error(`faultfs exited while mounting:\n${fs.log()}`);
          try {
            return (await fs.command("ping")).mounted === true && isFaultFsMounted(mnt);
          } catch {
            return false; // the socket is not there yet
          }
        },
        options.timeoutMs ?? 15_000,
        () => `faultfs not mounted at ${mnt}:\n${fs.log()}`,
      );
    } catch (e) {
      await fs.unmount().catch(() => {});
      throw e;
    }
    return fs;
  }

  /** The last lines faultfs wrote on stderr, for assertion messages. */
  log(): string {
    return this.#stderr.join("").split("\n").slice(-30).join("\n");
  }

  /** Sends one control command; resolves with its reply once it took effect, throws when it failed. */
  async command(line: string, timeoutMs = 15_000): Promise<FaultFsReply> {
    const conn = await Deno.connect({ transport: "unix", path: this.control });
    const timer = setTimeout(() => conn.close(), timeoutMs);
    try {
      await conn.write(new TextEncoder().encode(line + "\n"));
      const decoder = new TextDecoder();
      const chunk = new Uint8Array(65536);
      let text = "";
      while (!text.includes("\n")) {
        const n = await conn.read(chunk).catch(() => null);
        if (n === null) throw new Error(`faultfs control: no reply to '${line}' within ${timeoutMs} ms`);
        text += decoder.decode(chunk.subarray(0, n), { stream: true });
      }
      const reply = JSON.parse(text) as FaultFsReply;
      if (!reply.ok) throw new Error(`faultfs '${line}': ${reply.error}`);
      return reply;
    } finally {
      clearTimeout(timer);
      try {
        conn.close();
      } catch { /* closed by the timer */ }
    }
  }

  /** Power cut: drops everything not fsynced; every later operation fails with EIO. */
  cut(): Promise<FaultFsReply> {
    return this.command("cut");
  }

  /** Makes everything written so far durable, like sync(2). */
  sync(): Promise<FaultFsReply> {
    return this.command("sync");
  }

  /**
   * Adds a fault rule: `OP [ERRNO] [count=N|prob=P seed=S] [after=K] [path=GLOB] [drop=1]`, OP one
   * of read write fsync fdatasync fsyncdir truncate open create unlink rename mkdir rmdir flush any.
   *
   * @example
   * ```ts
   * await fs.fault("write ENOSPC prob=0.3 seed=7 path=*.db-wal");
   * await fs.fault("fsync EIO count=1 drop=1"); // "fsyncgate": the dirty data is dropped
   * ```
   */
  fault(rule: string): Promise<FaultFsReply> {
    return this.command(`fault ${rule}`);
  }

  /** Removes every fault rule, or those for `op`. */
  heal(op = ""): Promise<FaultFsReply> {
    return this.command(`heal ${op}`.trim());
  }

  /** Counters, rules, dirty bytes, pending namespace operations. */
  status(): Promise<FaultFsReply> {
    return this.command("status");
  }

  /**
   * Unmounts and waits for faultfs to exit: `fusermount3 -u` (retried while busy), then a lazy
   * unmount, then SIGTERM/SIGKILL. Without a cut before, a clean unmount persists everything.
   */
  async unmount(timeoutMs = 10_000): Promise<void> {
    if (this.#unmounted) return;
    this.#unmounted = true;
    const deadline = performance.now() + timeoutMs;
    const errors: string[] = [];
    while (!this.#exited && isFaultFsMounted(this.mnt) && performance.now() < deadline - timeoutMs / 2) {
      const r = await run("fusermount3", ["-u", this.mnt]);
      if (r.code === 0) break;
      errors.push(r.out.trim());
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (!this.#exited && isFaultFsMounted(this.mnt)) {
      const r = await run("fusermount3", ["-u", "-z", this.mnt]);
      if (r.code !== 0) errors.push(r.out.trim(), (await run("umount", ["-l", this.mnt])).out.trim());
    }
    try {
      await waitFor(() => this.#exited, Math.max(100, deadline - performance.now()));
    } catch {
      errors.push("faultfs did not exit; killing it");
      try {
        this.#process.kill("SIGTERM");
        await waitFor(() => this.#exited, 2_000);
      } catch {
        try {
          this.#process.kill("SIGKILL");
        } catch { /* gone meanwhile */ }
      }
      if (isFaultFsMounted(this.mnt)) await run("umount", ["-l", this.mnt]);
    }
    await this.#status;
    await this.#stderrDone;
    if (isFaultFsMounted(this.mnt)) throw new Error(`still mounted: ${this.mnt}: ${errors.join("; ")}`);
  }

  /** Unmounts and removes the temp dir (the backing directory too, unless the caller gave it). */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.unmount();
    } finally {
      if (!isFaultFsMounted(this.mnt)) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    }
  }
}
