// The webtune command line: a thin layer over the library API. Errors become one line on stderr.
import { Command, CommanderError } from 'commander';
import { writeStderr, writeStdout, getEnv } from '../../runtime/platform.ts';
import { inferCommand } from './infer.ts';
import { tokenizeCommand } from './tokenize.ts';
import { preprocessCommand } from './preprocess.ts';
import { sftCommand } from './sft.ts';
import { mergeLoraCommand } from './merge-lora.ts';
import { exportCommand } from './export.ts';
import { deployCommand } from './deploy.ts';
import { buildEdgeCommand } from './build-edge.ts';
import { bundleCommand } from './bundle.ts';
import { webUiCommand } from './web-ui.ts';
import { VERSION } from './version.ts';
import { MODEL_KINDS } from '../../models/load.ts';

export { VERSION };

/** Text folded at word boundaries into lines of at most `width` columns (commander leaves extra help text as is). */
function wrap(text: string, width = 80): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) { lines.push(line); line = word; } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line].join('\n');
}

export function buildProgram(): Command {
  const program = new Command('webtune')
    .description('Fine-tune and serve language models on WebGPU and WebAssembly (Node, Deno, edge workers)')
    .version(VERSION)
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => writeStdout(s),
      writeErr: (s) => writeStderr(s),
      outputError: (s, write) => write(`webtune: ${s.replace(/^error: /, 'error: ').trimEnd()}\n`),
    })
    .exitOverride()
    .addHelpText('after', `\n${wrap(`--model, in every command that takes it: ${MODEL_KINDS}.`)}\n` +
      'Example: webtune infer --model ../shared/models/stories260K --prompt "Once upon a time"\n' +
      'Each command\'s flags: webtune COMMAND --help');
  program.addCommand(inferCommand());
  program.addCommand(tokenizeCommand());
  program.addCommand(preprocessCommand());
  program.addCommand(sftCommand());
  program.addCommand(mergeLoraCommand());
  program.addCommand(exportCommand());
  program.addCommand(deployCommand());
  program.addCommand(buildEdgeCommand());
  program.addCommand(bundleCommand());
  program.addCommand(webUiCommand());
  for (const cmd of program.commands) {
    cmd.exitOverride().configureOutput(program.configureOutput()).showSuggestionAfterError(true);
  }
  return program;
}

/** Runs the CLI; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(args, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode; // already printed (help, version, bad flag)
    const msg = (e as Error)?.message ?? String(e);
    writeStderr(`webtune: error: ${msg.split('\n')[0]}\n`);
    if (getEnv('WEBTUNE_DEBUG')) writeStderr(`${(e as Error)?.stack}\n`);
    return 1;
  }
}
