// The progress line on stderr: step/total, a bar, loss, lr, tokens/s and ETA. Redrawn in place on a terminal;
// elsewhere (pipes, CI) printed only at logging steps so logs stay readable.
import { writeStderr } from '../../runtime/platform.ts';

const fmtTime = (s: number) => {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return `${h ? `${h}:` : ''}${String(m).padStart(h ? 2 : 1, '0')}:${String(sec).padStart(2, '0')}`;
};

export class Progress {
  private readonly tty = !!(globalThis as { process?: NodeJS.Process }).process?.stderr?.isTTY;
  private readonly start = performance.now();
  private last = '';

  constructor(private readonly total: number, private readonly first: number) {}

  update(step: number, v: { loss: number; lr: number; tokensPerSec: number }, logged: boolean): void {
    const el = (performance.now() - this.start) / 1000, done = step - this.first;
    const eta = done > 0 ? (el / done) * (this.total - step) : NaN, frac = step / this.total, width = 24;
    const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '░');
    this.last = `train ${step}/${this.total} ${bar} ${(frac * 100).toFixed(0)}% | loss ${v.loss.toFixed(4)} | lr ${v.lr.toExponential(2)} | ` +
      `${v.tokensPerSec.toFixed(0)} tok/s | ${fmtTime(el)}<${fmtTime(eta)}`;
    if (this.tty) writeStderr(`\r\x1b[2K${this.last}`);
    else if (logged || step === this.total) writeStderr(`${this.last}\n`);
  }

  /** Prints a message without garbling the bar. */
  note(msg: string): void {
    writeStderr(this.tty ? `\r\x1b[2K${msg}\n${this.last}` : `${msg}\n`);
  }

  done(): void { if (this.tty) writeStderr('\n'); }
}
