// The host side of the webview benchmark (bench/webview.mjs): the real LogPageHost over a real
// AuditStore, answering the audit-log page that runs in Chromium. Node only, no `vscode`: the
// benchmark stands in for the panel (auditLogPanel.ts), which does nothing more than this.
import { AuditStore, type NewEntry } from '../../src/core/store';
import { LogPageHost, type PageSource } from '../../src/panels/auditLog/pageHost';
import { isWebviewCommand, type HostNotification } from '../../src/panels/protocol';
import { rng } from '../data';

export type Post = (m: HostNotification) => PromiseLike<unknown>;

/** Host-side time per command type, to tell the host's share of a page metric from the page's. */
export interface CommandStats {
  count: number;
  totalMs: number;
  maxMs: number;
}

export interface BenchLog {
  store: AuditStore;
  /** Entries in the log (the fixture's plus the snapshot entries appended for the diff). */
  size: number;
  openMs: number;
  /** IDs of the appended UPDATED entries with large snapshots, and their snapshot sizes (JSON chars). */
  diffEntries: { id: number; beforeChars: number; afterChars: number }[];
  /** A page host for one page load (the panel makes one per panel); `handle` answers one page message. */
  page(post: Post): { handle(msg: unknown): Promise<void> };
  stats: Record<string, CommandStats>;
}

const WORDS = 'patient observation encounter processed queued received sent validated record bundle message lab result order appointment reminder invoice claim coverage practitioner organization location schedule slot status updated created'.split(' ');

/** A story-like snapshot (the shape bench/data.ts uses) of about `bytes` characters of JSON. */
export function bigSnapshot(seed: number, bytes: number): { id: number; name: string; is_active: boolean; updated_by: string; steps: Record<string, unknown>[] } {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  const sentence = (n: number) => Array.from({ length: n }, () => pick(WORDS)).join(' ');
  const steps: Record<string, unknown>[] = [];
  const o = { id: seed, name: sentence(3), is_active: true, updated_by: 'dev@example.com', steps };
  let size = JSON.stringify(o).length;
  while (size < bytes) {
    const step = { position: steps.length, type: pick(['text', 'card', 'image', 'quick_reply']), text: sentence(8 + Math.floor(r() * 12)), buttons: [sentence(2), sentence(2)] };
    size += JSON.stringify(step).length + 1;
    steps.push(step);
  }
  return o;
}

/** An edit a person would make to a big snapshot: a renamed story, a few steps changed, one added, one removed. */
function edited(before: ReturnType<typeof bigSnapshot>, seed: number): ReturnType<typeof bigSnapshot> {
  const r = rng(seed);
  const steps = before.steps.map((s) => ({ ...s }));
  const n = steps.length;
  for (let k = 1; k <= 5; k++) {
    const i = Math.floor((k * n) / 6);
    steps[i] = { ...steps[i], text: `${String(steps[i].text)} ${WORDS[Math.floor(r() * WORDS.length)]}` };
  }
  steps.splice(Math.floor(n / 3), 1);
  steps.splice(Math.floor((2 * n) / 3), 0, { position: n, type: 'text', text: 'a new step', buttons: ['yes', 'no'] });
  return { ...before, name: `${before.name} (edited)`, is_active: !before.is_active, steps };
}

/**
 * Opens the log at `dbPath` (a copy: this appends to it) and appends `diffEntries` UPDATED entries
 * whose before/after snapshots are about `snapshotBytes` each, for the diff metric.
 */
export async function openLog(dbPath: string, opts: { diffEntries?: number; snapshotBytes?: number } = {}): Promise<BenchLog> {
  const t = performance.now();
  const store = await AuditStore.open(dbPath, { watch: false, autoCheckpoint: false });
  const openMs = performance.now() - t;
  const bytes = opts.snapshotBytes ?? 100 * 1024;
  const es: NewEntry[] = [];
  for (let k = 0; k < (opts.diffEntries ?? 3); k++) {
    const before = bigSnapshot(1000 + k, bytes);
    es.push({
      user: 'dev@example.com',
      action: 'UPDATED',
      entityName: 'story',
      entityId: String(4200 + k),
      before,
      after: edited(before, 2000 + k),
      recorded: Date.now(),
    });
  }
  const added = es.length ? await store.appendBatch(es) : [];
  const diffEntries = added.map((e) => ({ id: e.id, beforeChars: JSON.stringify(e.before).length, afterChars: JSON.stringify(e.after).length }));
  const stats: Record<string, CommandStats> = {};
  const source: PageSource = {
    location: dbPath,
    open: async (filters, order) => store.window(filters, { order }),
    get: async (id) => store.get(id),
    choices: async () => store.distinct(),
  };
  return {
    store,
    size: store.size,
    openMs,
    diffEntries,
    stats,
    page(post) {
      const host = new LogPageHost(source, post, (what, e) => console.error(`host: ${what}`, e));
      return {
        async handle(msg) {
          if (!isWebviewCommand(msg)) throw new Error(`the page sent a message of unknown shape: ${JSON.stringify(msg).slice(0, 200)}`);
          const t0 = performance.now();
          switch (msg.type) {
            case 'ready':
              await host.init();
              break;
            case 'query':
              await host.query(msg.seq, msg.query, msg.order, msg.select);
              break;
            case 'rows':
              await host.rows(msg.seq, msg.start, msg.count);
              break;
            case 'detail':
              await host.detail(msg.id);
              break;
            default:
              return; // export, links, source: editor-only, not measured
          }
          const ms = performance.now() - t0;
          const s = (stats[msg.type] ??= { count: 0, totalMs: 0, maxMs: 0 });
          s.count++;
          s.totalMs += ms;
          s.maxMs = Math.max(s.maxMs, ms);
        },
      };
    },
  };
}
