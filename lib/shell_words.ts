/**
 * Splitting a command line into words the way a POSIX shell does for plain words, quotes and
 * backslashes, without running a shell: `exec` sources name their command this way.
 *
 * @module
 */

import { InvalidValue } from "./errors.ts";

/**
 * Splits a command line into words like a POSIX shell would for plain words, '…' and "…"
 * quotes and backslash escapes; no variables, globs or operators (no shell is run). Throws
 * {@link InvalidValue} on an unterminated quote.
 *
 * @example
 * ```ts
 * splitCommandLine(`read-ups --name 'UPS 1'`); // ["read-ups", "--name", "UPS 1"]
 * ```
 */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === "\\" && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (c === " " || c === "\t" || c === "\n") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new InvalidValue(`unterminated ${quote} quote in ${JSON.stringify(line)}`);
  if (inWord) words.push(word);
  return words;
}
