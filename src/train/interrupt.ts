// Ctrl-C and `kill` during `webtune sft`: the first SIGINT/SIGTERM asks the run to stop after the current step (it
// then writes its log row, images and final summary, and keeps its checkpoints); a second one, or a first one that
// comes before the run directory exists (nothing to keep yet), exits at once. Exit codes follow the shell's
// 128 + signal number convention: 130 for SIGINT, 143 for SIGTERM.
import { writeStderr } from '../../runtime/platform.ts';
import type { SftResult } from './sft.ts';

export const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
export type StopSignal = typeof SIGNALS[number];
export const signalExitCode = (s: StopSignal): number => (s === 'SIGINT' ? 130 : 143);

export interface SignalStop {
  /** aborted by the first signal; its reason is the signal's name */
  readonly signal: AbortSignal;
  /** from now on a first signal stops gracefully (the run has something to keep) */
  graceful(): void;
  /** removes the handlers (the run is over) */
  dispose(): void;
}

export function stopOnSignals(): SignalStop {
  const proc = (globalThis as { process?: NodeJS.Process }).process;
  const ctl = new AbortController();
  let graceful = false;
  const handlers = SIGNALS.map((sig) => [sig, () => {
    if (graceful && !ctl.signal.aborted) { ctl.abort(sig); return; }
    writeStderr(`\nwebtune: ${sig}: ${graceful ? 'second signal, exiting now (the run directory is left as it is)' : 'exiting (training had not started: nothing written)'}\n`);
    proc?.exit(signalExitCode(sig));
  }] as const);
  for (const [sig, h] of handlers) proc?.on(sig, h);
  return {
    signal: ctl.signal,
    graceful: () => { graceful = true; },
    dispose: () => { for (const [sig, h] of handlers) proc?.off(sig, h); },
  };
}

/** What a stopped run tells the user on stderr: how far it got, where its files and last checkpoint are, how to go on. */
export function interruptedReport(r: SftResult): string {
  const lines = [`interrupted by ${r.interrupted} after step ${r.step} of ${r.totalSteps}: logging.jsonl and images/ written in ${r.runDir}`];
  if (r.lastCheckpoint) {
    const at = /checkpoint-(\d+)\/?$/.exec(r.lastCheckpoint)?.[1];
    lines.push(`last checkpoint ${r.lastCheckpoint}${at ? ` (step ${at})` : ''}; to continue, run the same command with --resume_from_checkpoint ${r.lastCheckpoint}`);
  } else {
    lines.push('no checkpoint was saved before the interruption, so the run cannot be resumed (--save_steps N saves every N steps)');
  }
  return lines.map((l) => `webtune: ${l}\n`).join('');
}
