import assert from "node:assert/strict";
import { InvalidValue } from "../lib/errors.ts";
import { splitCommandLine } from "../lib/shell_words.ts";

Deno.test("a command line splits into words like a shell splits plain words, quotes and backslashes", () => {
  assert.deepEqual(splitCommandLine(`a\\ b 'c d' "e\\"f" ''`), ["a b", "c d", 'e"f', ""]);
  assert.deepEqual(splitCommandLine(`  read-ups\t--name "UPS \\$1"  `), ["read-ups", "--name", "UPS $1"]);
  assert.deepEqual(splitCommandLine(""), []);
});

Deno.test("an unterminated quote is an invalid value naming the line", () => {
  assert.throws(
    () => splitCommandLine(`sh -c 'echo`),
    (e) => e instanceof InvalidValue && /unterminated ' quote/.test(e.message),
  );
});
