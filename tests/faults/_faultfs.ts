// Helper to drive faultfs.py (a fault-injecting FUSE filesystem) from Deno tests.
// Needs root (or fusermount3 + /etc/fuse.conf user_allow_other), /dev/fuse,
// /usr/bin/python3 with python3-fusepy, fuse3 (fusermount3).
//
//   await using fs = await FaultFs.mount();     // temp dir with backing/, mnt/, ctl.sock
//   ... use fs.mnt ...
//   await fs.fault("write EIO count=1 path=*.db-wal");
//   await fs.cut();                              // resolves once the cut is in effect
//   await fs.unmount();                          // also done by [Symbol.asyncDispose]

const PY = new URL("./faultfs.py", import.meta.url).pathname;

export interface Reply {
  ok: boolean;
  error?: string;
  [k: string]: unknown;
}

export interface MountOptions {
  /** backing directory to mirror (default: a fresh empty dir in the temp dir) */
  backing?: string;
  /** extra faultfs.py flags, e.g. ["--meta-on-fsync"] or ["--direct-io"] */
  args?: string[];
  /** deadline for the mount to become ready (ms), default 10000 */
  deadlineMs?: number;
  python?: string;
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Poll `cond` every `stepMs` until it is true; throw after `ms`. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
  stepMs = 5,
): Promise<void> {
  const end = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timeout after ${ms} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

/** true if `dir` is a mount point of a fuse.faultfs filesystem in this mount namespace */
export function isMounted(dir: string): boolean {
  const info = Deno.readTextFileSync("/proc/self/mountinfo");
  return info.split("\n").some((l) => {
    const f = l.split(" ");
    const sep = f.indexOf("-");
    return f[4] === dir && sep > 0 && f[sep + 1] === "fuse.faultfs";
  });
}

async function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const td = new TextDecoder();
  return { code: o.code, out: td.decode(o.stdout) + td.decode(o.stderr) };
}

export class FaultFs implements AsyncDisposable {
  #proc: Deno.ChildProcess;
  #status: Promise<Deno.CommandStatus>;
  #exited = false;
  #log: string[] = [];
  #logDone: Promise<void>;
  #unmounted = false;

  private constructor(
    readonly dir: string,
    readonly backing: string,
    readonly mnt: string,
    readonly ctl: string,
    proc: Deno.ChildProcess,
  ) {
    this.#proc = proc;
    this.#status = proc.status.then((s) => {
      this.#exited = true;
      return s;
    });
    this.#logDone = (async () => {
      const td = new TextDecoder();
      for await (const chunk of proc.stderr) this.#log.push(td.decode(chunk));
    })();
  }

  /** Last lines the faultfs process wrote on stderr (for diagnostics). */
  log(): string {
    return this.#log.join("").split("\n").slice(-30).join("\n");
  }

  static async mount(opts: MountOptions = {}): Promise<FaultFs> {
    const dir = await Deno.makeTempDir({ prefix: "faultfs." });
    const backing = opts.backing ?? `${dir}/backing`;
    const mnt = `${dir}/mnt`;
    const ctl = `${dir}/ctl.sock`;
    await Deno.mkdir(backing, { recursive: true });
    await Deno.mkdir(mnt);
    const proc = new Deno.Command(opts.python ?? "/usr/bin/python3", {
      args: [PY, backing, mnt, "--ctl", ctl, ...(opts.args ?? [])],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const fs = new FaultFs(dir, backing, mnt, ctl, proc);
    try {
      await waitFor(async () => {
        if (fs.#exited) throw new Error(`faultfs exited during mount:\n${fs.log()}`);
        try {
          return (await fs.cmd("ping")).mounted === true && isMounted(mnt);
        } catch {
          return false; // socket not there yet
        }
      }, opts.deadlineMs ?? 10000, `faultfs mounted at ${mnt}`, 20);
    } catch (e) {
      await fs.unmount().catch(() => {});
      throw e;
    }
    return fs;
  }

  /** Send one control command; resolves with the JSON reply (throws if !ok). */
  async cmd(line: string, timeoutMs = 10000): Promise<Reply> {
    const conn = await Deno.connect({ transport: "unix", path: this.ctl });
    const timer = setTimeout(() => conn.close(), timeoutMs);
    try {
      await conn.write(new TextEncoder().encode(line + "\n"));
      const td = new TextDecoder();
      let buf = "";
      const chunk = new Uint8Array(65536);
      while (!buf.includes("\n")) {
        const n = await conn.read(chunk);
        if (n === null) throw new Error(`faultfs control: connection closed (${line})`);
        buf += td.decode(chunk.subarray(0, n), { stream: true });
      }
      const rep = JSON.parse(buf) as Reply;
      if (!rep.ok) throw new Error(`faultfs '${line}': ${rep.error}`);
      return rep;
    } finally {
      clearTimeout(timer);
      try {
        conn.close();
      } catch { /* closed by timer */ }
    }
  }

  /** Power cut: drops everything not fsynced; all later I/O gets EIO. Resolves when in effect. */
  cut(): Promise<Reply> {
    return this.cmd("cut");
  }
  sync(): Promise<Reply> {
    return this.cmd("sync");
  }
  /** e.g. fault("write EIO count=1 path=*.db-wal"), fault("fsync EIO prob=0.1 seed=7") */
  fault(spec: string): Promise<Reply> {
    return this.cmd(`fault ${spec}`);
  }
  heal(op = ""): Promise<Reply> {
    return this.cmd(`heal ${op}`.trim());
  }
  status(): Promise<Reply> {
    return this.cmd("status");
  }

  /**
   * Unmount and wait for the faultfs process to exit. Tries `fusermount3 -u`
   * (retrying while busy), then a lazy unmount, then SIGTERM/SIGKILL.
   * Without a prior cut, a clean unmount persists all data (like umount).
   */
  async unmount(deadlineMs = 10000): Promise<void> {
    if (this.#unmounted) return;
    this.#unmounted = true;
    const end = performance.now() + deadlineMs;
    const errors: string[] = [];
    while (!this.#exited && isMounted(this.mnt) && performance.now() < end - deadlineMs / 2) {
      const r = await run("fusermount3", ["-u", this.mnt]);
      if (r.code === 0) break;
      errors.push(r.out.trim());
      await sleep(50);
    }
    if (!this.#exited && isMounted(this.mnt)) {
      const r = await run("fusermount3", ["-u", "-z", this.mnt]);
      if (r.code !== 0) errors.push(r.out.trim(), (await run("umount", ["-l", this.mnt])).out.trim());
    }
    try {
      await waitFor(() => this.#exited, Math.max(100, end - performance.now()), "faultfs exit", 10);
    } catch {
      errors.push("faultfs did not exit; killing");
      try {
        this.#proc.kill("SIGTERM");
        await waitFor(() => this.#exited, 2000, "faultfs exit after SIGTERM", 10);
      } catch {
        try {
          this.#proc.kill("SIGKILL");
        } catch { /* gone */ }
      }
      if (isMounted(this.mnt)) await run("umount", ["-l", this.mnt]);
    }
    await this.#status;
    await this.#logDone;
    if (isMounted(this.mnt)) throw new Error(`still mounted: ${this.mnt} ${errors.join("; ")}`);
  }

  /** unmount and remove the temp dir (backing included unless given by the caller) */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.unmount();
    } finally {
      if (!isMounted(this.mnt)) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    }
  }
}

/** small seeded PRNG (mulberry32) */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
