// `webtune infer` without --prompt or --query: an interactive chat as ms-swift's `swift infer` runs it. Each turn
// renders the whole conversation (system, every earlier question and answer, the new question) with the chat
// template and streams the answer; commands: multi-line, single-line, reset-system, clear, exit/quit.
import { openLineReader, writeStderr, writeStdout } from '../../runtime/platform.ts';
import type { LoadedModel } from '../../models/load.ts';
import { chatPrompt } from '../chat-prompt.ts';
import type { TemplateMessage } from '../data/templates/chat-format.ts';
import type { GenerateOptions, GenerateResult, Generator } from '../generate.ts';
import { StopMatcher } from '../stop-words.ts';

export interface StreamedAnswer { text: string; tokens: number; finish: 'stop' | 'length' }

/**
 * Generates from `prompt`, showing text as it comes, cut before the first stop word (which ends generation).
 * Text that might still become a stop word is held back until the next token settles it.
 */
export async function streamAnswer(gen: Generator, prompt: string | number[], opts: GenerateOptions, stopWords: string[],
  show: (text: string) => void): Promise<StreamedAnswer> {
  const stops = new StopMatcher(stopWords);
  const result: Partial<GenerateResult> = {}; // filled when the generator runs to its end
  let text = '', tokens = 0;
  for await (const ev of gen.stream(prompt, opts, result as GenerateResult)) {
    if (ev.id >= 0) tokens++;
    const r = stops.push(ev.text);
    if (r.emit) { show(r.emit); text += r.emit; }
    if (r.stopped) return { text, tokens, finish: 'stop' }; // leaving the loop ends the generator
  }
  const rest = stops.flush();
  if (rest) { show(rest); text += rest; }
  return { text, tokens, finish: result.finishReason ?? 'length' };
}

export interface ChatOptions {
  gen: Generator;
  loaded: LoadedModel;
  /** the starting system prompt (--system or the run's); undefined = the template's own default */
  system?: string;
  template?: string;
  sampling: Omit<GenerateOptions, 'stopIds'>;
  stopWords: string[];
  stats: boolean;
}

const HELP = [
  'webtune: chat: enter `exit` or `quit` to leave (or end the input)',
  'webtune: chat: `multi-line` switches to multi-line input (a line ending with `#` ends the message), `single-line` back',
  'webtune: chat: `reset-system` asks for a new system prompt and clears the history; `clear` clears the history',
];

export async function runChat(o: ChatOptions): Promise<void> {
  const input = await openLineReader();
  for (const line of HELP) writeStderr(`${line}\n`);
  const state = { system: o.system, history: [] as TemplateMessage[], multiline: false, askSystem: false };
  let templateShown = false, ended = false, answers = 0, tokens = 0, seconds = 0;
  try {
    for (;;) {
      const query = await readMessage(input.read.bind(input), state.multiline, state.askSystem);
      if (query === undefined) { ended = true; break; } // end of input
      const cmd = query.trim().toLowerCase();
      if (cmd === 'exit' || cmd === 'quit') break;
      if (state.askSystem) {
        // As ms-swift: the answer is the new system prompt ("default-system", or nothing, restores the first one).
        state.system = query === 'default-system' || query === '' ? o.system : query;
        state.askSystem = false;
        state.history = [];
        continue;
      }
      if (cmd === '') continue;
      if (cmd === 'clear') { state.history = []; continue; }
      if (cmd === 'reset-system') { state.askSystem = true; continue; }
      if (cmd === 'multi-line') {
        state.multiline = true;
        writeStderr('webtune: chat: end each message with `#`; `single-line` switches back\n');
        continue;
      }
      if (cmd === 'single-line') { state.multiline = false; continue; }

      const messages: TemplateMessage[] = [...state.history, { role: 'user', content: query }];
      const chat = await chatPrompt(o.loaded, { messages, system: state.system, template: o.template });
      if (!templateShown) { writeStderr(`webtune: chat template: ${chat.template}\n`); templateShown = true; }
      if (chat.ids.length >= o.gen.contextLength) {
        writeStderr(`webtune: error: the conversation is ${chat.ids.length} tokens; the model's context is ` +
          `${o.gen.contextLength}: enter \`clear\` to start over\n`);
        continue;
      }
      const start = performance.now();
      const answer = await streamAnswer(o.gen, chat.ids, { ...o.sampling, stopIds: chat.stopIds }, o.stopWords, writeStdout);
      writeStdout('\n');
      seconds += (performance.now() - start) / 1000;
      tokens += answer.tokens;
      answers++;
      state.history = [...messages, { role: 'assistant', content: answer.text }];
    }
  } finally {
    input.close();
  }
  if (ended && input.interactive) writeStdout('\n'); // Ctrl-D leaves the cursor after the prompt
  if (o.stats && answers > 0) {
    writeStderr(`webtune: ${answers} answers, ${tokens} tokens in ${seconds.toFixed(2)} s (${(tokens / seconds).toFixed(1)} tokens/s)\n`);
  }
}

/** One message: a line, or in multi-line mode lines up to one ending with `#` (dropped); undefined at the end. */
async function readMessage(read: (prompt: string) => Promise<string | undefined>, multiline: boolean,
  askSystem: boolean): Promise<string | undefined> {
  if (!multiline) return read(askSystem ? '<<<[S] ' : '<<< ');
  const lines: string[] = [];
  let prompt = askSystem ? '<<<[MS] ' : '<<<[M] ';
  for (;;) {
    const line = await read(prompt);
    if (line === undefined) return undefined; // an unfinished message is dropped
    prompt = '';
    if (line.endsWith('#')) { lines.push(line.slice(0, -1)); return lines.join('\n'); }
    lines.push(line);
  }
}
