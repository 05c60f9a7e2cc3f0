// The host side of the bot's Medplum client: FHIR resources in a sql.js database (its own file,
// beside the audit log), and one audit entry per change: CREATED / UPDATED / DELETED, entity
// name = resource type, entity id = id, user = `Bot/<name>`, before/after snapshots (secrets
// masked), the run's trace id. Bots call it from their worker through the runner's message
// channel (see runner.ts `MedplumHost` and workerClient.ts).
//
// Audit entries are group-committed: each change queues its entry, and the queue is written
// with the store's appendBatch (one durable write) 100 ms after the first waiting entry, at 1,000
// waiting, or as soon as the write in flight ends; and always before the run's EXECUTED entry
// (`flush()`), so a run's changes are in the log, in order, before the run itself is.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import initSqlJs, { type Database, type SqlJsStatic, type Statement } from 'sql.js';
import type { MedplumCallContext, MedplumHost } from '../runner/runner';
import type { AuditEntryInput } from '../runner/types';
import { type PatchOperation, applyJsonPatch } from './jsonPatch';

/** A store that can append entries; appendBatch is used when present. */
export interface ChangeSink {
  append(e: AuditEntryInput): Promise<{ id: number }>;
  appendBatch?(es: AuditEntryInput[]): Promise<{ id: number }[]>;
}

export type FhirResource = { resourceType: string; id?: string; meta?: { versionId?: string; lastUpdated?: string } & Record<string, unknown> } & Record<string, unknown>;

/** A resource as stored: with its id, versionId and lastUpdated. */
export type Stored<T> = T & { id: string; meta: { versionId: string; lastUpdated: string } & Record<string, unknown> };

/** Who made a change (for the audit entry). */
export interface ChangeContext {
  /** `Bot/<name>`, or a person. */
  user: string;
  bot?: string;
  onBehalfOf?: string;
  traceId?: string;
  /** Masks secret values in snapshots. */
  mask?: <T>(v: T) => T;
}

export interface LocalMedplumOptions {
  /** Database file; none keeps resources in memory only. */
  file?: string;
  /** Where change entries go (the audit store). */
  store?: ChangeSink;
  /** Path of sql-wasm.wasm (default: from the sql.js package, else beside this bundle). */
  wasmPath?: string;
  /** Writes the database file this long after the last change (default 1000 ms). */
  saveDelayMs?: number;
}

/** An error like Medplum's client raises: status and an OperationOutcome. */
export class FhirError extends Error {
  readonly outcome: { resourceType: 'OperationOutcome'; issue: { severity: 'error'; code: string; details: { text: string } }[] };
  constructor(
    readonly status: number,
    code: string,
    message: string,
  ) {
    super(message);
    this.name = 'OperationOutcomeError';
    this.outcome = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text: message } }] };
  }
}

const notFound = (): FhirError => new FhirError(404, 'not-found', 'Not found');
const badRequest = (msg: string): FhirError => new FhirError(400, 'invalid', msg);

function defaultWasmPath(): string {
  try {
    return require.resolve('sql.js/dist/sql-wasm.wasm');
  } catch {
    return path.join(__dirname, 'sql-wasm.wasm');
  }
}

let sqlPromise: Promise<SqlJsStatic> | undefined;
function loadSql(wasmPath?: string): Promise<SqlJsStatic> {
  if (!sqlPromise || wasmPath) {
    const file = wasmPath ?? defaultWasmPath();
    const p = (async () => {
      const buf = fs.readFileSync(file);
      return initSqlJs({ wasmBinary: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer });
    })();
    if (wasmPath) return p;
    sqlPromise = p;
    p.catch(() => (sqlPromise = undefined));
  }
  return sqlPromise;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS resources (
  resource_type TEXT NOT NULL,
  id TEXT NOT NULL,
  version_id TEXT NOT NULL,
  last_updated TEXT NOT NULL,
  content TEXT NOT NULL,
  PRIMARY KEY (resource_type, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
INSERT OR IGNORE INTO meta (key, value) VALUES ('format', 'bot-audit-resources-1');
`;

const RESOURCE_TYPE_RE = /^[A-Z][A-Za-z]+$/;
/** Change entries per durable write, and how long a first entry waits for others. */
const MAX_BATCH = 1000;
const BATCH_DELAY_MS = 100;

function withoutMeta(r: FhirResource): string {
  const { meta, ...rest } = r;
  const m = meta ? { ...meta } : undefined;
  if (m) {
    delete m.versionId;
    delete m.lastUpdated;
  }
  return JSON.stringify(m && Object.keys(m).length ? { ...rest, meta: m } : rest);
}

/** FHIR resources in sql.js, with audited changes. Also the runner's `MedplumHost`. */
export class LocalMedplum implements MedplumHost {
  private pending: AuditEntryInput[] = [];
  private inFlight?: Promise<void>;
  private kickTimer?: NodeJS.Timeout;
  private saveTimer?: NodeJS.Timeout;
  private dirty = false;
  private closed = false;
  private flushError?: Error;
  private readonly stmts = new Map<string, Statement>();
  /** A counter per resource type, bumped by every change (workers cache search lists by it). */
  private readonly versions = new Map<string, number>();

  private constructor(
    private readonly db: Database,
    private readonly opts: LocalMedplumOptions,
  ) {}

  static async open(opts: LocalMedplumOptions = {}): Promise<LocalMedplum> {
    const SQL = await loadSql(opts.wasmPath);
    let db: Database;
    if (opts.file && fs.existsSync(opts.file)) {
      const buf = fs.readFileSync(opts.file);
      db = new SQL.Database(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
      try {
        const fmt = db.exec("SELECT value FROM meta WHERE key = 'format'")[0]?.values[0]?.[0];
        if (fmt !== 'bot-audit-resources-1') throw new Error(`not a Bot Audit resources database (format ${String(fmt)})`);
      } catch (e) {
        db.close();
        throw new Error(`${opts.file}: ${(e as Error).message}`);
      }
    } else {
      db = new SQL.Database();
    }
    db.exec(SCHEMA);
    return new LocalMedplum(db, opts);
  }

  // ---------------------------------------------------------------- reads

  readResource<T extends FhirResource = FhirResource>(resourceType: string, id: string): Stored<T> {
    const text = this.readText(resourceType, id);
    if (text === undefined) throw notFound();
    return JSON.parse(text) as Stored<T>;
  }

  private stmt(sql: string): Statement {
    let st = this.stmts.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.stmts.set(sql, st);
    }
    return st;
  }

  private readText(resourceType: string, id: string): string | undefined {
    const st = this.stmt('SELECT content FROM resources WHERE resource_type = ? AND id = ?');
    try {
      st.bind([resourceType, String(id)]);
      return st.step() ? (st.get()[0] as string) : undefined;
    } finally {
      st.reset();
    }
  }

  /** Every resource of a type, as JSON text (the worker searches them). */
  listResourceTexts(resourceType: string): string[] {
    const out: string[] = [];
    const st = this.stmt('SELECT content FROM resources WHERE resource_type = ? ORDER BY last_updated, id');
    try {
      st.bind([resourceType]);
      while (st.step()) out.push(st.get()[0] as string);
    } finally {
      st.reset();
    }
    return out;
  }

  count(resourceType?: string): number {
    const r = resourceType
      ? this.db.exec('SELECT COUNT(*) FROM resources WHERE resource_type = ?', [resourceType])
      : this.db.exec('SELECT COUNT(*) FROM resources');
    return Number(r[0]?.values[0]?.[0] ?? 0);
  }

  // ---------------------------------------------------------------- writes

  createResource<T extends FhirResource>(resource: T, ctx: ChangeContext): Stored<T> {
    return this.doCreate(resource, ctx, false).value;
  }

  /** Updates an existing resource; an unchanged resource keeps its version and writes no entry. */
  updateResource<T extends FhirResource>(resource: T, ctx: ChangeContext): Stored<T> {
    return this.doUpdate(resource, ctx, false).value;
  }

  deleteResource(resourceType: string, id: string, ctx: ChangeContext): void {
    const beforeText = this.readText(resourceType, id);
    if (beforeText === undefined) throw notFound();
    this.stmt('DELETE FROM resources WHERE resource_type = ? AND id = ?').run([resourceType, String(id)]);
    this.bump(resourceType);
    this.touch();
    this.audit('DELETED', resourceType, id, JSON.parse(beforeText), undefined, ctx);
  }

  patchResource<T extends FhirResource = FhirResource>(resourceType: string, id: string, ops: PatchOperation[], ctx: ChangeContext): Stored<T> {
    return this.doPatch<T>(resourceType, id, ops, ctx).value;
  }

  // Each write returns the stored JSON text too: the worker gets that (a string is cheaper to
  // pass between threads than an object), and it is written once. `owned`: the caller gave us
  // a fresh copy (from the message channel), so it need not be cloned.
  private doCreate<T extends FhirResource>(resource: T, ctx: ChangeContext, owned: boolean): { value: Stored<T>; text: string } {
    this.checkResource(resource);
    const id = randomUUID();
    const base = owned ? resource : structuredClone(resource);
    const created = { ...base, id, meta: { ...(base.meta ?? {}), versionId: randomUUID(), lastUpdated: new Date().toISOString() } } as Stored<T>;
    const text = this.write(created);
    this.audit('CREATED', created.resourceType, id, undefined, created, ctx);
    return { value: created, text };
  }

  private doUpdate<T extends FhirResource>(resource: T, ctx: ChangeContext, owned: boolean): { value: Stored<T>; text: string } {
    this.checkResource(resource);
    if (!resource.id) throw badRequest('Missing id');
    const beforeText = this.readText(resource.resourceType, resource.id);
    if (beforeText === undefined) throw notFound();
    const before = JSON.parse(beforeText) as Stored<T>;
    if (withoutMeta(before) === withoutMeta(resource)) return { value: before, text: beforeText };
    const base = owned ? resource : structuredClone(resource);
    const updated = { ...base, meta: { ...(base.meta ?? {}), versionId: randomUUID(), lastUpdated: new Date().toISOString() } } as Stored<T>;
    const text = this.write(updated);
    this.audit('UPDATED', updated.resourceType, resource.id, before, updated, ctx);
    return { value: updated, text };
  }

  private doPatch<T extends FhirResource>(resourceType: string, id: string, ops: PatchOperation[], ctx: ChangeContext): { value: Stored<T>; text: string } {
    const before = this.readResource<T>(resourceType, id);
    const patched = applyJsonPatch(before, ops);
    if (patched.resourceType !== resourceType || patched.id !== id) throw badRequest('A patch cannot change resourceType or id');
    return this.doUpdate(patched, ctx, true);
  }

  private checkResource(r: FhirResource): void {
    if (!r || typeof r !== 'object' || Array.isArray(r)) throw badRequest('A resource must be an object');
    if (typeof r.resourceType !== 'string' || !RESOURCE_TYPE_RE.test(r.resourceType)) throw badRequest(`Invalid resourceType: ${String(r.resourceType)}`);
  }

  private bump(resourceType: string): void {
    this.versions.set(resourceType, (this.versions.get(resourceType) ?? 0) + 1);
  }

  private write(r: FhirResource): string {
    const text = JSON.stringify(r);
    this.bump(r.resourceType);
    this.stmt('INSERT OR REPLACE INTO resources (resource_type, id, version_id, last_updated, content) VALUES (?, ?, ?, ?, ?)').run([
      r.resourceType,
      r.id as string,
      r.meta?.versionId as string,
      r.meta?.lastUpdated as string,
      text,
    ]);
    this.touch();
    return text;
  }

  // ---------------------------------------------------------------- audit entries

  private audit(action: 'CREATED' | 'UPDATED' | 'DELETED', entityName: string, entityId: string, before: unknown, after: unknown, ctx: ChangeContext): void {
    if (!this.opts.store) return;
    const mask = ctx.mask ?? (<T>(v: T) => v);
    const entry: AuditEntryInput = {
      user: ctx.user,
      action,
      entityName,
      entityId,
      bot: ctx.bot,
      traceId: ctx.traceId,
      before: before === undefined ? undefined : mask(before),
      after: after === undefined ? undefined : mask(after),
    };
    if (ctx.onBehalfOf) entry.onBehalfOf = ctx.onBehalfOf;
    this.pending.push(entry);
    if (this.pending.length >= MAX_BATCH) this.kick();
    else this.scheduleKick();
  }

  private scheduleKick(): void {
    if (this.kickTimer || this.inFlight) return;
    this.kickTimer = setTimeout(() => {
      this.kickTimer = undefined;
      this.kick();
    }, BATCH_DELAY_MS);
  }

  /** Starts writing the queued entries unless a write is in flight (then they go with the next one). */
  private kick(): void {
    const store = this.opts.store;
    if (!store || this.inFlight || this.pending.length === 0) return;
    if (this.kickTimer) clearTimeout(this.kickTimer);
    this.kickTimer = undefined;
    const batch = this.pending.splice(0, MAX_BATCH);
    this.inFlight = (async () => {
      try {
        if (store.appendBatch) await store.appendBatch(batch);
        else for (const e of batch) await store.append(e);
      } catch (e) {
        this.flushError ??= e as Error;
      }
    })().finally(() => {
      this.inFlight = undefined;
      if (this.pending.length >= MAX_BATCH) this.kick();
      else if (this.pending.length) this.scheduleKick();
    });
  }

  /** Writes every queued change entry (in order). Rejects if a write failed since the last flush. */
  async flush(): Promise<void> {
    while (this.inFlight || this.pending.length) {
      if (!this.inFlight) this.kick();
      await this.inFlight;
    }
    const err = this.flushError;
    this.flushError = undefined;
    if (err) throw new Error(`Change entries could not be recorded: ${err.message}`);
  }

  // ---------------------------------------------------------------- MedplumHost

  /** Synchronous (sql.js is): the runner answers the worker in the same tick. Throws FhirError. */
  handle(method: string, args: unknown[], ctx: MedplumCallContext): unknown {
    if (this.closed) throw new FhirError(503, 'transient', 'The local Medplum store is closed');
    const change: ChangeContext = {
      user: ctx.botUser,
      bot: ctx.botName,
      onBehalfOf: ctx.onBehalfOf,
      traceId: ctx.traceId,
      mask: (v) => ctx.masker.maskValue(v),
    };
    const str = (v: unknown, what: string): string => {
      if (typeof v !== 'string' || !v) throw badRequest(`Missing ${what}`);
      return v;
    };
    switch (method) {
      // create, read, update and patch answer with the resource's JSON text (see doCreate).
      case 'create':
        return this.doCreate(args[0] as FhirResource, change, true).text;
      case 'read': {
        const text = this.readText(str(args[0], 'resourceType'), str(args[1], 'id'));
        if (text === undefined) throw notFound();
        return text;
      }
      case 'update':
        return this.doUpdate(args[0] as FhirResource, change, true).text;
      case 'delete':
        this.deleteResource(str(args[0], 'resourceType'), str(args[1], 'id'), change);
        return undefined;
      case 'patch':
        return this.doPatch(str(args[0], 'resourceType'), str(args[1], 'id'), args[2] as PatchOperation[], change).text;
      case 'list': {
        // [resourceType, version the worker has]: the texts only when the type changed since.
        const type = str(args[0], 'resourceType');
        const version = this.versions.get(type) ?? 0;
        return args[1] === version ? { version } : { version, texts: this.listResourceTexts(type) };
      }
      default:
        throw new FhirError(501, 'not-supported', `Unsupported operation: ${method}`);
    }
  }

  // ---------------------------------------------------------------- persistence

  private touch(): void {
    this.dirty = true;
    if (!this.opts.file || this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      try {
        this.save();
      } catch {
        /* retried on the next change and on close */
      }
    }, this.opts.saveDelayMs ?? 1000);
    this.saveTimer.unref();
  }

  /** Writes the database file now (temp file, fsync, rename). */
  save(): void {
    if (!this.opts.file || !this.dirty) return;
    const file = this.opts.file;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    const data = this.db.export();
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    this.dirty = false;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush().catch(() => undefined);
    this.closed = true;
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    this.save();
    for (const st of this.stmts.values()) st.free();
    this.stmts.clear();
    this.db.close();
  }
}
