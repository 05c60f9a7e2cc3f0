// The audit of the workspace itself: bot files and the settings file. Given what a file holds now,
// it records CREATED, UPDATED or DELETED against what the log last knew of it, with the old and
// new content. Only one process per workspace should feed it (see `FileAuditLease`), so that two
// windows watching the same files do not record the same change twice.
import type { Entry, NewEntry } from '../store';

export interface AuditedFileStore {
  append(e: NewEntry): Promise<Entry>;
  history(entityName: string, entityId: string): Entry[];
}

/** Entity names of audited workspace files. */
export const FileEntity = {
  bot: 'bot',
  settings: 'settings',
} as const;
export type FileEntityName = (typeof FileEntity)[keyof typeof FileEntity];

/** How a file is kept in an entry's before/after. */
export type FileSnapshot = { path: string; source: string } | { path: string; json: unknown } | { path: string; text: string };

export function snapshotOf(entity: FileEntityName, relPath: string, text: string): FileSnapshot {
  if (entity === FileEntity.settings) {
    try {
      return { path: relPath, json: JSON.parse(text) as unknown };
    } catch {
      return { path: relPath, text };
    }
  }
  return { path: relPath, source: text };
}

function textOf(s: unknown): string | undefined {
  if (!s || typeof s !== 'object') return undefined;
  const o = s as Record<string, unknown>;
  if (typeof o.source === 'string') return o.source;
  if (typeof o.text === 'string') return o.text;
  if ('json' in o) return JSON.stringify(o.json);
  return undefined;
}

/** What a file held, comparable with `normalize(text)`: JSON settings compare by value. */
function normalize(entity: FileEntityName, text: string): string {
  if (entity === FileEntity.settings) {
    try {
      return JSON.stringify(JSON.parse(text));
    } catch {
      return text;
    }
  }
  return text;
}

export class WorkspaceFileAuditor {
  /** `entity|path` → the content last recorded or first seen; `null` when the file is gone. */
  private readonly known = new Map<string, string | null>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: AuditedFileStore,
    private readonly user: () => string,
  ) {}

  private lastRecorded(entity: FileEntityName, relPath: string): string | null | undefined {
    const h = this.store.history(entity, relPath);
    const last = h[h.length - 1];
    if (!last) return undefined; // never recorded
    if (last.action === 'DELETED') return null;
    const t = textOf(last.after);
    return t === undefined ? undefined : normalize(entity, t);
  }

  /**
   * A file was seen without a known change (at start-up): remembered as the baseline. When the log
   * knew a different content (changed while no window watched), that is recorded as UPDATED or
   * CREATED now.
   */
  seen(entity: FileEntityName, relPath: string, text: string): Promise<Entry | undefined> {
    return this.serial(async () => {
      const key = `${entity}|${relPath}`;
      const recorded = this.lastRecorded(entity, relPath);
      const now = normalize(entity, text);
      if (recorded === undefined) {
        this.known.set(key, now);
        return undefined;
      }
      return this.record(entity, relPath, recorded, now, text);
    });
  }

  /** The file now holds `text`, or is gone (`undefined`). Records what changed, if anything. */
  changed(entity: FileEntityName, relPath: string, text: string | undefined): Promise<Entry | undefined> {
    return this.serial(async () => {
      const key = `${entity}|${relPath}`;
      let prev = this.known.get(key);
      if (prev === undefined) prev = this.lastRecorded(entity, relPath) ?? null;
      const now = text === undefined ? null : normalize(entity, text);
      return this.record(entity, relPath, prev, now, text);
    });
  }

  private async record(entity: FileEntityName, relPath: string, prev: string | null, now: string | null, raw: string | undefined): Promise<Entry | undefined> {
    const key = `${entity}|${relPath}`;
    this.known.set(key, now);
    if (prev === now) return undefined;
    const prevSnap = prev === null ? undefined : this.previousSnapshot(entity, relPath, prev);
    const base = { user: this.user(), entityName: entity, entityId: relPath };
    if (prev === null) return this.store.append({ ...base, action: 'CREATED', after: snapshotOf(entity, relPath, raw ?? '') });
    if (now === null) return this.store.append({ ...base, action: 'DELETED', before: prevSnap });
    return this.store.append({ ...base, action: 'UPDATED', before: prevSnap, after: snapshotOf(entity, relPath, raw ?? '') });
  }

  /** The snapshot the log holds for the previous content, or one made from the baseline text. */
  private previousSnapshot(entity: FileEntityName, relPath: string, prev: string): FileSnapshot {
    const h = this.store.history(entity, relPath);
    const last = h[h.length - 1];
    if (last && last.action !== 'DELETED' && textOf(last.after) !== undefined && normalize(entity, textOf(last.after)!) === prev) {
      return last.after as FileSnapshot;
    }
    return snapshotOf(entity, relPath, prev);
  }

  /** One change at a time, in the order they came. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
