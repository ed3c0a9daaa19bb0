// 'none': the blob is the tar itself (media type …layer.v1.tar; digest == diffID).
import type { Compressor, OnCompressedData } from './compressor.js';

export function createIdentity(onData: OnCompressedData): Compressor {
  return {
    name: 'none',
    write(chunk: Buffer, release?: (chunk: Buffer) => void) {
      onData(chunk); // the sink copies or writes synchronously
      release?.(chunk);
      return undefined;
    },
    end: () => Promise.resolve(),
    abort: () => {},
  };
}
