// FHIR resources as an event-sourced store over the audit log: the log's CREATED / UPDATED /
// DELETED entries, with their snapshots, are the resources' only durable copy and their history;
// this process keeps the current versions in memory as an index derived from them (rebuilt on
// open, caught up with other processes' entries before each request). One source of truth: the
// resources and the log can never disagree, and two windows and the CLI share one set of
// resources through the store's writers' lock.
//
// Writes. A plain create, update, patch or delete is applied to the index at once and queued;
// the queue becomes durable in one append (group commit) 100 ms after its first change, at 1,000
// changes, before any conditional write, history read or transaction, and before the run's own
// EXECUTED entry (`flush()`). So a run's changes are in the log, in order, before the run is; a
// crash mid-run can lose the run's last changes together with the run, never one without the
// other. Writes that depend on the current state (If-Match, conditional create/update/delete/
// patch, transaction bundles) are decided under the store's lock (`AuditStore.appendWith`), after
// catching up with every other writer: a stale If-Match gets 412 even when another process made
// the newer version.
import './globals';
import { randomUUID } from 'node:crypto';
import {
  OperationOutcomeError,
  applyPatch,
  badRequest,
  deepClone,
  fhirpathPatchTypedValue,
  normalizeOperationOutcome,
  parseFhirPathPatchParameters,
  preconditionFailed,
  toTypedValue,
  validateResource,
  type Operation,
  type SearchRequest,
  type WithId,
} from '@medplum/core';
import { FhirRepository, getExtraEntries, type CreateResourceOptions, type RepositoryMode, type UpdateResourceOptions } from '@medplum/fhir-router';
import type { Bundle, BundleEntry, OperationOutcome, Parameters, Reference, Resource } from '@medplum/fhirtypes';
import type { Entry, NewEntry } from '../store/types';
import { LOCAL_BASE_URL } from './platform';
import { runSearch, type SearchSource } from './search';

/** What the repository needs of the audit store (src/core/store's AuditStore has it). */
export interface ResourceLog {
  appendWith(build: (lastId: number) => NewEntry[] | Promise<NewEntry[]>): Promise<Entry[]>;
  entriesAfter(afterId: number, limit?: number, actions?: readonly ('CREATED' | 'UPDATED' | 'DELETED')[]): Entry[];
  history(entityName: string, entityId: string): Entry[];
  readonly size: number;
  readonly snapshotCapBytes?: number;
}

/** Who makes a change, for its entry. */
export interface ChangeAuthor {
  /** `Bot/<name>`, or a person. */
  user: string;
  bot?: string;
  onBehalfOf?: string;
  traceId?: string;
  /** Masks secret values in snapshots. */
  mask?: <T>(v: T) => T;
}

const CHANGE_ACTIONS = ['CREATED', 'UPDATED', 'DELETED'] as const;
type ChangeAction = (typeof CHANGE_ACTIONS)[number];
const RESOURCE_TYPE_RE = /^[A-Z][A-Za-z]{1,63}$/;
const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;
const MAX_BATCH = 1000;
const BATCH_DELAY_MS = 100;
/** How often, at most, a read looks for other writers' changes in the log. */
const SYNC_INTERVAL_MS = 50;

type Res = WithId<Resource>;

/** A change made here and not yet durable. */
interface PendingChange {
  action: ChangeAction;
  key: string;
  resourceType: string;
  id: string;
  /** The version before (undefined: none), as it will be recorded. */
  before?: Res;
  after?: Res;
  author: ChangeAuthor;
  /** Set while the change belongs to a transaction that may still roll back. */
  tx?: object;
}

function outcomeError(status: number, code: string, text: string, expression?: string): OperationOutcomeError {
  const outcome: OperationOutcome = {
    resourceType: 'OperationOutcome',
    id: ({ 404: 'not-found', 410: 'gone', 413: 'content-too-large' } as Record<number, string>)[status],
    issue: [{ severity: 'error', code: code as 'invalid', details: { text }, ...(expression ? { expression: [expression] } : {}) }],
  };
  if (!outcome.id) delete outcome.id;
  return new OperationOutcomeError(outcome);
}

/** 404 that names what was not found. */
export const notFoundError = (resourceType: string, id: string): OperationOutcomeError => outcomeError(404, 'not-found', `Not found: ${resourceType}/${id}`);
const goneError = (resourceType: string, id: string): OperationOutcomeError => outcomeError(410, 'deleted', `Deleted: ${resourceType}/${id}`);

/** True when an entry records a version of a FHIR resource. */
function isResourceChange(e: Entry): boolean {
  if (e.action !== 'CREATED' && e.action !== 'UPDATED' && e.action !== 'DELETED') return false;
  if (!RESOURCE_TYPE_RE.test(e.entityName)) return false;
  const snap = (e.action === 'DELETED' ? e.before : e.after) as { resourceType?: unknown; id?: unknown } | undefined;
  return !!snap && typeof snap === 'object' && snap.resourceType === e.entityName && snap.id === e.entityId;
}

/** The state shared by every request: the index, the queue, the log. */
export class ResourceState {
  /** Current versions: type → id → resource (never mutated; copies go out). */
  private readonly current = new Map<string, Map<string, Res>>();
  /** Deleted resources (type/id), so that a read answers 410 rather than 404. */
  private readonly deleted = new Set<string>();
  /** Per type, the current resources as an array (for search), until the type changes. */
  private readonly arrays = new Map<string, Res[]>();
  private lastSeen = 0;
  /** IDs of entries this process wrote (already in the index). */
  private readonly ownIds = new Set<number>();
  private readonly queue: PendingChange[] = [];
  /** Per key, the first queued change (its `before` follows other writers' changes). */
  private readonly firstPending = new Map<string, PendingChange>();
  private inFlight?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private failure?: Error;
  private synced = false;
  private syncedAt = 0;

  constructor(readonly log: ResourceLog) {}

  // ---------------------------------------------------------------- the index

  /**
   * Folds in every change entry of the log not seen yet (all of them the first time). Looking at the
   * log costs system calls (it checks the journal for other writers' lines), so a read looks at
   * most every SYNC_INTERVAL_MS: another window's or the CLI's change is seen by reads within that
   * time. `upTo` (the log's newest ID, known under the writers' lock) makes it exact and skips the
   * look when nothing is new; writes that depend on the current state always pass it.
   */
  sync(upTo?: number): void {
    if (upTo !== undefined) {
      if (upTo <= this.lastSeen && this.synced) return;
    } else if (this.synced && performance.now() - this.syncedAt < SYNC_INTERVAL_MS) return;
    this.syncedAt = performance.now();
    const end = this.log.size;
    if (end <= this.lastSeen && this.synced) return;
    this.synced = true;
    for (;;) {
      const page = this.log.entriesAfter(this.lastSeen, 1000, CHANGE_ACTIONS);
      for (const e of page) {
        if (e.id <= this.lastSeen) continue;
        this.lastSeen = e.id;
        if (this.ownIds.delete(e.id)) continue;
        this.fold(e);
      }
      if (page.length < 1000) break;
    }
    this.lastSeen = Math.max(this.lastSeen, end);
  }

  private fold(e: Entry): void {
    if (!isResourceChange(e)) return;
    const type = e.entityName;
    const id = e.entityId;
    const key = `${type}/${id}`;
    const version = (e.action === 'DELETED' ? undefined : e.after) as Res | undefined;
    const pending = this.firstPending.get(key);
    if (pending) {
      // Ours comes later in the log: it stays current, and its `before` is this version.
      pending.before = version;
      return;
    }
    this.setCurrent(type, id, version);
  }

  private setCurrent(type: string, id: string, r: Res | undefined): void {
    let m = this.current.get(type);
    if (!m) this.current.set(type, (m = new Map()));
    const key = `${type}/${id}`;
    if (r) {
      m.set(id, r);
      this.deleted.delete(key);
    } else {
      m.delete(id);
      this.deleted.add(key);
    }
    this.arrays.delete(type);
  }

  get(type: string, id: string): Res | undefined {
    return this.current.get(type)?.get(id);
  }

  isDeleted(type: string, id: string): boolean {
    return this.deleted.has(`${type}/${id}`);
  }

  all(type: string): readonly Res[] {
    let a = this.arrays.get(type);
    if (!a) {
      a = [...(this.current.get(type)?.values() ?? [])];
      this.arrays.set(type, a);
    }
    return a;
  }

  /** The number of current resources (of a type). */
  count(type?: string): number {
    this.sync();
    if (type) return this.current.get(type)?.size ?? 0;
    let n = 0;
    for (const m of this.current.values()) n += m.size;
    return n;
  }

  // ---------------------------------------------------------------- writes

  /** Applies a change to the index and queues its entry. */
  stage(change: PendingChange): void {
    if (!this.firstPending.has(change.key)) this.firstPending.set(change.key, change);
    this.queue.push(change);
    this.setCurrent(change.resourceType, change.id, change.after);
    if (change.tx) return;
    if (this.queue.length >= MAX_BATCH) this.kick();
    else this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.inFlight) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, BATCH_DELAY_MS);
  }

  private kick(): void {
    if (this.inFlight || !this.queue.length || this.queue[0].tx) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.inFlight = this.commit(() => undefined)
      .catch((e: Error) => {
        this.failure ??= e;
      })
      .finally(() => {
        this.inFlight = undefined;
        if (this.queue.length >= MAX_BATCH) this.kick();
        else if (this.queue.length && !this.queue[0].tx) this.schedule();
      });
  }

  /**
   * Makes the queued changes durable, under the lock; `decide` runs there first, after every other
   * writer's changes are folded in, and may stage more changes (a transaction's).
   */
  async commit<T>(decide: () => T | Promise<T>): Promise<T> {
    let result!: T;
    let batch: PendingChange[] = [];
    try {
      await this.log.appendWith(async (lastId) => {
        this.sync(lastId);
        result = await decide();
        batch = this.queue.splice(0, this.queue.length);
        for (const c of batch) if (this.firstPending.get(c.key) === c) this.firstPending.delete(c.key);
        // The entries take the IDs after lastId, and are in the index already: when nothing else
        // came between, the index is simply up to date with them; otherwise sync skips them by ID.
        if (this.lastSeen === lastId) this.lastSeen = lastId + batch.length;
        else for (let i = 1; i <= batch.length; i++) this.ownIds.add(lastId + i);
        return batch.map(toEntry);
      });
    } catch (e) {
      // Not durable: the index must not keep what the log does not have.
      if (batch.length) this.rebuild();
      throw e;
    }
    return result;
  }

  /** Drops the index and folds the whole log in again (after a failed write). */
  private rebuild(): void {
    this.current.clear();
    this.deleted.clear();
    this.arrays.clear();
    this.ownIds.clear();
    this.queue.length = 0;
    this.firstPending.clear();
    this.lastSeen = 0;
    this.synced = false;
    try {
      this.sync();
    } catch {
      /* the next request tries again */
    }
  }

  /** Undoes a rolled-back transaction's changes (they were never written). */
  rollback(tx: object): void {
    const keep = this.queue.filter((c) => c.tx !== tx);
    const undone = this.queue.filter((c) => c.tx === tx);
    this.queue.length = 0;
    this.queue.push(...keep);
    for (const c of undone.reverse()) {
      if (this.firstPending.get(c.key) === c) this.firstPending.delete(c.key);
      this.setCurrent(c.resourceType, c.id, c.before);
      if (!c.before && c.action === 'CREATED') this.deleted.delete(c.key);
    }
    // Other runs' changes that waited behind the transaction go in their own commit.
    if (this.queue.length) this.schedule();
  }

  /** Every queued change durable, in order. Rejects with the first failure since the last flush. */
  async flush(): Promise<void> {
    while (this.inFlight || (this.queue.length && !this.queue[0].tx)) {
      if (!this.inFlight) this.kick();
      await this.inFlight;
    }
    const err = this.failure;
    this.failure = undefined;
    if (err) throw new Error(`Resource changes could not be recorded: ${err.message}`);
  }

  get pendingCount(): number {
    return this.queue.length;
  }
}

function toEntry(c: PendingChange): NewEntry {
  const mask = c.author.mask ?? (<T>(v: T) => v);
  const e: NewEntry = {
    user: c.author.user,
    action: c.action,
    entityName: c.resourceType,
    entityId: c.id,
    bot: c.author.bot,
    traceId: c.author.traceId,
    before: c.before === undefined ? undefined : mask(c.before),
    after: c.after === undefined ? undefined : mask(c.after),
  };
  if (c.author.onBehalfOf) e.onBehalfOf = c.author.onBehalfOf;
  return e;
}

/** How deep a resource may nest (FHIR resources stay far below; the log's own limit is 512). */
const MAX_NESTING = 256;

function nestedDeeperThan(v: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[v, 1]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (d > max) return true;
    if (x && typeof x === 'object') for (const c of Object.values(x)) if (c && typeof c === 'object') stack.push([c, d + 1]);
  }
  return false;
}

function sameContent(a: Resource, b: Resource): boolean {
  const strip = (r: Resource): string => {
    const { meta, ...rest } = r as Resource & { meta?: Record<string, unknown> };
    const m = meta ? { ...meta } : undefined;
    if (m) {
      delete m.versionId;
      delete m.lastUpdated;
      delete m.author;
    }
    return JSON.stringify(m && Object.keys(m).length ? { ...rest, meta: m } : rest);
  };
  return strip(a) === strip(b);
}

/**
 * The FhirRepository that fhir-router's FhirRouter calls: one per request (cheap), sharing the
 * ResourceState, with the author of the request's changes.
 */
export class LogRepository extends FhirRepository implements SearchSource {
  private tx?: object;

  constructor(
    readonly state: ResourceState,
    readonly author: ChangeAuthor,
  ) {
    super();
  }

  setMode(_mode: RepositoryMode): void {
    /* one mode */
  }

  generateId(): string {
    return randomUUID();
  }

  // ---------------------------------------------------------------- SearchSource

  all(resourceType: string): readonly Resource[] {
    return this.state.all(resourceType);
  }

  get(resourceType: string, id: string): Resource | undefined {
    return this.state.get(resourceType, id);
  }

  // ---------------------------------------------------------------- reads

  async readResource<T extends Resource>(resourceType: string, id: string): Promise<WithId<T>> {
    this.state.sync();
    const r = this.state.get(resourceType, id);
    if (!r) throw this.state.isDeleted(resourceType, id) ? goneError(resourceType, id) : notFoundError(resourceType, id);
    return deepClone(r) as WithId<T>;
  }

  async readReference<T extends Resource>(reference: Reference<T>): Promise<WithId<T>> {
    const parts = reference?.reference?.split('/');
    if (parts?.length !== 2 || !parts[0] || !parts[1]) throw new OperationOutcomeError(badRequest(`Invalid reference: ${String(reference?.reference)}`));
    return this.readResource<T>(parts[0], parts[1]);
  }

  async readReferences<T extends Resource>(references: readonly Reference<T>[]): Promise<(T | Error)[]> {
    return Promise.all(
      references.map((r) => this.readReference<T>(r).catch((err) => (err instanceof OperationOutcomeError ? err : new OperationOutcomeError(normalizeOperationOutcome(err))))),
    );
  }

  /** The resource's versions, newest first, from its audit entries. */
  async readHistory<T extends Resource>(resourceType: string, id: string, options?: { offset?: number; limit?: number }): Promise<Bundle<WithId<T>>> {
    await this.state.flush();
    this.state.sync();
    const versions = this.versions(resourceType, id);
    if (!versions.length) throw notFoundError(resourceType, id);
    const entry: BundleEntry<WithId<T>>[] = [];
    for (const v of versions.reverse()) {
      if (v.resource) {
        entry.push({ fullUrl: `${resourceType}/${id}`, resource: v.resource as WithId<T>, request: { method: v.method, url: `${resourceType}/${id}` }, response: { status: v.method === 'POST' ? '201' : '200', lastModified: v.when } });
      } else {
        entry.push({ fullUrl: `${resourceType}/${id}`, request: { method: 'DELETE', url: `${resourceType}/${id}` }, response: { status: '410', lastModified: v.when } });
      }
    }
    const offset = options?.offset ?? 0;
    const page = entry.slice(offset, options?.limit === undefined ? undefined : offset + options.limit);
    return { resourceType: 'Bundle', type: 'history', total: entry.length, ...(page.length ? { entry: page } : {}) };
  }

  private versions(resourceType: string, id: string): { resource?: Resource; method: 'POST' | 'PUT' | 'DELETE'; when: string }[] {
    const out: { resource?: Resource; method: 'POST' | 'PUT' | 'DELETE'; when: string }[] = [];
    for (const e of this.state.log.history(resourceType, id)) {
      if (!isResourceChange(e)) continue;
      const when = new Date(e.recorded).toISOString();
      if (e.action === 'DELETED') out.push({ method: 'DELETE', when });
      else out.push({ resource: e.after as Resource, method: e.action === 'CREATED' ? 'POST' : 'PUT', when: (e.after as Resource).meta?.lastUpdated ?? when });
    }
    return out;
  }

  async readVersion<T extends Resource>(resourceType: string, id: string, vid: string): Promise<WithId<T>> {
    await this.state.flush();
    this.state.sync();
    const versions = this.versions(resourceType, id);
    if (!versions.length) throw notFoundError(resourceType, id);
    const v = versions.find((x) => x.resource?.meta?.versionId === vid);
    if (!v?.resource) throw outcomeError(404, 'not-found', `Not found: ${resourceType}/${id}/_history/${vid}`);
    return deepClone(v.resource) as WithId<T>;
  }

  async search<T extends Resource>(searchRequest: SearchRequest<T>): Promise<Bundle<WithId<T>>> {
    this.state.sync();
    const bundle = runSearch(this, searchRequest as SearchRequest, `${LOCAL_BASE_URL}fhir/R4/`) as Bundle<WithId<T>>;
    if (bundle.entry) for (const e of bundle.entry) if (e.resource) e.resource = deepClone(e.resource);
    if ((searchRequest.include || searchRequest.revInclude) && bundle.entry?.length) {
      const entries = bundle.entry as BundleEntry[];
      await getExtraEntries(this, searchRequest, entries.map((e) => e.resource as WithId<T>), entries);
    }
    return bundle;
  }

  async searchByReference<T extends Resource>(searchRequest: SearchRequest<T>, referenceField: string, references: string[]): Promise<Record<string, WithId<T>[]>> {
    const out: Record<string, WithId<T>[]> = {};
    for (const ref of references) {
      const req = { ...searchRequest, filters: [...(searchRequest.filters ?? []), { code: referenceField, operator: 'eq' as never, value: ref }] };
      out[ref] = ((await this.search(req)).entry ?? []).map((e) => e.resource as WithId<T>);
    }
    return out;
  }

  // ---------------------------------------------------------------- writes

  async createResource<T extends Resource>(resource: T, options?: CreateResourceOptions): Promise<WithId<T>> {
    this.checkResource(resource);
    this.state.sync();
    const id = options?.assignedId && resource.id ? resource.id : this.generateId();
    if (options?.assignedId && !ID_RE.test(id)) throw new OperationOutcomeError(badRequest(`Invalid id: ${id}`, 'id'));
    if (this.state.get(resource.resourceType, id)) throw new OperationOutcomeError(badRequest('Assigned ID is already in use'));
    const created = this.newVersion(resource, id);
    this.stage('CREATED', undefined, created);
    return created;
  }

  async updateResource<T extends Resource>(resource: T, options?: UpdateResourceOptions): Promise<WithId<T>> {
    if (options?.ifMatch && !this.tx) return this.withTransaction((tx) => tx.updateResource(resource, options));
    this.checkResource(resource);
    if (!resource.id) throw new OperationOutcomeError(badRequest('Missing id'));
    this.state.sync();
    const before = this.state.get(resource.resourceType, resource.id);
    if (options?.ifMatch) {
      if (!before) throw notFoundError(resource.resourceType, resource.id);
      if (before.meta?.versionId !== options.ifMatch) throw new OperationOutcomeError(preconditionFailed);
    }
    if (before && sameContent(before, resource)) return deepClone(before) as WithId<T>;
    if (!before && !ID_RE.test(resource.id)) throw new OperationOutcomeError(badRequest(`Invalid id: ${resource.id}`, 'id'));
    const updated = this.newVersion(resource, resource.id);
    this.stage(before ? 'UPDATED' : 'CREATED', before, updated);
    return updated;
  }

  async patchResource<T extends Resource>(resourceType: T['resourceType'], id: string, patch: Operation[] | Parameters, options?: UpdateResourceOptions): Promise<WithId<T>> {
    if (options?.ifMatch && !this.tx) return this.withTransaction((tx) => tx.patchResource<T>(resourceType, id, patch, options));
    const resource = (await this.readResource<T>(resourceType, id)) as T;
    try {
      if (Array.isArray(patch)) {
        const errors = applyPatch(resource, patch).filter(Boolean);
        if (errors.length) throw new OperationOutcomeError(badRequest(errors.map((e) => (e as Error).message).join('\n')));
      } else if ((patch as Parameters)?.parameter) {
        fhirpathPatchTypedValue(toTypedValue(resource), parseFhirPathPatchParameters(patch as Parameters));
      } else {
        throw new OperationOutcomeError(badRequest('A patch must be a JSON Patch array or FHIRPath Patch Parameters'));
      }
    } catch (err) {
      throw err instanceof OperationOutcomeError ? err : new OperationOutcomeError(normalizeOperationOutcome(err));
    }
    if (resource.resourceType !== resourceType || resource.id !== id) throw new OperationOutcomeError(badRequest('A patch cannot change resourceType or id'));
    return this.updateResource(resource, options);
  }

  async deleteResource(resourceType: string, id: string, options?: { ifMatch?: string }): Promise<void> {
    if (options?.ifMatch && !this.tx) return this.withTransaction((tx) => tx.deleteResource(resourceType, id, options));
    this.state.sync();
    const before = this.state.get(resourceType, id);
    if (!before) throw this.state.isDeleted(resourceType, id) ? goneError(resourceType, id) : notFoundError(resourceType, id);
    if (options?.ifMatch && before.meta?.versionId !== options.ifMatch) throw new OperationOutcomeError(preconditionFailed);
    this.stage('DELETED', before, undefined);
  }

  /**
   * Runs `callback` as one all-or-nothing change: decided under the store's writers' lock (no other
   * window or CLI writes meanwhile), its changes written in one append, or none of them if it throws.
   */
  async withTransaction<TResult>(callback: (txRepo: this) => Promise<TResult>): Promise<TResult> {
    if (this.tx) return callback(this);
    await this.state.flush();
    const tx = {};
    const txRepo = Object.create(this) as this;
    txRepo.tx = tx;
    try {
      return await this.state.commit(() => callback(txRepo));
    } catch (e) {
      this.state.rollback(tx);
      throw e;
    }
  }

  // ---------------------------------------------------------------- helpers

  private checkResource(r: Resource): void {
    if (!r || typeof r !== 'object' || Array.isArray(r)) throw new OperationOutcomeError(badRequest('A resource must be a JSON object'));
    if (typeof r.resourceType !== 'string' || !RESOURCE_TYPE_RE.test(r.resourceType)) throw new OperationOutcomeError(badRequest(`Invalid resourceType: ${String((r as { resourceType?: unknown }).resourceType)}`, 'resourceType'));
  }

  private newVersion<T extends Resource>(resource: T, id: string): WithId<T> {
    const text = JSON.stringify(resource);
    const copy = JSON.parse(text) as T;
    // The log refuses snapshots nested deeper than it can hash; refused here, this change fails
    // alone, rather than the group commit that would carry it (and other runs' changes).
    if (nestedDeeperThan(copy, MAX_NESTING)) throw new OperationOutcomeError(badRequest(`${copy.resourceType} nests deeper than ${MAX_NESTING} levels`));
    const meta = { ...(copy.meta ?? {}) };
    meta.versionId = randomUUID();
    meta.lastUpdated = new Date().toISOString();
    // As Medplum records who made a version: `Bot/<name>` for a bot's change.
    if (this.author.user) meta.author = this.author.user.includes('/') ? { reference: this.author.user } : { display: this.author.user };
    const out = { ...copy, id, meta } as WithId<T>;
    // As a Medplum server does on every write: the resource must match its StructureDefinition
    // (known properties, required elements, types and primitive formats), else a 400 that says where.
    validateResource(out);
    const cap = this.state.log.snapshotCapBytes;
    // The version adds an id and meta (under 1 KB) to the text measured: only a resource near the cap is measured again.
    if (cap && text.length * 3 + 1024 > cap) {
      const bytes = Buffer.byteLength(JSON.stringify(out));
      if (bytes > cap) throw outcomeError(413, 'too-costly', `${out.resourceType} is ${bytes} bytes; the audit log keeps resources of up to ${cap} bytes`);
    }
    return out;
  }

  private stage(action: ChangeAction, before: Res | undefined, after: Res | undefined): void {
    const r = (after ?? before) as Res;
    this.state.stage({ action, key: `${r.resourceType}/${r.id}`, resourceType: r.resourceType, id: r.id, before, after, author: this.author, tx: this.tx });
  }
}
