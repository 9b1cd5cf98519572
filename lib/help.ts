/**
 * Laying out help text the way well-kept Unix tools do: option descriptions in one column,
 * wrapped to 80 columns or the terminal's width, and one-line messages for command-line errors.
 * Used by `edgelog --help` (lib/config.ts) and every subcommand's help (lib/commands/_args.ts).
 *
 * @module
 */

/** Columns help is laid out for: the terminal's when stdout is one, else 80. */
export function helpWidth(): number {
  try {
    if (Deno.stdout.isTerminal()) return Math.max(40, Math.min(Deno.consoleSize().columns, 120));
  } catch {
    // no terminal size: the conventional width
  }
  return 80;
}

/** Characters as a terminal counts them (code points; edgelog's help has no wide characters). */
function columns(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Words of `text` in lines of at most `width` columns (a longer word gets a line of its own). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line !== "" && columns(line) + 1 + columns(word) > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(line);
  return lines;
}

/** One option of a help text: `--flag ARG` on the left, its description wrapped on the right. */
export function optionLines(flag: string, description: string, width: number): string[] {
  // Column 25 as in the hand-written usages; narrower on a narrow terminal.
  const column = Math.min(25, Math.floor(width / 3));
  const pad = " ".repeat(column);
  const text = wrap(description, width - column);
  const head = `  ${flag}`;
  if (columns(head) + 2 > column || text.length === 0) return [head, ...text.map((l) => pad + l)];
  return [head.padEnd(column) + text[0], ...text.slice(1).map((l) => pad + l)];
}

const OPTION_LINE = /^ {2}(-\S.*?)(?: {2,}(\S.*))?$/;

/**
 * Lays out a help text for `width` columns the way Unix tools do: option lines (`  --flag ARG`
 * then two spaces and the description, continued on deeper-indented lines) get their
 * descriptions wrapped in one column, `Usage:` lines wrap their `[…]` groups under the command,
 * paragraphs at the left margin are re-wrapped, any other long line wraps at its own indent.
 */
export function layoutHelp(text: string, width: number = helpWidth()): string {
  const lines = text.replace(/\n+$/, "").split("\n");
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const option = OPTION_LINE.exec(line);
    if (option) {
      let description = option[2] ?? "";
      while (i + 1 < lines.length && /^ {5,}\S/.test(lines[i + 1]) && !OPTION_LINE.test(lines[i + 1])) {
        description += " " + lines[++i].trim();
      }
      out.push(...optionLines(option[1], description, width));
    } else if (/^Usage: \S+ \S+/.test(line)) {
      let usage = line;
      while (i + 1 < lines.length && /^ +\[/.test(lines[i + 1])) usage += " " + lines[++i].trim();
      const [, command, rest] = /^(Usage: \S+ \S+ )(.*)$/.exec(usage)!;
      const groups = rest.match(/\[[^\]]*\](\.\.\.)?|\S+/g) ?? [];
      const indent = " ".repeat(columns(command));
      let current = command;
      for (const group of groups) {
        if (current.trim() !== command.trim() && columns(current) + 1 + columns(group) > width) {
          out.push(current);
          current = indent + group;
        } else {
          current += (current.endsWith(" ") ? "" : " ") + group;
        }
      }
      out.push(current);
    } else if (/^\S/.test(line) && !line.startsWith("Usage:")) {
      let paragraph = line;
      while (i + 1 < lines.length && /^[^\s-]/.test(lines[i + 1]) && !lines[i + 1].startsWith("Usage:")) {
        paragraph += " " + lines[++i];
      }
      out.push(...(columns(paragraph) <= width ? [paragraph] : wrap(paragraph, width)));
    } else {
      const indent = /^ */.exec(line)![0];
      out.push(...(columns(line) <= width ? [line] : wrap(line, width - indent.length).map((l) => indent + l)));
    }
  }
  return out.join("\n") + "\n";
}

/**
 * One line for a command-line parsing error of `node:util` parseArgs, naming the option: its
 * own messages are long and suggest `--` tricks.
 */
export function argsProblem(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const option = /'(?:-\w, )?(-{1,2}[^'\s<,]+)/.exec(message)?.[1];
  const code = (error as { code?: string }).code;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option) return `unknown option ${option}`;
  if (/argument missing/.test(message) && option) return `${option} needs a value`;
  if (/does not take an argument/.test(message) && option) return `${option} takes no value`;
  return message.split(". ")[0];
}
