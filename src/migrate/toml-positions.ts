// Where each key of a TOML document is written (line and column, 1-based), by key path.
//
// @iarna/toml gives positions only for syntax errors, and config errors must point at the key they
// are about. This is a small scanner over a document that has already parsed: it follows table
// headers (`[a.b]`, `[[host]]` with a running index per array of tables), dotted and quoted keys,
// inline tables and arrays (elements get `path[i]`), and skips strings (all four kinds) and comments.
// It never judges validity: the parser already did.
//
// Paths look like `jobs`, `host[1].root`, `host[0].include[2]`; keys that are not bare are quoted
// (`"a b"`). Array-of-tables indexes are 0-based, like the parsed arrays.

export interface Position {
  line: number;
  column: number;
}

export type PathSegment = string | number;

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/** The printable form of a key path: `host[1].include[0]`. */
export function formatPath(segments: readonly PathSegment[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else {
      const key = BARE_KEY.test(s) ? s : JSON.stringify(s);
      out += out === '' ? key : `.${key}`;
    }
  }
  return out;
}

export class KeyPositions {
  constructor(private readonly map: Map<string, Position>) {}

  /** Position of `path`, or of its nearest recorded ancestor (a missing key: its table), or 1:1. */
  of(path: readonly PathSegment[]): Position {
    for (let n = path.length; n > 0; n--) {
      const p = this.map.get(formatPath(path.slice(0, n)));
      if (p) return p;
    }
    return { line: 1, column: 1 };
  }

  /** Exactly `path`, when it is written in the document. */
  exact(path: readonly PathSegment[]): Position | undefined {
    return this.map.get(formatPath(path));
  }

  get size(): number {
    return this.map.size;
  }

  keys(): string[] {
    return [...this.map.keys()];
  }
}

/** Scan `text` (valid TOML) and record where every key, table header and array element starts. */
export function locateKeys(text: string): KeyPositions {
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') lineStarts.push(i + 1);
  const posAt = (index: number): Position => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= index) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: index - lineStarts[lo]! + 1 };
  };

  const map = new Map<string, Position>();
  const record = (path: PathSegment[], index: number) => {
    const key = formatPath(path);
    if (!map.has(key)) map.set(key, posAt(index));
  };
  /** array-of-tables path (with resolved parent indexes) → how many elements so far */
  const arrayCounts = new Map<string, number>();
  let i = 0;
  const n = text.length;

  const skipSpaces = () => {
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
  };
  const skipComment = () => {
    if (text[i] === '#') while (i < n && text[i] !== '\n') i++;
  };
  /** spaces, newlines and comments (inside arrays) */
  const skipBlank = () => {
    for (;;) {
      const c = text[i];
      if (c === ' ' || c === '\t' || c === '\r' || c === '\n') i++;
      else if (c === '#') skipComment();
      else return;
    }
  };

  const readQuoted = (quote: '"' | "'"): string => {
    const start = i;
    i++;
    while (i < n && text[i] !== quote && text[i] !== '\n') {
      if (quote === '"' && text[i] === '\\') i++;
      i++;
    }
    i++;
    const raw = text.slice(start, i);
    if (quote === "'") return raw.slice(1, -1);
    try {
      return JSON.parse(raw.replace(/\\U([0-9A-Fa-f]{8})/g, (_m, h: string) => String.fromCodePoint(parseInt(h, 16))).replace(/\\e/g, '\\u001b')) as string;
    } catch {
      return raw.slice(1, -1);
    }
  };

  /** A dotted key at i: its parts and where it starts. */
  const readKey = (): { parts: string[]; start: number } => {
    const start = i;
    const parts: string[] = [];
    for (;;) {
      skipSpaces();
      const c = text[i];
      if (c === '"' || c === "'") parts.push(readQuoted(c));
      else {
        const s = i;
        while (i < n && /[A-Za-z0-9_-]/.test(text[i]!)) i++;
        parts.push(text.slice(s, i));
        if (i === s) i++; // not valid TOML; never loop forever
      }
      skipSpaces();
      if (text[i] === '.') {
        i++;
        continue;
      }
      return { parts, start };
    }
  };

  const skipString = () => {
    const q = text[i] as '"' | "'";
    if (text.startsWith(q.repeat(3), i)) {
      i += 3;
      while (i < n && !text.startsWith(q.repeat(3), i)) {
        if (q === '"' && text[i] === '\\') i++;
        i++;
      }
      i += 3;
      while (text[i] === q) i++; // up to two quotes may end the content
      return;
    }
    readQuoted(q);
  };

  const readValue = (path: PathSegment[]): void => {
    const c = text[i];
    if (c === '"' || c === "'") return skipString();
    if (c === '[') {
      i++;
      let index = 0;
      for (;;) {
        skipBlank();
        if (i >= n) return;
        if (text[i] === ']') {
          i++;
          return;
        }
        record([...path, index], i);
        readValue([...path, index]);
        index++;
        skipBlank();
        if (text[i] === ',') i++;
      }
    }
    if (c === '{') {
      i++;
      for (;;) {
        skipSpaces();
        if (i >= n || text[i] === '\n') return;
        if (text[i] === '}') {
          i++;
          return;
        }
        if (text[i] === ',') {
          i++;
          continue;
        }
        const { parts, start } = readKey();
        const full = [...path, ...parts];
        for (let k = path.length + 1; k <= full.length; k++) record(full.slice(0, k), start);
        skipSpaces();
        if (text[i] === '=') i++;
        skipSpaces();
        readValue(full);
      }
    }
    while (i < n && !',]}\n\r#'.includes(text[i]!)) i++;
  };

  let table: PathSegment[] = [];
  while (i < n) {
    skipBlank();
    if (i >= n) break;
    if (text[i] === '[') {
      const start = i;
      const isArray = text[i + 1] === '[';
      i += isArray ? 2 : 1;
      const { parts } = readKey();
      i += isArray ? 2 : 1;
      const resolved: PathSegment[] = [];
      parts.forEach((part, k) => {
        resolved.push(part);
        const key = formatPath(resolved);
        if (isArray && k === parts.length - 1) {
          record(resolved, start);
          const count = arrayCounts.get(key) ?? 0;
          arrayCounts.set(key, count + 1);
          resolved.push(count);
        } else if (arrayCounts.has(key)) {
          resolved.push(arrayCounts.get(key)! - 1);
        }
      });
      record(resolved, start);
      table = resolved;
    } else {
      const { parts, start } = readKey();
      const full = [...table, ...parts];
      for (let k = table.length + 1; k <= full.length; k++) record(full.slice(0, k), start);
      skipSpaces();
      if (text[i] === '=') i++;
      skipSpaces();
      readValue(full);
    }
    // the rest of the line: spaces and a comment
    skipSpaces();
    skipComment();
  }
  return new KeyPositions(map);
}
