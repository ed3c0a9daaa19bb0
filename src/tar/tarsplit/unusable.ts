// The one error that means "this layer's tar-split data cannot reproduce the tar": the caller
// discards the partial output and regenerates. The message is the `reason` recorded in reports.
import { LayerError } from '../../errors.js';

export class TarSplitUnusableError extends LayerError {
  /** e.g. `tar-split: crc mismatch for etc/passwd` */
  readonly reason: string;
  constructor(reason: string, file?: string, cause?: unknown) {
    const text = `tar-split: ${reason}`;
    super('E_TARSPLIT_UNUSABLE', text, file, cause);
    this.name = 'TarSplitUnusableError';
    this.reason = text;
  }
}
