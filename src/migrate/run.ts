// The migrate job: every host of a config, planned together, then worked on concurrently
// (p-limit: `parallel_hosts` hosts at a time; the one shared layer pool: `jobs` CPU workers), each
// host through runExport with the journal's results fed in by the knownLayer hook.
//
//   preflight (nothing written): open every root, select images, plan each host (unique layers,
//     bytes), resolve name conflicts in a shared layout, read the journals.
//   --dry-run stops here and returns the plan.
//   run: lock the layouts, drop temp files of dead runs, then per host:
//     images the journal says are complete (blobs present with their sizes, index.json naming
//       them; everything re-hashed with --verify) are taken as they are: nothing is written;
//     the rest goes to runExport; every layer blob it verifies and renames into place is journaled
//       at once, every image once index.json names it.
//   docker_save: manifest.json + repositories written once per layout at the end, from every image
//     exported into it (an image exported under several names keeps them all), only if changed.
//   report: written into <output> only when its content (apart from `run`) changed.
//
// Failures are isolated: a broken image fails alone (runExport), a host whose root cannot be read
// or whose export throws fails alone; with on_error = "stop" no further host starts.

import { createHash } from 'node:crypto';
import { createReadStream, existsSync, lstatSync, readFileSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { L2OError, describeError } from '../errors.js';
import { openStore, type LegacyStore } from '../store/index.js';
import { planExport, type ExportPlan, type ImagePlan, type LayerPlan } from '../plan/plan.js';
import { runExport } from '../export/export.js';
import { createLayerPool, type LayerPool } from '../engine/pool.js';
import type { LayerResult } from '../engine/types.js';
import { blobPath, removeStaleTemps } from '../oci/blob-store.js';
import { ANNOTATIONS, familiarName, fullyQualify, mergeDockerSaveManifest } from '../oci/manifest.js';
import type { AssembledImage } from '../export/assemble.js';
import { writeDockerSaveFiles } from '../export/docker-save.js';
import type { MigrateConfig, HostConfig } from './config.js';
import { Journal, imageKey, layerKey, TOOL_VERSION } from './journal.js';
import { acquireLayoutLock, assertUnlocked, type HeldLock } from './lock.js';
import type { HostProgress, MigrateProgress } from './progress.js';
import {
  exportedEntry, fromImageReport, hostTotals, sortImages, sumTotals, writeReportIfChanged,
  type ExportedImage, type HostStatus, type MigrateHostReport, type MigrateImage, type MigrateReport, type RunStats,
} from './report.js';
import { selectImages, type Request } from './select.js';

export interface MigrateOptions {
  config: MigrateConfig;
  dryRun?: boolean;
  /** re-hash every blob the journal vouches for instead of trusting its size */
  verify?: boolean;
  /** progress sink; its host states are filled in by the run */
  progress?: (hosts: HostProgress[]) => MigrateProgress;
}

export interface MigrateOutcome {
  report: MigrateReport;
  /** 0: everything selected exported; 1: some image or host failed (or was not started) */
  exitCode: number;
  reportPath: string | null;
  reportWritten: boolean;
}

interface HostWork {
  cfg: HostConfig;
  store: LegacyStore | null;
  rootReal: string;
  error: { code: string; reason: string } | null;
  requests: Request[];
  plan: ExportPlan | null;
  /** layer id → journal key */
  layerKeys: Map<string, string>;
  /** image id → journal key */
  imageKeys: Map<string, string>;
  /** image id → report entry, filled as the run goes */
  entries: Map<string, MigrateImage>;
  warnings: string[];
  status: HostStatus | null;
  progress: HostProgress;
}

/** A shared-layout name key: `busybox` and `docker.io/library/busybox:latest` are one name. */
function nameKey(name: string): string {
  return fullyQualify(name);
}

function errorInfo(err: unknown): { code: string; reason: string } {
  return { code: err instanceof L2OError ? err.code : ((err as NodeJS.ErrnoException)?.code ?? 'E_HOST'), reason: err instanceof L2OError ? err.message : describeError(err) };
}

function digestRefsOf(store: LegacyStore | null, id: string): string[] {
  return store ? [...(store.images.get(id)?.digests ?? [])].sort() : [];
}

function preflight(cfg: MigrateConfig): HostWork[] {
  const claimed = new Map<string, string>();
  return cfg.hosts.map((h) => {
    const work: HostWork = {
      cfg: h, store: null, rootReal: h.root, error: null, requests: [], plan: null,
      layerKeys: new Map(), imageKeys: new Map(), entries: new Map(), warnings: [], status: null,
      progress: { name: h.name, state: 'waiting', imagesTotal: 0, imagesDone: 0, layersTotal: 0, layersDone: 0, bytesTotal: 0, bytesDone: 0, bytesThisRun: 0, startedAt: null },
    };
    try {
      work.store = openStore(h.root);
      work.rootReal = realpathSync(h.root);
    } catch (err) {
      work.error = errorInfo(err);
      return work;
    }
    const store = work.store;
    for (const p of store.problems) if (p.severity === 'warning' || p.severity === 'error') work.warnings.push(`${p.code}: ${p.message}`);
    const sel = selectImages(store, h);
    for (const s of sel.skipped) work.entries.set(s.legacyId, s);

    // A shared layout holds one image per name: the first host (config order) keeps a name.
    let requests = sel.requests;
    if (cfg.layout === 'shared') {
      const dropped = new Map<string, string[]>();
      requests = requests.filter((r) => {
        if (r.ref === r.id) return true;
        const key = nameKey(h.prefix + r.ref);
        const owner = claimed.get(key);
        if (owner !== undefined && owner !== h.name) {
          work.warnings.push(`${h.prefix + r.ref}: not exported from this host, host ${owner} exports that name into the shared layout (set a prefix)`);
          dropped.set(r.id, [...(dropped.get(r.id) ?? []), owner]);
          return false;
        }
        claimed.set(key, h.name);
        return true;
      });
      for (const [id, owners] of dropped) {
        if (requests.some((r) => r.id === id)) continue;
        const refs = store.tags.filter((t) => t.id === id && t.tag !== null).map((t) => h.prefix + t.ref).sort();
        work.entries.set(id, { legacyId: id, status: 'skipped', reason: `its names are exported by host ${[...new Set(owners)].join(', ')} into the shared layout (set a prefix)`, refs, digestRefs: digestRefsOf(store, id) });
      }
    }
    work.requests = requests;

    try {
      const plan = planExport(store, requests.map((r) => r.ref));
      work.plan = plan;
      for (const l of plan.layers) work.layerKeys.set(l.id, layerKey(work.rootReal, store.layers.get(l.id)!, cfg.compression));
      for (const img of plan.images) {
        const names = img.names.map((n) => h.prefix + n);
        work.imageKeys.set(img.id, imageKey({
          rootReal: work.rootReal,
          id: img.id,
          names,
          layerKeys: img.chain.map((lid) => work.layerKeys.get(lid)!),
          jsons: img.chain.map((lid) => store.layers.get(lid)!.json ?? Buffer.alloc(0)),
          checksums: img.chain.map((lid) => store.layers.get(lid)!.checksum),
          compression: cfg.compression,
          dockerSave: cfg.dockerSave,
        }));
      }
      // Broken images fail here already (one entry per image, however many tags asked for it).
      for (const f of plan.failed) {
        const id = f.id ?? f.requested;
        const prev = work.entries.get(id);
        const ref = f.requested === id ? [] : [h.prefix + f.requested];
        work.entries.set(id, { legacyId: id, status: 'failed', code: f.code, reason: f.reason, refs: [...(prev?.refs ?? []), ...ref].sort(), digestRefs: digestRefsOf(store, id) });
      }
    } catch (err) {
      work.error = errorInfo(err);
    }
    return work;
  });
}

// ── checks against the layout, without writing ────────────────────────────────────────────────

interface LayoutView {
  dir: string;
  journal: Journal;
  /** digest → re-hash result (--verify) */
  verified: Map<string, Promise<boolean>>;
}

function hashBlob(path: string): Promise<string | null> {
  return new Promise((resolveHash) => {
    const h = createHash('sha256');
    const s = createReadStream(path);
    s.on('data', (c) => h.update(c));
    s.on('error', () => resolveHash(null));
    s.on('end', () => resolveHash(`sha256:${h.digest('hex')}`));
  });
}

function blobPresent(dir: string, digest: string, size?: number): boolean {
  try {
    const st = lstatSync(blobPath(dir, digest), { throwIfNoEntry: false });
    return Boolean(st?.isFile() && (size === undefined || st.size === size));
  } catch {
    return false;
  }
}

interface IndexView { named: Map<string, string>; unnamed: Set<string> }

function readIndexView(dir: string): IndexView {
  const view: IndexView = { named: new Map(), unnamed: new Set() };
  try {
    const doc = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests?: Array<{ digest?: string; annotations?: Record<string, string> }> };
    for (const m of doc.manifests ?? []) {
      if (typeof m.digest !== 'string') continue;
      const ref = m.annotations?.[ANNOTATIONS.refName];
      if (typeof ref === 'string') view.named.set(ref, m.digest);
      else view.unnamed.add(m.digest);
    }
  } catch { /* no index yet */ }
  return view;
}

/**
 * manifest.json + repositories (docker load) for every image exported into a layout, written only
 * when they would change. One item per config: an image exported by several hosts (or under
 * several names) keeps all its names, whichever host finished last.
 */
async function writeDockerSave(dir: string, images: MigrateImage[]): Promise<void> {
  const byConfig = new Map<string, MigrateImage & { names: Set<string> }>();
  for (const img of images) {
    const key = img.configDigest!;
    const prev = byConfig.get(key);
    if (prev) for (const n of img.refs) prev.names.add(n);
    else byConfig.set(key, { ...img, names: new Set(img.refs) });
  }
  if (byConfig.size === 0) return;
  const items: AssembledImage[] = [...byConfig.values()].map((i) => ({
    legacyId: i.legacyId,
    names: [...i.names].sort(),
    dockerImageID: i.dockerImageID!,
    chainIDs: i.chainIDs!,
    configDigest: i.configDigest!,
    configFixes: i.configFixes!,
    manifestDigest: i.manifestDigest!,
    manifestSize: i.manifestSize!,
    layerDigests: i.layers!.map((l) => l.digest),
    indexEntries: [],
  }));
  let current: Buffer | null = null;
  try {
    current = readFileSync(join(dir, 'manifest.json'));
  } catch { /* none yet */ }
  const merged = mergeDockerSaveManifest(current, items.map((a) => ({ config: a.configDigest, repoTags: a.names, layers: a.layerDigests })));
  if (current !== null && merged.equals(current) && existsSync(join(dir, 'repositories'))) return;
  await writeDockerSaveFiles(dir, items);
}

/** Remove temp files that dead runs left beside index.json / manifest.json / the report. */
function removeStaleRootTemps(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const re = /^(?:index\.json|manifest\.json|repositories|oci-layout|migrate-report\.json)\.tmp-(\d+)-[0-9a-z]+$|^index\.json\.lock\.stale-(\d+)-[0-9a-z]+$/;
  for (const n of names) {
    const m = re.exec(n);
    if (!m) continue;
    const pid = Number(m[1] ?? m[2]);
    if (pid === process.pid) continue;
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) rmSync(join(dir, n), { force: true });
  }
}

// ── the run ──────────────────────────────────────────────────────────────────────────────────

export async function runMigration(opts: MigrateOptions): Promise<MigrateOutcome> {
  const cfg = opts.config;
  const started = Date.now();
  const verify = Boolean(opts.verify);
  const stats: RunStats = {
    startedAt: new Date(started).toISOString(), elapsedMs: 0, verify,
    imagesFromJournal: 0, layersProcessed: 0, layersFromJournal: 0, layersReused: 0, bytesRead: 0, bytesWritten: 0,
  };
  const hosts = preflight(cfg);
  const views = new Map<string, LayoutView>();
  const viewOf = (dir: string): LayoutView => {
    let v = views.get(dir);
    if (!v) {
      v = { dir, journal: Journal.open(dir), verified: new Map() };
      views.set(dir, v);
    }
    return v;
  };
  for (const h of hosts) {
    const plan = h.plan;
    h.progress.imagesTotal = plan?.images.length ?? 0;
    h.progress.layersTotal = plan?.layers.length ?? 0;
    h.progress.bytesTotal = plan?.bytesToRead ?? 0;
  }

  if (opts.dryRun) {
    const report = buildReport(cfg, hosts, stats, true, (h, plan) => {
      const view = viewOf(h.cfg.layout);
      let pendingLayers = 0;
      let pendingBytes = 0;
      for (const l of plan.layers) {
        const rec = view.journal.layer(h.layerKeys.get(l.id)!);
        if (!rec || !blobPresent(view.dir, rec.digest, rec.size)) {
          pendingLayers++;
          pendingBytes += l.estimate;
        }
      }
      return { pendingLayers, pendingBytes };
    });
    for (const v of views.values()) v.journal.close();
    stats.elapsedMs = Date.now() - started;
    return { report, exitCode: report.totals.failed > 0 || report.totals.hostsFailed > 0 ? 1 : 0, reportPath: null, reportWritten: false };
  }

  // Another live run on any of these layouts: stop before any work (exit 2). Each layout is then
  // locked when its first host starts (a host that never starts creates nothing), and released at
  // the end; a lock of a killed run is broken.
  const layouts = [...new Set(hosts.filter((h) => h.plan && h.plan.images.length > 0).map((h) => h.cfg.layout))].sort();
  for (const dir of layouts) assertUnlocked(dir);
  const locks = new Map<string, HeldLock>();
  const releaseAll = () => {
    for (const l of locks.values()) l.release();
    locks.clear();
  };
  const prepareLayout = (dir: string) => {
    if (locks.has(dir)) return;
    locks.set(dir, acquireLayoutLock(dir));
    removeStaleTemps(dir);
    removeStaleRootTemps(dir);
  };
  process.once('exit', releaseAll);
  let pool: LayerPool | null = null;
  const progress = opts.progress?.(hosts.map((h) => h.progress));
  const layoutWarnings: string[] = [];
  try {
    removeStaleRootTemps(cfg.output);

    const hostLimit = pLimit(cfg.parallelHosts);
    const ioLimit = pLimit(Math.max(2, cfg.jobs));
    const getPool = () => (pool ??= createLayerPool({ jobs: cfg.jobs }));
    let stopped: string | null = null;

    const verifyBlob = (view: LayoutView, digest: string, size?: number): Promise<boolean> => {
      let p = view.verified.get(digest);
      if (!p) {
        p = ioLimit(async () => blobPresent(view.dir, digest, size) && (await hashBlob(blobPath(view.dir, digest))) === digest);
        view.verified.set(digest, p);
      }
      return p;
    };

    const runHost = async (h: HostWork): Promise<void> => {
      const p = h.progress;
      if (h.error || !h.store || !h.plan) {
        h.status = 'failed';
        p.state = 'failed';
        if (cfg.onError === 'stop') stopped ??= h.cfg.name;
        progress?.hostDone(p, `${h.cfg.name}: FAILED ${h.error?.code ?? ''}: ${h.error?.reason ?? 'cannot be read'}`);
        return;
      }
      const plan = h.plan;
      const store = h.store;
      if (stopped !== null) {
        h.status = 'skipped';
        p.state = 'skipped';
        for (const img of plan.images) {
          h.entries.set(img.id, { legacyId: img.id, status: 'skipped', reason: `not started: on_error = "stop" and host ${stopped} failed`, refs: img.names.map((n) => h.cfg.prefix + n), digestRefs: digestRefsOf(store, img.id) });
        }
        progress?.hostDone(p, `${h.cfg.name}: skipped (on_error = "stop" after a failure in ${stopped})`);
        return;
      }
      p.state = 'running';
      p.startedAt = Date.now();
      progress?.tick();
      if (plan.images.length > 0) {
        try {
          prepareLayout(h.cfg.layout);
        } catch (err) {
          h.error = errorInfo(err);
          h.status = 'failed';
          p.state = 'failed';
          if (cfg.onError === 'stop') stopped ??= h.cfg.name;
          progress?.hostDone(p, `${h.cfg.name}: FAILED ${h.error.code}: ${h.error.reason}`);
          return;
        }
      }
      const view = viewOf(h.cfg.layout);
      const journal = view.journal;
      const layersDone = new Set<string>();
      const markLayer = (id: string, bytes: number, thisRun: boolean) => {
        if (layersDone.has(id)) return;
        layersDone.add(id);
        p.layersDone = layersDone.size;
        p.bytesDone += bytes;
        if (thisRun) p.bytesThisRun += bytes;
      };

      // With --verify, hash (I/O-limited) every blob the journal vouches for before trusting it.
      const journaledLayer = (id: string): LayerResult | undefined => journal.layer(h.layerKeys.get(id)!);
      if (verify) {
        const pending: Promise<boolean>[] = [];
        for (const l of plan.layers) {
          const rec = journaledLayer(l.id);
          if (rec) pending.push(verifyBlob(view, rec.digest, rec.size));
        }
        for (const img of plan.images) {
          const rec = journal.image(h.imageKeys.get(img.id)!);
          if (rec) pending.push(verifyBlob(view, rec.configDigest), verifyBlob(view, rec.manifestDigest, rec.manifestSize));
        }
        await Promise.all(pending);
      }
      const verifiedNow = new Map<string, boolean>();
      for (const [d, pr] of view.verified) verifiedNow.set(d, await pr);
      const blobOk = (digest: string, size?: number) => (verify ? verifiedNow.get(digest) === true : blobPresent(view.dir, digest, size));

      // Images the journal says are complete and the layout still shows: nothing to do.
      const index = readIndexView(view.dir);
      const complete = (rec: ExportedImage): boolean => {
        if (!rec.layers.every((l) => blobOk(l.digest, l.size))) return false;
        if (!blobOk(rec.configDigest) || !blobOk(rec.manifestDigest, rec.manifestSize)) return false;
        return rec.refs.length === 0 ? index.unnamed.has(rec.manifestDigest) : rec.refs.every((n) => index.named.get(familiarName(n)) === rec.manifestDigest);
      };
      const todo: ImagePlan[] = [];
      for (const img of plan.images) {
        const rec = journal.image(h.imageKeys.get(img.id)!);
        if (rec && complete(rec)) {
          h.entries.set(img.id, exportedEntry(rec, digestRefsOf(store, img.id)));
          stats.imagesFromJournal++;
          p.imagesDone++;
          for (const l of rec.layers) {
            if (!layersDone.has(l.legacyId)) stats.layersFromJournal++;
            markLayer(l.legacyId, l.uncompressedSize, false);
          }
        } else todo.push(img);
      }
      progress?.tick();

      if (todo.length > 0) {
        const fromJournal = new Set<string>();
        const knownLayer = (layer: LayerPlan): LayerResult | undefined => {
          const rec = journaledLayer(layer.id);
          if (!rec || !blobOk(rec.digest, rec.size)) return undefined;
          fromJournal.add(layer.id);
          return rec;
        };
        try {
          const rep = await runExport({
            root: h.cfg.root,
            refs: todo.flatMap((img) => img.requested),
            out: view.dir,
            compression: cfg.compression,
            jobs: cfg.jobs,
            pool: getPool(),
            store,
            namePrefix: h.cfg.prefix || undefined,
            // docker_save files are written once per layout at the end (see writeDockerSave)
            dockerSave: false,
            knownLayer,
            onLayerDone: (r) => {
              if (fromJournal.has(r.id)) {
                if (!layersDone.has(r.id)) stats.layersFromJournal++;
                markLayer(r.id, r.uncompressedSize, false);
              } else {
                // the worker verified the blob and the export fsynced and renamed it: journal it now
                journal.appendLayer(h.layerKeys.get(r.id)!, h.rootReal, r);
                stats.layersProcessed++;
                stats.bytesRead += r.uncompressedSize;
                if (r.reused) stats.layersReused++;
                else stats.bytesWritten += r.size;
                markLayer(r.id, r.uncompressedSize, true);
                if (r.source === 'regenerated') progress?.log(`${h.cfg.name}: layer ${r.id.slice(0, 12)} regenerated: ${r.reason ?? 'no tar-split data'}`);
              }
              progress?.tick();
            },
            onImageDone: () => {
              p.imagesDone++;
              progress?.tick();
            },
          });
          // index.json (and manifest.json) now name these images: journal them.
          for (const img of rep.images) {
            const exp = fromImageReport(img);
            h.entries.set(img.legacyId, exportedEntry(exp, digestRefsOf(store, img.legacyId)));
            const key = h.imageKeys.get(img.legacyId);
            if (key) journal.appendImage(key, h.rootReal, exp);
          }
          for (const f of rep.failed) {
            const id = f.id ?? f.requested;
            const img = plan.images.find((i) => i.id === id);
            h.entries.set(id, { legacyId: id, status: 'failed', code: f.code, reason: f.reason, refs: (img?.names ?? []).map((n) => h.cfg.prefix + n), digestRefs: digestRefsOf(store, id) });
            progress?.log(`${h.cfg.name}: FAILED ${(img?.names[0] ?? id.slice(0, 12))}: ${f.code}: ${f.reason}`);
          }
        } catch (err) {
          const e = errorInfo(err);
          for (const img of todo) {
            if (h.entries.get(img.id)?.status === 'exported') continue;
            h.entries.set(img.id, { legacyId: img.id, status: 'failed', code: e.code, reason: e.reason, refs: img.names.map((n) => h.cfg.prefix + n), digestRefs: digestRefsOf(store, img.id) });
          }
          progress?.log(`${h.cfg.name}: FAILED: ${e.code}: ${e.reason}`);
        }
      }

      const list = [...h.entries.values()];
      const failed = list.filter((i) => i.status === 'failed').length;
      const exported = list.filter((i) => i.status === 'exported').length;
      h.status = failed === 0 ? 'exported' : exported === 0 ? 'failed' : 'partial';
      p.state = h.status;
      if (failed > 0 && cfg.onError === 'stop') stopped ??= h.cfg.name;
      progress?.hostDone(p, `${h.cfg.name}: ${h.status}: ${exported} exported, ${list.length - exported - failed} skipped, ${failed} failed`);
    };

    await Promise.all(hosts.map((h) => hostLimit(() => runHost(h))));

    if (cfg.dockerSave) {
      for (const dir of locks.keys()) {
        const images = hosts.filter((h) => h.cfg.layout === dir).flatMap((h) => [...h.entries.values()].filter((i) => i.status === 'exported'));
        try {
          await writeDockerSave(dir, images);
        } catch (err) {
          layoutWarnings.push(`${dir}: docker_save files not written: ${describeError(err)}`);
          progress?.log(`FAILED ${dir}: docker_save files not written: ${describeError(err)}`);
        }
      }
    }
  } finally {
    for (const v of views.values()) v.journal.close();
    if (pool) await (pool as LayerPool).close();
    releaseAll();
    process.off('exit', releaseAll);
  }

  stats.elapsedMs = Date.now() - started;
  const report = buildReport(cfg, hosts, stats, false);
  const { path, written } = writeReportIfChanged(cfg.output, report);
  for (const w of layoutWarnings) for (const h of report.hosts) if (w.startsWith(`${h.layout}:`)) h.warnings.push(w);
  const exitCode = report.totals.failed > 0 || report.totals.hostsFailed > 0 || hosts.some((h) => h.status === 'skipped') || layoutWarnings.length > 0 ? 1 : 0;
  progress?.done(`${report.totals.exported} image(s) exported, ${report.totals.skipped} skipped, ${report.totals.failed} failed, from ${report.totals.hosts} host(s) in ${(stats.elapsedMs / 1000).toFixed(1)} s`, exitCode === 0);
  return { report, exitCode, reportPath: path, reportWritten: written };
}

function buildReport(
  cfg: MigrateConfig,
  hosts: HostWork[],
  stats: RunStats,
  dryRun: boolean,
  pending?: (h: HostWork, plan: ExportPlan) => { pendingLayers: number; pendingBytes: number },
): MigrateReport {
  const hostReports: MigrateHostReport[] = hosts.map((h) => {
    const entries = new Map(h.entries);
    if (dryRun && h.plan) {
      for (const img of h.plan.images) {
        entries.set(img.id, { legacyId: img.id, status: 'planned', refs: img.names.map((n) => h.cfg.prefix + n), digestRefs: digestRefsOf(h.store, img.id) });
      }
    }
    const imageList = sortImages([...entries.values()]);
    const plan = h.plan;
    const pend = plan && pending ? pending(h, plan) : { pendingLayers: 0, pendingBytes: 0 };
    const status: HostStatus = h.error ? 'failed' : dryRun ? 'planned' : h.status ?? 'failed';
    return {
      name: h.cfg.name,
      root: h.cfg.root,
      layout: h.cfg.layout,
      images: h.cfg.images,
      prefix: h.cfg.prefix,
      status,
      ...(h.error ? { code: h.error.code, reason: h.error.reason } : {}),
      plan: { images: plan?.images.length ?? 0, uniqueLayers: plan?.layers.length ?? 0, bytesToRead: plan?.bytesToRead ?? 0, ...pend },
      warnings: [...h.warnings],
      imageList,
      totals: hostTotals(imageList),
    };
  });
  const totals = sumTotals(hostReports.map((h) => h.totals));
  return {
    schemaVersion: 1,
    tool: `legacy2oci ${TOOL_VERSION}`,
    config: cfg.file,
    output: cfg.output,
    layout: cfg.layout,
    compression: cfg.compress,
    dockerSave: cfg.dockerSave,
    onError: cfg.onError,
    dryRun,
    hosts: hostReports,
    totals: { ...totals, hosts: hostReports.length, hostsFailed: hostReports.filter((h) => h.status === 'failed').length },
    run: stats,
  };
}
