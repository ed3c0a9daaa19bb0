// include/exclude name patterns of migrate.toml.
//
// A pattern is matched against an image's `repo:tag` and against its `repo` alone, in the familiar
// form the host knows (`busybox`, `training/webapp`, `localhost:5000/x/y`); the whole name must
// match. `*` matches within one path segment (no `/`), `**` matches across segments, `?` one
// character other than `/`. Everything else is literal.
//
//   training/*        training/webapp, training/webapp:latest     (not training/a/b)
//   training/**       training/a/b:1
//   *:latest          busybox:latest                              (not training/webapp:latest)
//   **:latest         every image tagged latest

export type NamePattern = { text: string; re: RegExp };

export function compilePattern(text: string): NamePattern {
  let src = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '*') {
      if (text[i + 1] === '*') {
        src += '.*';
        i++;
      } else src += '[^/]*';
    } else if (c === '?') src += '[^/]';
    else src += c.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return { text, re: new RegExp(`^${src}$`, 's') };
}

/** Does `repoTag` (`repo:tag`) or its repository match the pattern? */
export function matchesName(p: NamePattern, repoTag: string, repository: string): boolean {
  return p.re.test(repoTag) || p.re.test(repository);
}

/**
 * Filter by include (empty = everything) then exclude. Returns null when selected, else the reason.
 */
export function nameSelection(include: readonly NamePattern[], exclude: readonly NamePattern[], repoTag: string, repository: string): string | null {
  if (include.length > 0 && !include.some((p) => matchesName(p, repoTag, repository))) {
    return `matches no include pattern (${include.map((p) => p.text).join(', ')})`;
  }
  const ex = exclude.find((p) => matchesName(p, repoTag, repository));
  if (ex) return `excluded by pattern ${ex.text}`;
  return null;
}
