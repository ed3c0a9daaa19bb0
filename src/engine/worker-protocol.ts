// What crosses the worker boundary. Errors do not survive structured cloning with their class
// and code, so the worker replies with a plain envelope and the main thread rebuilds the error.
import { L2OError, LayerError, OutputError, StoreError } from '../errors.js';
import type { LayerResult } from './types.js';

export interface PlainError {
  /** class name: 'LayerError', 'OutputError', ... */
  name: string;
  code: string;
  message: string;
  file?: string;
}

export type WorkerReply = { ok: true; result: LayerResult } | { ok: false; error: PlainError };

/** Any thrown value → a plain, cloneable description (uncoded errors become E_LAYER_INTERNAL). */
export function toPlainError(err: unknown): PlainError {
  if (err instanceof L2OError) {
    const plain: PlainError = { name: err.name, code: err.code, message: err.message };
    if (err.file !== undefined) plain.file = err.file;
    return plain;
  }
  const e = err as NodeJS.ErrnoException;
  if (e instanceof Error) {
    const plain: PlainError = { name: 'LayerError', code: 'E_LAYER_INTERNAL', message: e.code ? `${e.code}: ${e.message}` : e.message };
    if (typeof e.path === 'string') plain.file = e.path;
    return plain;
  }
  return { name: 'LayerError', code: 'E_LAYER_INTERNAL', message: String(err) };
}

/** Rebuild a coded error on the main thread. */
export function fromPlainError(plain: PlainError): L2OError {
  switch (plain.name) {
    case 'OutputError':
      return new OutputError(plain.code, plain.message, plain.file);
    case 'StoreError':
      return new StoreError(plain.code, plain.message, plain.file);
    default: {
      const err = new LayerError(plain.code, plain.message, plain.file);
      return err;
    }
  }
}
