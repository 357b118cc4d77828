// The training progress line on stderr: step/total, a bar, loss, lr, tokens/s and ETA (printed at logging steps
// when stderr is not a terminal).
import { progressBar, StatusLine } from '../../runtime/progress-line.ts';

const fmtTime = (s: number) => {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return `${h ? `${h}:` : ''}${String(m).padStart(h ? 2 : 1, '0')}:${String(sec).padStart(2, '0')}`;
};

export class Progress {
  private readonly line = new StatusLine();
  private readonly start = performance.now();

  constructor(private readonly total: number, private readonly first: number) {}

  update(step: number, v: { loss: number; lr: number; tokensPerSec: number }, logged: boolean): void {
    const el = (performance.now() - this.start) / 1000, done = step - this.first;
    const eta = done > 0 ? (el / done) * (this.total - step) : NaN, frac = step / this.total;
    this.line.show(`train ${step}/${this.total} ${progressBar(frac, 24)} ${(frac * 100).toFixed(0)}% | loss ${v.loss.toFixed(4)} | ` +
      `lr ${v.lr.toExponential(2)} | ${v.tokensPerSec.toFixed(0)} tok/s | ${fmtTime(el)}<${fmtTime(eta)}`, logged || step === this.total);
  }

  /** Prints a message without garbling the bar. */
  note(msg: string): void { this.line.note(msg); }

  done(): void { this.line.done(); }
}
