/**
 * The `serial` source against a pseudo-terminal pair made by socat: NMEA, text and NDJSON lines
 * written to one end are stored from the other; bad lines are counted by reason; unplugging
 * (socat gone, device gone) and plugging back in (a new pair at the same path) resumes logging.
 *
 * Deno opens paths under /dev only with --allow-all, so the pty is bind-mounted onto a file in a
 * temporary directory, as docs/SOURCES.md tells users to do with a real device.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readingRows, tempDir } from "../_helpers/database.ts";
import { hasCommand, isRoot, spawnLogger, waitFor } from "../_helpers/process.ts";
import { announceSkip } from "../_helpers/upstreams.ts";

const skip = !hasCommand("socat")
  ? "SKIPPED: 'socat' not found; install the Debian package 'socat'"
  : !isRoot()
  ? "SKIPPED: the serial test bind-mounts a pty and needs root"
  : undefined;

const enc = new TextEncoder();

/** A sentence with its checksum (XOR of the characters between '$' and '*'). */
function nmea(body: string): string {
  let sum = 0;
  for (const c of body) sum ^= c.charCodeAt(0);
  return `$${body}*${sum.toString(16).toUpperCase().padStart(2, "0")}`;
}

/** A socat pty pair; the reading end bind-mounted at `path`, the other end written by the test. */
class PtyPair {
  readonly path: string;
  readonly #dir: string;
  #socat: Deno.ChildProcess | undefined;
  #writer: Deno.FsFile | undefined;

  constructor(dir: string) {
    this.#dir = dir;
    this.path = join(dir, "tty");
  }

  async plug(): Promise<void> {
    const [a, b] = [join(this.#dir, "a"), join(this.#dir, "b")];
    this.#socat = new Deno.Command("socat", {
      args: [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitFor(() => exists(a) && exists(b), 10_000);
    Deno.writeTextFileSync(this.path, "");
    await run("mount", ["--bind", Deno.realPathSync(a), this.path]);
    this.#writer = await Deno.open(b, { write: true });
  }

  async write(lines: string[]): Promise<void> {
    const bytes = enc.encode(lines.map((l) => l + "\r\n").join(""));
    let at = 0;
    while (at < bytes.length) at += await this.#writer!.write(bytes.subarray(at));
  }

  /** The device goes away: the pair ends and the path no longer reaches it. */
  async unplug(): Promise<void> {
    this.#writer?.close();
    this.#writer = undefined;
    this.#socat?.kill("SIGTERM");
    await this.#socat?.status;
    this.#socat = undefined;
    // Lazily: edgelog may still hold the dead device open. The empty file under the mount stays:
    // it opens and ends at once, like a stale device node.
    await run("umount", ["--lazy", this.path]).catch(() => {});
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function run(command: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(command, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${command} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

Deno.test({
  name: "serial: NMEA, text and NDJSON lines from a pty are stored, bad ones counted; unplug and replug resume",
  ignore: announceSkip(skip),
  fn: async () => {
    await using dir = await tempDir();
    const db = join(dir.path, "edgelog.db");
    const pty = new PtyPair(dir.path);
    await pty.plug();
    const p = spawnLogger([
      "--db",
      db,
      "--source",
      `serial:${pty.path}?baud=4800&prefix=boat`,
      "--commit-interval",
      "50",
    ]);
    try {
      await p.waitUntilLogging();
      const d = new Date();
      const date = [d.getUTCDate(), d.getUTCMonth() + 1, d.getUTCFullYear() % 100].map((n) =>
        String(n).padStart(2, "0")
      )
        .join("");
      await pty.write([
        nmea("GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"),
        nmea(`GNRMC,001031.00,A,4404.13993,N,12118.86023,W,10.0,,${date},,,A`),
        "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*48", // bad checksum
        nmea("GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00"), // not read
        nmea("GPGGA,123519,,,,,0,00,,,M,,M,,"), // no fix
        "\x00\xff garbage",
        "pump_pressure 2.5 bar",
        '{"sensor":"tank_level","value":73}',
      ]);
      const sensors = () => new Set(readingRows(db).map((r) => r.sensor));
      await waitFor(() => sensors().has("tank_level"), 20_000, () => p.stderrLines.slice(-10).join("\n"));
      const rows = readingRows(db);
      const value = (s: string) => rows.find((r) => r.sensor === s)?.value;
      assert.equal(value("boat/altitude"), 545.4);
      assert.ok(Math.abs(value("boat/latitude")! - 48.1173) < 1e-4);
      const longitudes = rows.filter((r) => r.sensor === "boat/longitude").map((r) => r.value.toFixed(6));
      assert.deepEqual(longitudes, ["11.516667", "-121.314337"]);
      assert.ok(Math.abs(value("boat/speed")! - 10 * 1852 / 3600) < 1e-9);
      assert.equal(value("boat/satellites"), 8);
      assert.equal(value("pump_pressure"), 2.5);

      await pty.unplug();
      await p.waitForRecord((r) => /reopening/.test(r.message), 10_000);
      // Unplugged long enough for the source to try the stale path a few times (1 s, then 2 s).
      await new Promise((r) => setTimeout(r, 3500));
      await pty.plug();
      // Written until stored: edgelog reopens the device on its own schedule (backoff from 1 s).
      await waitFor(
        async () => {
          await pty.write(["after_replug 7"]);
          await new Promise((r) => setTimeout(r, 200));
          return sensors().has("after_replug");
        },
        20_000,
        () => p.stderrLines.slice(-10).join("\n"),
      );
      await p.waitForRecord((r) => /device is back/.test(r.message), 5_000);
      assert.equal(p.records.filter((r) => /reopening/.test(r.message)).length, 1, "one warning per unplug");

      p.kill("SIGTERM");
      assert.equal((await p.exited()).code, 0);
      const rejected = p.finalRecord()?.rejected_by_reason as Record<string, number>;
      assert.deepEqual({ ...rejected }, { bad_checksum: 1, unknown_sentence: 1, no_fix: 1, wrong_type: 1 });
    } finally {
      try {
        p.kill("SIGKILL");
      } catch { /* exited */ }
      await p.exited();
      await pty.unplug();
      await Deno.remove(pty.path).catch(() => {});
    }
  },
});
