// image/<driver>/repositories.json (legacy-formats.md §4.7, §5):
// {"Repositories":{familiar-name:{"name:tag" | "name@sha256:…": "sha256:<image id>"}}}.
// Unlike repositories-<driver>, the inner keys are whole references and the values image ids.

import { join } from 'node:path';
import { DIGEST_RE } from '../../ids.js';
import { readRepositoriesObject } from '../graph-aufs.js';
import { normalizeRepository, parseReference } from '../refs.js';
import type { Problem, TagRecord } from '../types.js';

export function readCasRepositories(storeDir: string, problems: Problem[]): TagRecord[] {
  const p = join(storeDir, 'repositories.json');
  const repos = readRepositoriesObject(p, problems);
  if (!repos) return [];
  const out: TagRecord[] = [];
  const seen = new Set<string>();
  for (const repoName of Object.keys(repos).sort()) {
    const entries = (repos as Record<string, unknown>)[repoName];
    if (!entries || typeof entries !== 'object' || Array.isArray(entries)) {
      problems.push({ code: 'W_BAD_REPOSITORY', severity: 'warning', message: `${p}: references of ${repoName.slice(0, 100)} are not an object`, file: p });
      continue;
    }
    for (const key of Object.keys(entries).sort()) {
      const value = (entries as Record<string, unknown>)[key];
      if (typeof value !== 'string' || !DIGEST_RE.test(value)) {
        problems.push({ code: 'E_BAD_ID', severity: 'error', message: `${p}: ${key.slice(0, 100)} points at an invalid image id ${JSON.stringify(String(value).slice(0, 80))}`, file: p });
        continue;
      }
      let ref;
      try {
        ref = parseReference(key);
      } catch {
        ref = null;
      }
      // the key must name its tag or digest itself (`localhost:5000/app` has a colon but no tag)
      // and belong to the repository it is filed under
      const explicit = key.includes('@') || key.slice(key.lastIndexOf('/') + 1).includes(':');
      if (!ref || (ref.kind !== 'tag' && ref.kind !== 'digest') || !explicit || key !== key.trim() || ref.repository !== normalizeRepository(repoName)) {
        problems.push({ code: 'W_BAD_TAG', severity: 'warning', message: `${p}: reference ${JSON.stringify(key.slice(0, 100))} is invalid; ignored`, file: p });
        continue;
      }
      if (seen.has(ref.ref)) continue;
      seen.add(ref.ref);
      const id = value.slice('sha256:'.length);
      out.push(ref.kind === 'tag'
        ? { repository: ref.repository, tag: ref.tag, digest: null, id, ref: ref.ref }
        : { repository: ref.repository, tag: null, digest: ref.digest, id, ref: ref.ref });
    }
  }
  return out;
}
