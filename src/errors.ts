// Coded error classes. Every error the tool reports on purpose is an L2OError with a stable
// `code` (documented in the README) and the exit code it maps to. Messages are one line and
// name the file and the problem.

/** Exit codes shared by every command (see README "Exit codes"). */
export const EXIT = {
  OK: 0,
  /** finished, but something failed or was found invalid */
  PARTIAL: 1,
  /** nothing done: usage, config or environment error */
  USAGE: 2,
  SIGINT: 130,
  SIGTERM: 143,
} as const;

export class L2OError extends Error {
  readonly code: string;
  readonly exitCode: number;
  /** the file or path the problem is about, when there is one */
  readonly file?: string;
  constructor(code: string, message: string, opts: { exitCode?: number; file?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'L2OError';
    this.code = code;
    this.exitCode = opts.exitCode ?? EXIT.PARTIAL;
    if (opts.file !== undefined) this.file = opts.file;
  }
}

/** Bad command line. */
export class UsageError extends L2OError {
  constructor(message: string) {
    super('E_USAGE', message, { exitCode: EXIT.USAGE });
    this.name = 'UsageError';
  }
}

/** The root is missing, unreadable or not a Docker root: nothing can be done. */
export class RootError extends L2OError {
  constructor(code: 'E_ROOT_NOT_FOUND' | 'E_NOT_DOCKER_ROOT' | 'E_ROOT_UNREADABLE' | 'E_DRIVER_UNSUPPORTED', message: string, file?: string) {
    super(code, message, { exitCode: EXIT.USAGE, file });
    this.name = 'RootError';
  }
}

/** A reference the user gave does not resolve (unknown, ambiguous, malformed). */
export class RefError extends L2OError {
  constructor(code: 'E_REF_NOT_FOUND' | 'E_REF_AMBIGUOUS' | 'E_REF_INVALID', message: string) {
    super(code, message, { exitCode: EXIT.PARTIAL });
    this.name = 'RefError';
  }
}

/** Something in the legacy root is broken (json, chain, gzip, permissions). */
export class StoreError extends L2OError {
  constructor(code: string, message: string, file?: string, cause?: unknown) {
    super(code, message, { exitCode: EXIT.PARTIAL, file, cause });
    this.name = 'StoreError';
  }
}

/** Layer content could not be turned into a blob. */
export class LayerError extends L2OError {
  constructor(code: string, message: string, file?: string, cause?: unknown) {
    super(code, message, { exitCode: EXIT.PARTIAL, file, cause });
    this.name = 'LayerError';
  }
}

/** Writing the output failed (ENOSPC, lock, permissions). */
export class OutputError extends L2OError {
  constructor(code: string, message: string, file?: string, cause?: unknown) {
    super(code, message, { exitCode: EXIT.PARTIAL, file, cause });
    this.name = 'OutputError';
  }
}

/** Turn any thrown value into a one-line message. */
export function describeError(err: unknown): string {
  if (err instanceof L2OError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
