// Where tar producers (tar-split replay, regeneration) put their bytes.

/**
 * A byte sink. `write` copies what it needs before returning, so callers may reuse `chunk`.
 * It returns a promise only when the consumer wants the producer to wait (backpressure);
 * producers `await` it only in that case, so thousands of 512-byte headers cost no microtasks.
 */
export interface TarSink {
  write(chunk: Buffer): Promise<void> | undefined;
}

/** A sink that collects everything in memory (tests, small layers). */
export class MemorySink implements TarSink {
  private readonly parts: Buffer[] = [];
  write(chunk: Buffer): undefined {
    this.parts.push(Buffer.from(chunk));
    return undefined;
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Human-readable form of a raw name for messages: UTF-8 where valid, \xNN escapes otherwise. */
export function displayName(name: Buffer): string {
  let out = '';
  let i = 0;
  const text = name.toString('utf8');
  if (Buffer.from(text, 'utf8').equals(name) && !/[\x00-\x1f\x7f]/.test(text)) return text;
  while (i < name.length) {
    const b = name[i++];
    out += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}
