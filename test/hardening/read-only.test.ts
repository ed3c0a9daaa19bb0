// Read-only proof: every command (ls, inspect, export in all its forms, validate, migrate), on
// success and on failure paths, run against the broken fixture host
//   1. mounted read-only (a read-only bind mount in a private mount namespace): every command gives
//      the same exit status, the same error codes and byte-identical layouts as against the same
//      root writable, so nothing ever needed to write into it;
//   2. writable, under strace: not one open for writing, create, rename, unlink, mkdir, chmod,
//      chown, utime or xattr change names a path in the root, and its tree hash is unchanged.
// Part 1 needs root and mount rights, part 2 strace; each is skipped with a message otherwise.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IN_CI, PROJECT_ROOT, hasTool, needTools } from '../helpers/env.js';
import { buildHost, cleanupHosts, tempDir } from '../helpers/layouts.js';
import { treeHash } from '../helpers/tree-hash.js';
import { canMount, runCmd } from './harness.js';

const tools = needTools('tar-split');
const mountSkip = tools ? false : canMount() ? false : 'needs root and permission to bind-mount in a private mount namespace (unshare -m)';
const straceSkip = tools ? false : hasTool('strace') ? false : IN_CI ? (() => { throw new Error('CI=true but strace is missing (apt-get install strace)'); })() : 'needs strace (apt-get install strace)';
const HAS_MIGRATE = existsSync(join(PROJECT_ROOT, 'dist', 'src', 'cli', 'migrate.js'));
const RUNNER = join(PROJECT_ROOT, 'dist', 'test', 'hardening', 'run-commands.js');

let root = '';
let work = '';
let rootHash = '';
/** every command against the writable root (under strace when there is one): the baseline */
let rwResults: any[] = [];
const STRACE_LOG = () => join(work, 'strace.log');
const SYSCALLS = 'open,openat,openat2,creat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat,rmdir,link,linkat,symlink,symlinkat,chmod,fchmodat,chown,fchownat,lchown,truncate,utimes,utimensat,setxattr,lsetxattr,removexattr,lremovexattr,mknod,mknodat';

before(async () => {
  if (tools) return;
  root = buildHost('hosts/broken.json').built.root;
  rootHash = treeHash(root);
  work = tempDir('readonly');
  const cmds = JSON.stringify(commands(root, join(work, 'rw')));
  const r = straceSkip
    ? await runCmd(process.execPath, [RUNNER, cmds], { timeoutMs: 300_000 })
    : await runCmd('strace', ['-f', '-qq', '-s', '4096', '-e', `trace=${SYSCALLS}`, '-o', STRACE_LOG(), process.execPath, RUNNER, cmds], { timeoutMs: 300_000 });
  rwResults = parseRun(r.stdout, r.stderr);
});

after(cleanupHosts);

interface Command { args: string[]; out?: string }

/** Every command, with its failure paths, against ROOT, writing under OUTS. */
function commands(rootDir: string, outs: string): Command[] {
  mkdirSync(outs, { recursive: true });
  const R = ['--root', rootDir];
  const cfg = join(outs, 'migrate.toml');
  writeFileSync(cfg, [`output = ${JSON.stringify(join(outs, 'migrated'))}`, 'jobs = 2', '[[host]]', 'name = "broken"', `root = ${JSON.stringify(rootDir)}`, 'images = "all"'].join('\n') + '\n');
  const list: Command[] = [
    { args: ['ls', ...R] },
    { args: ['ls', '--all', '--json', ...R] },
    { args: ['inspect', 'broken/good', '--json', ...R] },
    { args: ['inspect', 'broken/truncated-tardata', ...R] },
    { args: ['inspect', 'broken/cycle', '--json', ...R] },
    { args: ['inspect', 'nope:1', ...R] },
    { args: ['export', 'broken/good', 'broken/truncated-tardata', 'broken/changed-file', 'broken/truncated-file', 'broken/layers-mismatch', join(outs, 'mixed'), '--json', '--quiet', ...R], out: join(outs, 'mixed') },
    { args: ['export', 'broken/cycle', 'broken/missing-parent', 'broken/missing-diff', 'broken/corrupt-json', 'nope:1', join(outs, 'failed'), '--json', '--quiet', ...R], out: join(outs, 'failed') },
    { args: ['export', 'broken/good', join(outs, 'image.tar'), '--docker-save', '--quiet', ...R] },
    { args: ['export', 'broken/good', join(outs, 'dry'), '--dry-run', '--json', ...R] },
    { args: ['export', 'broken/good', join(rootDir, 'out'), '--quiet', ...R] },
    { args: ['validate', join(outs, 'mixed'), '--json'] },
    { args: ['validate', rootDir] },
  ];
  if (HAS_MIGRATE) {
    list.push({ args: ['migrate', cfg, '--dry-run', '--json'] });
    list.push({ args: ['migrate', cfg, '--quiet'], out: join(outs, 'migrated', 'broken') });
  }
  return list;
}

function parseRun(stdout: string, stderr: string): any[] {
  let doc: any;
  try { doc = JSON.parse(stdout); } catch { throw new Error(`runner output is not JSON:\n${stdout.slice(0, 2000)}\n${stderr.slice(0, 2000)}`); }
  if (doc.scenarioError) throw new Error(doc.scenarioError);
  return doc;
}

const codesOf = (text: string) => [...new Set(text.match(/\bE_[A-Z0-9_]+\b/g) ?? [])].sort();

describe('read-only proof', { skip: tools }, () => {
  it('against a read-only bind mount of the root, every command behaves exactly as against the writable root', { skip: mountSkip }, async () => {
    const rw = join(work, 'rw');
    const ro = join(work, 'ro');
    const mnt = join(work, 'mnt');
    mkdirSync(mnt);
    const script = 'mount --bind "$1" "$2" && mount -o remount,ro,bind "$2" && exec "$3" "$4" "$5"';
    const roRun = await runCmd('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', root, mnt, process.execPath, RUNNER, JSON.stringify(commands(mnt, ro))], { timeoutMs: 300_000 });
    const roResults = parseRun(roRun.stdout, roRun.stderr);
    assert.equal(roResults.length, rwResults.length);
    const norm = (s: string, rootDir: string, outs: string) => s.split(rootDir).join('ROOT').split(outs).join('OUTS');
    rwResults.forEach((a, i) => {
      const b = roResults[i];
      const what = `${a.args.slice(0, 2).join(' ')} (#${i})\n--- rw stderr:\n${a.stderr.slice(0, 1500)}\n--- ro stderr:\n${b.stderr.slice(0, 1500)}`;
      for (const x of [a, b]) {
        assert.equal(x.timedOut, false, `hung: ${what}`);
        assert.doesNotMatch(x.stderr, /^\s+at |TypeError|node:internal|EROFS/m, `crash, or a write into the root was attempted: ${what}`);
      }
      assert.equal(b.status, a.status, `exit status differs: ${what}`);
      assert.deepEqual(codesOf(b.stdout + b.stderr), codesOf(a.stdout + a.stderr), `error codes differ: ${what}`);
      assert.deepEqual(b.print, a.print, `the layout written differs: ${what}`);
      if (a.args[0] === 'ls' || a.args[0] === 'inspect') assert.equal(norm(b.stdout, mnt, ro), norm(a.stdout, root, rw), `output differs: ${what}`);
    });
    // the runs covered the failure paths too
    const statuses = new Set(rwResults.map((r) => r.status));
    assert.ok(statuses.has(0) && statuses.has(1) && statuses.has(2), `expected exits 0, 1 and 2 among the commands, got ${[...statuses]}`);
    assert.equal(treeHash(root), rootHash, 'the root changed');
  });

  it('against the writable root under strace, no command writes, creates, renames, removes or changes anything in it', { skip: straceSkip }, async () => {
    assert.ok(rwResults.length > 10);
    for (const x of rwResults) assert.equal(x.timedOut, false, `hung: ${x.args.join(' ')}`);
    const lines = readFileSync(STRACE_LOG(), 'utf8').split('\n').filter((l) => l.includes(`"${root}`));
    assert.ok(lines.length > 100, `strace saw only ${lines.length} calls on the root`);
    // an attempt counts even when it failed: `export ... ROOT/out` must be refused before any mkdir
    const writes = lines.filter((l) => (/\b(open|openat|openat2)\(/.test(l) ? /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND/.test(l) : true));
    assert.deepEqual(writes, [], 'a call that writes into the root');
    assert.equal(treeHash(root), rootHash, 'the root changed');
  });
});
