// One status line on stderr (training progress, downloads): redrawn in place on a terminal; elsewhere (pipes, CI)
// printed as whole lines only when the caller says so, so logs stay readable.
import { writeStderr } from './platform.ts';

/** A text bar: `frac` of `width` cells filled. */
export const progressBar = (frac: number, width: number): string =>
  '█'.repeat(Math.round(Math.min(1, Math.max(0, frac)) * width)).padEnd(width, '░');

export class StatusLine {
  readonly tty = !!(globalThis as { process?: NodeJS.Process }).process?.stderr?.isTTY;
  private last = '';

  /** Shows `line`: redrawn on a terminal; elsewhere printed only when `print` (a logging step, the end). */
  show(line: string, print: boolean): void {
    this.last = line;
    if (this.tty) writeStderr(`\r\x1b[2K${line}`);
    else if (print) writeStderr(`${line}\n`);
  }

  /** Prints a message without garbling the line. */
  note(msg: string): void {
    writeStderr(this.tty ? `\r\x1b[2K${msg}\n${this.last}` : `${msg}\n`);
  }

  /** Ends the line on a terminal. */
  done(): void { if (this.tty) writeStderr('\n'); }
}
