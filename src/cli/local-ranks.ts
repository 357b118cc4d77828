// `NPROC_PER_NODE=P webtune sft …` (ms-swift's convention): this process becomes a small launcher that starts P
// copies of the same command as local ranks, with the variables torchrun would give them (src/dist/env.ts), passes
// their output through, forwards Ctrl-C/SIGTERM, stops the others when one fails, and exits with the first failure's
// code. It starts them directly rather than through torchrun: the variables are the same, and Debian 12's torchrun
// (PyTorch 1.13 on Python 3.11) does not start without extra flags. Node and Deno (node:child_process).
import { spawn, type ChildProcess } from 'node:child_process';
import { rankVariables, type LocalLaunch } from '../dist/env.ts';
import { argv, writeStderr } from '../../runtime/platform.ts';

/** Runs the ranks to the end; resolves with the exit code this launcher should exit with. */
export async function launchLocalRanks(l: LocalLaunch): Promise<number> {
  const cli = decodeURIComponent(new URL(import.meta.url).pathname);  // the bundle this code runs in (dist/webtune.mjs)
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  const [cmd, pre] = deno ? [deno.execPath(), ['run', '-A', cli]] : [process.execPath, [cli]];
  const env = { ...process.env };
  delete env.NPROC_PER_NODE;
  writeStderr(`webtune: NPROC_PER_NODE=${l.nproc}: starting ranks ${l.nodeRank * l.nproc}–${(l.nodeRank + 1) * l.nproc - 1} of ${l.nnodes * l.nproc} (master ${l.masterAddr}:${l.masterPort})\n`);
  const children: ChildProcess[] = [];
  let code = 0;
  const stopAll = (signal: NodeJS.Signals) => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal); };
  const onSignal = (s: NodeJS.Signals) => () => stopAll(s);
  const handlers = { SIGINT: onSignal('SIGINT'), SIGTERM: onSignal('SIGTERM') };
  for (const [s, h] of Object.entries(handlers)) process.on(s, h);
  try {
    await Promise.all(Array.from({ length: l.nproc }, (_, local) => new Promise<void>((done) => {
      const child = spawn(cmd, [...pre, ...argv()], { env: { ...env, ...rankVariables(l, local) }, stdio: 'inherit' });
      children.push(child);
      child.once('error', (e) => { writeStderr(`webtune: local rank ${local}: ${e.message}\n`); code ||= 1; stopAll('SIGTERM'); done(); });
      child.once('exit', (c, signal) => {
        const failedWith = c ?? (signal ? 128 + ({ SIGINT: 2, SIGTERM: 15, SIGKILL: 9 }[signal as string] ?? 1) : 1);
        if (failedWith !== 0 && !code) { code = failedWith; stopAll('SIGTERM'); }
        done();
      });
    })));
  } finally {
    for (const [s, h] of Object.entries(handlers)) process.off(s, h);
  }
  return code;
}
