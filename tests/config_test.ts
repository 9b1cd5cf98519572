import assert from "node:assert/strict";
import {
  checkpointIntervalOf,
  DEFAULT_RUN_CONFIG,
  envName,
  helpText,
  type Invocation,
  parseInvocation,
  splitList,
} from "../lib/config.ts";
import { COMMANDS } from "../lib/commands/mod.ts";
import { layoutHelp } from "../lib/help.ts";
import { runOnce } from "./_helpers/process.ts";
import { ConfigError } from "../lib/errors.ts";

function parse(args: string[], env: Record<string, string> = {}, files: Record<string, string> = {}): Invocation {
  return parseInvocation({
    args,
    env: (name) => env[name],
    readTextFile: (path) => {
      if (!(path in files)) throw new Deno.errors.NotFound(`no such file ${path}`);
      return files[path];
    },
  });
}

function runConfig(args: string[], env: Record<string, string> = {}, files: Record<string, string> = {}) {
  const inv = parse(args, env, files);
  assert.equal(inv.command, "run");
  return (inv as Extract<Invocation, { command: "run" }>).config;
}

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
    return [...e.problems];
  }
  assert.fail("expected a ConfigError");
}

Deno.test("no arguments runs the logger with the documented defaults", () => {
  assert.deepEqual(runConfig([]), DEFAULT_RUN_CONFIG);
  assert.equal(DEFAULT_RUN_CONFIG.db, "./data/edgelog.db");
  assert.equal(DEFAULT_RUN_CONFIG.commitIntervalMs, 2000);
  assert.equal(DEFAULT_RUN_CONFIG.batchSize, 5000);
  assert.equal(DEFAULT_RUN_CONFIG.shutdownTimeoutMs, 8000);
});

Deno.test("precedence is defaults < config file < environment < flags", () => {
  const files = { "/etc/edgelog.json": JSON.stringify({ "sim-rate": 100, "batch-size": 10, durability: "normal" }) };
  const env = { EDGELOG_SIM_RATE: "200", EDGELOG_BATCH_SIZE: "20" };
  const c = runConfig(["--config", "/etc/edgelog.json", "--sim-rate", "300"], env, files);
  assert.equal(c.simRate, 300, "flag beats env and file");
  assert.equal(c.batchSize, 20, "env beats file");
  assert.equal(c.durability, "normal", "file beats default");
  assert.equal(c.commitIntervalMs, 2000, "default when nobody sets it");
});

Deno.test("the config file can also be named by EDGELOG_CONFIG", () => {
  const c = runConfig([], { EDGELOG_CONFIG: "/c.json" }, { "/c.json": '{"db": "/var/lib/edgelog/x.db"}' });
  assert.equal(c.db, "/var/lib/edgelog/x.db");
});

Deno.test("every invalid field is reported at once, each naming its origin", () => {
  const files = { "/c.json": JSON.stringify({ "batch-size": 0, "no-such": 1 }) };
  const p = problems(() =>
    runConfig(["--config", "/c.json", "--durability", "maybe", "--commit-interval", "soon"], {
      EDGELOG_SIM_RATE: "fast",
    }, files)
  );
  assert.equal(p.length, 5, p.join("\n"));
  assert.ok(p.some((l) => l.startsWith('config file /c.json: "batch-size"') && /between 1 and/.test(l)));
  assert.ok(p.some((l) => /unknown setting "no-such"/.test(l)));
  assert.ok(p.some((l) => l.startsWith("environment EDGELOG_SIM_RATE")));
  assert.ok(p.some((l) => l.startsWith("--durability") && /full, normal/.test(l)));
  assert.ok(p.some((l) => l.startsWith("--commit-interval")));
});

Deno.test("unknown flags, commands and stray arguments are usage errors", () => {
  assert.match(problems(() => parse(["--frobnicate"]))[0], /frobnicate/);
  assert.match(problems(() => parse(["destroy"]))[0], /unknown command 'destroy'/);
  assert.match(problems(() => parse(["run", "extra"]))[0], /unexpected argument 'extra'/);
});

Deno.test("a missing or malformed config file is a clear error", () => {
  assert.match(problems(() => parse(["--config", "/nope.json"]))[0], /config file \/nope\.json: cannot read it/);
  assert.match(problems(() => parse(["--config", "/bad.json"], {}, { "/bad.json": "{" }))[0], /not valid JSON/);
  assert.match(problems(() => parse(["--config", "/arr.json"], {}, { "/arr.json": "[]" }))[0], /JSON object/);
});

Deno.test("durations accept bare numbers in the field's unit and explicit units", () => {
  assert.equal(runConfig(["--commit-interval", "100"]).commitIntervalMs, 100);
  assert.equal(runConfig(["--commit-interval", "1.5s"]).commitIntervalMs, 1500);
  assert.equal(runConfig(["--checkpoint-interval", "30"]).checkpointIntervalMs, 30_000);
  assert.equal(runConfig(["--checkpoint-interval", "2m"]).checkpointIntervalMs, 120_000);
  assert.equal(runConfig(["--shutdown-timeout", "500ms"]).shutdownTimeoutMs, 500);
});

Deno.test("checkpoints come every 5 minutes with durability full, every minute with normal, unless set", () => {
  assert.equal(runConfig([]).checkpointIntervalMs, undefined);
  assert.equal(checkpointIntervalOf(runConfig([])), 300_000);
  assert.equal(checkpointIntervalOf(runConfig(["--durability", "normal"])), 60_000);
  assert.equal(checkpointIntervalOf(runConfig(["--durability", "normal", "--checkpoint-interval", "600"])), 600_000);
  assert.equal(checkpointIntervalOf(runConfig([], { EDGELOG_CHECKPOINT_INTERVAL: "30" })), 30_000);
  assert.match(helpText("0.1.0", COMMANDS, 300), /default 300 \(60 with --durability normal\)/);
});

Deno.test("JSON config values may be numbers or strings", () => {
  const c = runConfig(["--config", "/c.json"], {}, { "/c.json": '{"sim-rate": "50", "commit-interval": 100}' });
  assert.equal(c.simRate, 50);
  assert.equal(c.commitIntervalMs, 100);
});

Deno.test("help and version are recognised as flags and as commands", () => {
  assert.equal(parse(["--help"]).command, "help");
  assert.equal(parse(["-h"]).command, "help");
  assert.equal(parse(["help"]).command, "help");
  assert.equal(parse(["--version"]).command, "version");
  assert.equal(parse(["version"]).command, "version");
});

Deno.test("environment names are EDGELOG_ plus the flag in upper snake case", () => {
  assert.equal(envName("commit-interval"), "EDGELOG_COMMIT_INTERVAL");
  assert.equal(runConfig([], { EDGELOG_LOG_FORMAT: "JSON" }).logFormat, "json");
});

const parseRetention = (args: string[], env: Record<string, string> = {}) =>
  parseInvocation({ args, env: (n) => env[n], readTextFile: () => "{}" });

Deno.test("retention settings come from flags and EDGELOG_* variables, off by default", () => {
  const off = parseRetention([]);
  assert.ok(off.command === "run");
  assert.equal(off.config.retentionMs, undefined);
  assert.equal(off.config.maxDbSizeBytes, undefined);
  assert.equal(off.config.downsampleAfterMs, undefined);
  assert.equal(off.config.downsampleBucketMs, 60_000);
  const on = parseRetention(["--retention", "30d", "--downsample-after", "7d", "--downsample-bucket", "5m"], {
    EDGELOG_MAX_DB_SIZE: "500MB",
  });
  assert.ok(on.command === "run");
  assert.equal(on.config.retentionMs, 30 * 86_400_000);
  assert.equal(on.config.maxDbSizeBytes, 500 * 1024 * 1024);
  assert.equal(on.config.downsampleAfterMs, 7 * 86_400_000);
  assert.equal(on.config.downsampleBucketMs, 300_000);
});

Deno.test("bad retention settings are all reported at once, each naming its source", () => {
  assert.throws(
    () => parseRetention(["--retention", "soon", "--max-db-size", "12"], { EDGELOG_DOWNSAMPLE_BUCKET: "0s" }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.problems.length, 3);
      assert.match(e.problems.join("\n"), /EDGELOG_DOWNSAMPLE_BUCKET/);
      assert.match(e.problems.join("\n"), /--retention: expected a duration/);
      assert.match(e.problems.join("\n"), /--max-db-size: must be at least 1048576 bytes/);
      return true;
    },
  );
});

Deno.test("--compact-step is automatic by default, set by flag or EDGELOG_COMPACT_STEP, and at least 1024", () => {
  const auto = parseRetention([]);
  assert.ok(auto.command === "run");
  assert.equal(auto.config.compactStep, undefined);
  const flag = parseRetention(["--compact-step", "262144"]);
  assert.ok(flag.command === "run");
  assert.equal(flag.config.compactStep, 262_144);
  const env = parseRetention([], { EDGELOG_COMPACT_STEP: "4096" });
  assert.ok(env.command === "run");
  assert.equal(env.config.compactStep, 4096);
  assert.throws(() => parseRetention(["--compact-step", "100"]), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.problems.join("\n"), /--compact-step: must be between 1024 and 10000000, got 100/);
    return true;
  });
});

/** The option entries of a help text: the `  -x, --flag ARG` line and the lines that continue it. */
function optionBlocks(help: string): string[] {
  const blocks: string[] = [];
  for (const line of help.split("\n")) {
    if (/^ {2}-/.test(line)) blocks.push(line);
    else if (/^ {5,}\S/.test(line) && blocks.length > 0) blocks[blocks.length - 1] += "\n" + line;
    else if (line.trim() === "" || /^\S/.test(line)) blocks.push(""); // a block ends
  }
  return blocks.filter((b) => b !== "");
}

const columns = (line: string) => [...line].length;

Deno.test("--help shows a placeholder and the default of every option, env names, and fits 80 columns", () => {
  const help = helpText("0.1.0", COMMANDS, 80);
  for (const line of help.split("\n")) assert.ok(columns(line) <= 80, `${columns(line)} columns: ${line}`);
  const blocks = optionBlocks(help).filter((b) => b.startsWith("  --"));
  assert.ok(blocks.length >= 25, blocks.join("\n"));
  for (const block of blocks) {
    assert.match(block, /^ {2}--[\w-]+ [A-Z|a-z:[\]]+/, `a value placeholder: ${block}`);
    assert.match(block, /default\s/, `a default: ${block}`);
    assert.match(block, /env\s+EDGELOG_/, `the environment variable: ${block}`);
  }
  assert.match(help, /^ {2}--db PATH +database file; default \.\/data\/edgelog\.db/m);
  assert.match(help, /^ {2}--durability full\|normal$/m);
  assert.match(help, /^ {2}--log-level debug\|info\|warning\|error$/m);
});

Deno.test("help text is laid out for the width it is given (the terminal's)", () => {
  for (const width of [50, 60, 100]) {
    const help = helpText("0.1.0", COMMANDS, width);
    for (const line of help.split("\n")) assert.ok(columns(line) <= width, `${width}: ${line}`);
  }
  const wrapped = layoutHelp(
    "Usage: edgelog x [--aaa A] [--bbb B] [--ccc C]\n\n  --aaa A                the first option, with a long description\n" +
      "                         that goes on\n",
    40,
  );
  assert.deepEqual(wrapped.split("\n").slice(0, 2), [
    "Usage: edgelog x [--aaa A] [--bbb B]",
    "                 [--ccc C]",
  ]);
  assert.match(wrapped, /^ {2}--aaa A {4}the first option, with a$/m, "a narrower column at 40");
  assert.match(wrapped, /^ {13}long description that goes$/m);
});

Deno.test("every subcommand's --help has placeholders and defaults and fits 80 columns", async () => {
  for (const command of COMMANDS) {
    const { code, stdout } = await runOnce([command.name, "--help"]);
    assert.equal(code, 0, command.name);
    for (const line of stdout.split("\n")) assert.ok(columns(line) <= 80, `${command.name}: ${line}`);
    for (const block of optionBlocks(stdout)) {
      const takesValue = /^ {2}(-\w, )?--[\w-]+ [A-Z]/.test(block);
      if (takesValue) assert.match(block, /default|required/, `${command.name}: ${block}`);
    }
  }
});

Deno.test("unknown options, missing and bad values are one line naming the option and --help, exit 2", async () => {
  const cases: [string[], RegExp][] = [
    [["--frobnicate"], /^edgelog: unknown option --frobnicate; see 'edgelog --help'$/],
    [["--db"], /^edgelog: --db needs a value; see 'edgelog --help'$/],
    [["--batch-size", "many"], /^edgelog: --batch-size: expected a whole number, got "many"; see 'edgelog --help'$/],
    [["--help=yes"], /^edgelog: --help takes no value; see 'edgelog --help'$/],
    [["export", "--frobnicate"], /^edgelog: export: unknown option --frobnicate; see 'edgelog export --help'$/],
    [["query", "--since"], /^edgelog: query: --since needs a value; see 'edgelog query --help'$/],
    [["export", "--format", "xml"], /^edgelog: --format: expected one of .*; see 'edgelog export --help'$/],
    [["export", "--dialect", "x"], /^edgelog: --dialect: expected one of .*; see 'edgelog export --help'$/],
  ];
  for (const [args, want] of cases) {
    const { code, stderr } = await runOnce(args);
    assert.equal(code, 2, args.join(" "));
    assert.equal(stderr.trim().split("\n").length, 1, `one line for ${args.join(" ")}: ${stderr}`);
    assert.match(stderr.trim(), want);
  }
});

Deno.test("lists in the environment split at ; and newlines outside quotes and backslashes", () => {
  assert.deepEqual(splitList("sysfs; stdin\nsimulated"), ["sysfs", " stdin", "simulated"]);
  assert.deepEqual(splitList(`exec:sh -c 'a; b'; stdin`), ["exec:sh -c 'a; b'", " stdin"]);
  assert.deepEqual(splitList(`exec:sh -c "echo \\"x;y\\""`), [`exec:sh -c "echo \\"x;y\\""`]);
  assert.deepEqual(splitList(`exec:echo a\\;b;stdin`), ["exec:echo a\\;b", "stdin"]);
  assert.throws(() => splitList("exec:sh -c 'a; b"), /unterminated ' quote/);
});

Deno.test("EDGELOG_SOURCE keeps an exec command whose quoted script contains ; whole", () => {
  const c = runConfig([], { EDGELOG_SOURCE: `exec:sh -c 'echo t 1; echo u 2'; stdin` });
  assert.deepEqual(c.sources.map((s) => s.kind), ["exec", "stdin"]);
  assert.deepEqual(c.sources[0].exec?.argv, ["sh", "-c", "echo t 1; echo u 2"]);
  assert.match(
    problems(() => runConfig([], { EDGELOG_SOURCE: "exec:sh -c 'a; b" }))[0],
    /^environment EDGELOG_SOURCE: unterminated ' quote/,
  );
});
