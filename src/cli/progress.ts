// Progress on stderr: an ora spinner line on a TTY (layers done/total, bytes, throughput, ETA),
// sparse plain lines when not a TTY or CI=true, nothing with --quiet.

import type { Ora } from 'ora';
import { humanSize } from './args.js';

export interface ProgressState {
  layersDone: number;
  layersTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface Progress {
  update(state: ProgressState, note?: string): void;
  /** a line that stays (warnings, per-image results) */
  log(line: string): void;
  done(summary: string): void;
  fail(summary: string): void;
}

function describe(s: ProgressState, startedAt: number): string {
  const secs = Math.max((Date.now() - startedAt) / 1000, 0.001);
  const rate = s.bytesDone / secs;
  const left = s.bytesTotal > s.bytesDone && rate > 0 ? (s.bytesTotal - s.bytesDone) / rate : 0;
  const eta = left > 0 ? ` ETA ${left < 60 ? `${Math.ceil(left)}s` : `${Math.floor(left / 60)}m${Math.ceil(left % 60)}s`}` : '';
  return `layers ${s.layersDone}/${s.layersTotal}  ${humanSize(s.bytesDone)}/${humanSize(s.bytesTotal)}  ${humanSize(rate)}/s${eta}`;
}

/** The progress display; ora (and its dependencies) is only loaded for an interactive terminal. */
export async function createProgress(opts: { quiet?: boolean; label: string }): Promise<Progress> {
  const startedAt = Date.now();
  if (opts.quiet) {
    return { update() {}, log() {}, done() {}, fail(s) { process.stderr.write(s + '\n'); } };
  }
  // ora needs a real terminal: a pty that reports 0 columns makes it redraw forever, and CI logs
  // want plain lines (ora itself turns off whenever CI is set at all).
  const interactive = Boolean(process.stderr.isTTY) && (process.stderr.columns ?? 0) > 0 && !process.env.CI;
  if (interactive) {
    const { default: ora } = await import('ora');
    const spinner: Ora = ora({ text: opts.label, stream: process.stderr }).start();
    return {
      update(state, note) { spinner.text = `${opts.label}  ${describe(state, startedAt)}${note ? `  ${note}` : ''}`; },
      log(line) { spinner.clear(); process.stderr.write(line + '\n'); spinner.render(); },
      done(summary) { spinner.succeed(summary); },
      fail(summary) { spinner.fail(summary); },
    };
  }
  // Plain mode: one line at most every 5 s, plus the final one.
  let lastLine = 0;
  return {
    update(state, note) {
      const now = Date.now();
      if (now - lastLine < 5000 && state.layersDone !== state.layersTotal) return;
      lastLine = now;
      process.stderr.write(`${opts.label}: ${describe(state, startedAt)}${note ? `  ${note}` : ''}\n`);
    },
    log(line) { process.stderr.write(line + '\n'); },
    done(summary) { process.stderr.write(summary + '\n'); },
    fail(summary) { process.stderr.write(summary + '\n'); },
  };
}
