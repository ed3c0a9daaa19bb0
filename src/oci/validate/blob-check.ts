// One streaming pass over a blob: hash it, and for a layer also decompress it (format sniffed
// from the bytes), hash the tar (diffID) and scan its headers. Runs inside the worker pool;
// task and result are plain structured-clone-able objects. Never throws for a bad blob: all
// problems come back in the result.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { spawn } from 'node:child_process';
import { createGunzip } from 'node:zlib';
import type { Writable } from 'node:stream';
import type { DigestAlgorithm } from './digest.js';
import { TarScanner } from './tar-scan.js';
import { LayerChecker, type LayerFinding } from './layer-rules.js';

export interface BlobTask {
  /** absolute path of the blob file */
  file: string;
  algorithm: DigestAlgorithm;
  /** 'hash': size and digest only; 'layer': also decompress, diffID and tar checks */
  mode: 'hash' | 'layer';
  diffIdAlgorithm?: DigestAlgorithm;
  dockerWritten?: boolean;
  zstdCommand?: string;
  maxFindingsPerRule?: number;
}

export type DataFormat = 'tar' | 'gzip' | 'zstd' | 'xz' | 'bzip2';

export interface LayerResult {
  format: DataFormat;
  /** `<alg>:<hex>` of the uncompressed stream; absent when it could not be decompressed */
  diffID?: string;
  decodeError?: string;
  zstdUnavailable?: boolean;
  uncompressedSize: number;
  entries: number;
  findings: LayerFinding[];
}

export interface BlobResult {
  /** the blob could not be read (code is the errno code, e.g. ENOENT) */
  readError?: { code: string; message: string };
  size: number;
  /** `<alg>:<hex>` of the bytes read */
  digest: string;
  layer?: LayerResult;
}

const CHUNK = 1 << 20;

export function sniffFormat(head: Buffer): DataFormat {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  return 'tar';
}

/** Receives the uncompressed tar stream. */
class TarSink {
  readonly hash: Hash | undefined;
  readonly algorithm: DigestAlgorithm;
  size = 0;
  readonly scanner: TarScanner;
  readonly checker: LayerChecker;

  constructor(task: BlobTask, hashIt: boolean) {
    this.algorithm = task.diffIdAlgorithm ?? 'sha256';
    this.hash = hashIt ? createHash(this.algorithm) : undefined;
    this.checker = new LayerChecker({ dockerWritten: task.dockerWritten ?? false, maxPerRule: task.maxFindingsPerRule ?? 20 });
    this.scanner = new TarScanner((e) => this.checker.entry(e));
  }

  write(chunk: Buffer): void {
    this.hash?.update(chunk);
    this.size += chunk.length;
    this.scanner.push(chunk);
  }
}

interface Decoder {
  write(chunk: Buffer): Promise<void> | void;
  end(): Promise<void>;
  /** stop early (the blob could not be read to the end) */
  abort(): void;
  error?: string;
  unavailable?: boolean;
}

function waitWritable(w: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      w.off('drain', done);
      w.off('error', done);
      w.off('close', done);
      resolve();
    };
    w.on('drain', done);
    w.on('error', done);
    w.on('close', done);
  });
}

function plainDecoder(sink: TarSink): Decoder {
  return { write: (c) => sink.write(c), end: async () => {}, abort: () => {} };
}

function gzipDecoder(sink: TarSink): Decoder {
  const z = createGunzip({ chunkSize: 256 * 1024 });
  const d: Decoder = {
    write: (c) => (d.error !== undefined || z.write(c) ? undefined : waitWritable(z)),
    end: () =>
      new Promise<void>((resolve) => {
        if (d.error !== undefined) return resolve();
        z.once('end', resolve);
        z.once('error', () => resolve());
        z.end();
      }),
    abort: () => z.destroy(),
  };
  z.on('data', (c: Buffer) => sink.write(c));
  z.on('error', (e: Error) => {
    d.error ??= `gzip: ${e.message}`;
  });
  return d;
}

async function zstdDecoder(sink: TarSink, command: string): Promise<Decoder> {
  const child = spawn(command, ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const d: Decoder = { write: () => {}, end: async () => {}, abort: () => child.kill() };
  const started = await new Promise<boolean>((resolve) => {
    child.once('spawn', () => resolve(true));
    child.once('error', () => resolve(false));
  });
  if (!started) {
    d.unavailable = true;
    return d;
  }
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    if (stderr.length < 2000) stderr += c.toString();
  });
  child.stdout.on('data', (c: Buffer) => sink.write(c));
  child.stdin.on('error', () => {}); // EPIPE when zstd gives up early; the exit status tells why
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  d.write = (c) => (child.stdin.destroyed || child.stdin.write(c) ? undefined : waitWritable(child.stdin));
  d.end = async () => {
    child.stdin.end();
    const code = await exited;
    if (code !== 0) d.error = `zstd: ${stderr.trim().split('\n').pop() || `exit status ${code}`}`;
  };
  return d;
}

export async function checkBlob(task: BlobTask): Promise<BlobResult> {
  const blobHash = createHash(task.algorithm);
  let size = 0;
  let format: DataFormat | undefined;
  let sink: TarSink | undefined;
  let decoder: Decoder | undefined;
  const sameHash = (task.diffIdAlgorithm ?? 'sha256') === task.algorithm;
  try {
    for await (const chunk of createReadStream(task.file, { highWaterMark: CHUNK }) as AsyncIterable<Buffer>) {
      blobHash.update(chunk);
      size += chunk.length;
      if (task.mode !== 'layer') continue;
      if (format === undefined) {
        format = sniffFormat(chunk);
        ({ sink, decoder } = await startDecoder(task, format, sameHash));
      }
      if (decoder && decoder.error === undefined && !decoder.unavailable) await decoder.write(chunk);
    }
  } catch (err) {
    decoder?.abort();
    const e = err as NodeJS.ErrnoException;
    return { readError: { code: e.code ?? 'EIO', message: e.message }, size, digest: '' };
  }
  const digest = `${task.algorithm}:${blobHash.digest('hex')}`;
  if (task.mode !== 'layer') return { size, digest };
  if (format === undefined) {
    // empty blob: an empty stream is a (degenerate) plain tar
    format = 'tar';
    ({ sink, decoder } = await startDecoder(task, format, sameHash));
  }
  return { size, digest, layer: await finishLayer(format, sink, decoder, digest) };
}

async function startDecoder(task: BlobTask, format: DataFormat, sameHash: boolean): Promise<{ sink?: TarSink; decoder?: Decoder }> {
  switch (format) {
    case 'tar': {
      const sink = new TarSink(task, !sameHash);
      return { sink, decoder: plainDecoder(sink) };
    }
    case 'gzip': {
      const sink = new TarSink(task, true);
      return { sink, decoder: gzipDecoder(sink) };
    }
    case 'zstd': {
      const sink = new TarSink(task, true);
      return { sink, decoder: await zstdDecoder(sink, task.zstdCommand ?? 'zstd') };
    }
    default:
      return {};
  }
}

async function finishLayer(format: DataFormat, sink: TarSink | undefined, decoder: Decoder | undefined, digest: string): Promise<LayerResult> {
  const base = { format, uncompressedSize: 0, entries: 0, findings: [] as LayerFinding[] };
  if (!sink || !decoder) return { ...base, decodeError: `${format} data cannot be decompressed here` };
  if (decoder.unavailable) return { ...base, zstdUnavailable: true };
  await decoder.end();
  const result: LayerResult = { ...base, uncompressedSize: sink.size, entries: sink.scanner.entries };
  if (decoder.error !== undefined) return { ...result, decodeError: decoder.error };
  sink.scanner.end();
  result.diffID = sink.hash ? `${sink.algorithm}:${sink.hash.digest('hex')}` : digest;
  const findings = sink.checker.finish();
  if (sink.scanner.error !== undefined) findings.unshift({ rule: 'tar-corrupt', severity: 'error', message: sink.scanner.error });
  if (sink.scanner.unpaddedEnd) {
    findings.push({ rule: 'tar-unpadded-end', severity: 'warning', message: 'tar ends without the last entry\'s padding and the end-of-archive blocks (Go readers accept it; GNU tar reports Unexpected EOF)' });
  }
  result.findings = findings;
  return result;
}
