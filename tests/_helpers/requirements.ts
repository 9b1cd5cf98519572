/**
 * What a test needs from the machine (root, commands, files), checked once. Outside CI a missing
 * requirement makes the test ignored, with a line saying why, so the summary counts it as
 * "ignored", never as "passed". In CI (`CI=true`) a missing requirement fails the test: the suite
 * must not shrink silently on a machine that lacks a tool.
 *
 * @module
 */

import { hasCommand } from "./process.ts";

/** True when the suite runs in CI (`CI=true`), where nothing it needs may be missing. */
export function inCi(): boolean {
  return (Deno.env.get("CI") ?? "").toLowerCase() === "true";
}

/** What a test needs. */
export interface Needs {
  /** Namespaces, mounts, chroot, FUSE. */
  root?: boolean;
  /** Commands looked up on the PATH (and /usr/sbin, /sbin), with their Debian package. */
  commands?: Record<string, string>;
  /** Files that must exist (device nodes, interpreters, modules), with their Debian package. */
  files?: Record<string, string>;
}

/** The outcome of {@link requirement}: pass `ignore` to `Deno.test`, call `check()` first thing in the test. */
export interface Requirement {
  /** What is missing, one phrase each (empty when everything is there). */
  readonly missing: readonly string[];
  /** True outside CI when something is missing: the test is then reported as ignored. */
  readonly ignore: boolean;
  /** Throws, naming what is missing, when something is (reached only in CI). */
  check(): void;
}

/**
 * Checks `needs` for the test described by `what`.
 *
 * @example
 * ```ts
 * const fuse = requirement("the power-cut scenario", { root: true, files: { "/dev/fuse": "fuse3" } });
 * Deno.test({ name: "…", ignore: fuse.ignore, fn: () => { fuse.check(); … } });
 * ```
 */
export function requirement(what: string, needs: Needs): Requirement {
  const missing: string[] = [];
  if (needs.root && Deno.uid() !== 0) missing.push("root (namespaces, mounts, FUSE)");
  for (const [command, pkg] of Object.entries(needs.commands ?? {})) {
    if (!hasCommand(command)) missing.push(`${command} (Debian package ${pkg})`);
  }
  for (const [file, pkg] of Object.entries(needs.files ?? {})) {
    try {
      Deno.statSync(file);
    } catch {
      missing.push(`${file} (${pkg})`);
    }
  }
  const ignore = missing.length > 0 && !inCi();
  if (ignore) console.log(`IGNORED ${what}: missing ${missing.join(", ")}`);
  return {
    missing,
    ignore,
    check() {
      if (missing.length > 0) {
        throw new Error(
          `${what} cannot run: missing ${missing.join(", ")}. CI=true does not allow a test to skip; ` +
            "install the packages listed in tests/debian-packages.txt (scripts/install-test-deps.sh) and run as root",
        );
      }
    },
  };
}
