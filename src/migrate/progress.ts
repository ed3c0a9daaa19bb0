// Migrate progress on stderr: per host and overall, images, layers, bytes, throughput and ETA.
// An ora spinner with one line per running host on a TTY; plain lines at most every 5 s (and one
// per finished host) when stderr is not a TTY or CI=true; nothing with --quiet.
//
// Throughput and ETA count only the bytes this run read: layers taken from the journal are done
// at once and would make the rate meaningless.

import ora, { type Ora } from 'ora';
import { humanSize } from '../cli/args.js';

export interface HostProgress {
  name: string;
  state: 'waiting' | 'running' | 'exported' | 'partial' | 'failed' | 'skipped';
  imagesTotal: number;
  imagesDone: number;
  layersTotal: number;
  layersDone: number;
  /** estimate (layersize), raised to bytesDone when it was too low */
  bytesTotal: number;
  bytesDone: number;
  /** bytes read by this run (not from the journal) */
  bytesThisRun: number;
  /** when the host started (for its throughput) */
  startedAt: number | null;
}

export interface MigrateProgress {
  /** something changed: re-render (throttled) */
  tick(): void;
  /** a line that stays */
  log(line: string): void;
  hostDone(h: HostProgress, summary: string): void;
  done(summary: string, ok: boolean): void;
}

function eta(remaining: number, rate: number): string {
  if (!(remaining > 0) || !(rate > 0)) return '';
  const s = remaining / rate;
  if (s < 60) return ` ETA ${Math.ceil(s)}s`;
  if (s < 3600) return ` ETA ${Math.floor(s / 60)}m${String(Math.ceil(s % 60)).padStart(2, '0')}s`;
  return ` ETA ${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function line(label: string, p: Omit<HostProgress, 'name' | 'state'>, now: number): string {
  const secs = p.startedAt === null ? 0 : Math.max((now - p.startedAt) / 1000, 0.001);
  const rate = secs > 0 ? p.bytesThisRun / secs : 0;
  const total = Math.max(p.bytesTotal, p.bytesDone);
  return `${label}  images ${p.imagesDone}/${p.imagesTotal}  layers ${p.layersDone}/${p.layersTotal}  ${humanSize(p.bytesDone)}/${humanSize(total)}  ${humanSize(Math.round(rate))}/s${eta(total - p.bytesDone, rate)}`;
}

function overall(hosts: HostProgress[], startedAt: number): Omit<HostProgress, 'name' | 'state'> {
  const o = { imagesTotal: 0, imagesDone: 0, layersTotal: 0, layersDone: 0, bytesTotal: 0, bytesDone: 0, bytesThisRun: 0, startedAt };
  for (const h of hosts) {
    o.imagesTotal += h.imagesTotal;
    o.imagesDone += h.imagesDone;
    o.layersTotal += h.layersTotal;
    o.layersDone += h.layersDone;
    o.bytesTotal += Math.max(h.bytesTotal, h.bytesDone);
    o.bytesDone += h.bytesDone;
    o.bytesThisRun += h.bytesThisRun;
  }
  return o;
}

export function createMigrateProgress(opts: { quiet?: boolean; hosts: HostProgress[]; label?: string }): MigrateProgress {
  const startedAt = Date.now();
  const label = opts.label ?? 'migrate';
  const hosts = opts.hosts;
  const finished = () => hosts.filter((h) => h.state !== 'waiting' && h.state !== 'running').length;
  const head = (now: number) => line(`${label} (hosts ${finished()}/${hosts.length})`, overall(hosts, startedAt), now);
  if (opts.quiet) {
    return { tick() {}, log() {}, hostDone() {}, done(summary, ok) { if (!ok) process.stderr.write(summary + '\n'); } };
  }
  // A terminal that reports 0 columns (a bare pty, a serial console) makes ora clear Infinity lines:
  // plain lines there.
  const interactive = Boolean(process.stderr.isTTY) && (process.stderr.columns ?? 0) > 0 && process.env.CI !== 'true' && process.env.CI !== '1';
  if (interactive) {
    const spinner: Ora = ora({ text: label, stream: process.stderr }).start();
    let last = 0;
    const render = (force = false) => {
      const now = Date.now();
      if (!force && now - last < 100) return;
      last = now;
      const running = hosts.filter((h) => h.state === 'running');
      spinner.text = [head(now), ...running.map((h) => `  ${line(h.name, h, now)}`)].join('\n');
    };
    const timer = setInterval(() => render(true), 1000);
    timer.unref();
    return {
      tick() { render(); },
      log(l) { spinner.clear(); process.stderr.write(l + '\n'); render(true); spinner.render(); },
      hostDone(_h, summary) { spinner.clear(); process.stderr.write(summary + '\n'); render(true); spinner.render(); },
      done(summary, ok) { clearInterval(timer); if (ok) spinner.succeed(summary); else spinner.fail(summary); },
    };
  }
  let lastLine = 0;
  return {
    tick() {
      const now = Date.now();
      if (now - lastLine < 5000) return;
      lastLine = now;
      const running = hosts.filter((h) => h.state === 'running');
      process.stderr.write([head(now), ...running.map((h) => `  ${line(h.name, h, now)}`)].join('\n') + '\n');
    },
    log(l) { process.stderr.write(l + '\n'); },
    hostDone(_h, summary) { process.stderr.write(summary + '\n'); },
    done(summary) { process.stderr.write(summary + '\n'); },
  };
}
