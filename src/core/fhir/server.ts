// The local FHIR server that answers the fetch of each bot's MedplumClient. It runs in the host
// (the extension host or the CLI), never in the bot's worker. Built from Medplum's own parts:
// @medplum/fhir-router's FhirRouter (REST, batch and transaction bundles, GraphQL) over our
// LogRepository (resources event-sourced over the audit log, see repository.ts), plus the few
// routes a Medplum server adds that have a local meaning: Binary content on disk under
// `.bot-audit/binary/`, `$everything`, `Bot/$execute` (a child run of a local bot), and
// `email/v1/send` (captured, not sent). Everything else is a 501 OperationOutcome that names it.
import './globals';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as medplumCore from '@medplum/core';
import {
  ContentType,
  OperationOutcomeError,
  badRequest,
  getStatus,
  normalizeOperationOutcome,
  parseSearchRequest,
  type WithId,
} from '@medplum/core';
import { FhirRouter, type FhirRequest, type HttpMethod } from '@medplum/fhir-router';
import type { Binary, Bundle, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { ensureSearchDefinitions } from '../medplum/definitions';
import { LOCAL_BASE_URL } from './platform';
import { checkSearchQuery } from './search';
import { PATIENT_COMPARTMENT } from './search-tables';
import { stableId } from './ids';
import { LogRepository, ResourceState, type ChangeAuthor, type ResourceLog, notFoundError } from './repository';

/** A request as it crosses from the bot's worker: bodies as text or bytes. */
export interface WireRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

export interface WireResponse {
  status: number;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /**
   * Milliseconds this request spent on the local server's one-time start-up (indexing the FHIR
   * definitions; building GraphQL's schema on the first query): work a Medplum server does when it
   * starts, so the runner does not count it against the bot's time limit.
   */
  warmupMs?: number;
}

/** fhir-router builds GraphQL's schema once per process, on the first query. */
let graphqlSchemaBuilt = false;

/** What a request knows of the run that makes it. */
export interface RequestContext extends ChangeAuthor {
  /** Writes a line to the run's output. */
  log?: (level: 'info' | 'warn', text: string) => void;
  /** Runs a local bot as a child of this run; the reply is what its `$execute` answers. */
  executeBot?: (ref: { id?: string; identifier?: string }, body: unknown, contentType: string) => Promise<{ status: number; body: unknown; contentType?: string }>;
}

export interface LocalFhirServerOptions {
  log: ResourceLog;
  /** Where Binary content is kept (`.bot-audit/binary`). Without it, Binary content is refused. */
  binaryDir?: string;
  /** Folder with the search definitions (dist/fhir in a package). */
  definitionsDir?: string;
}

const FHIR_PREFIX = 'fhir/R4/';

export class LocalFhirServer {
  readonly state: ResourceState;
  private readonly router = new FhirRouter();
  private ready = false;
  private readonly profiles = new Map<string, Promise<void>>();

  constructor(private readonly opts: LocalFhirServerOptions) {
    this.state = new ResourceState(opts.log);
  }

  /** Indexes the FHIR definitions (once per process) and the log's resources. */
  private init(): void {
    if (this.ready) return;
    // The @medplum/core that search.ts and fhir-router read the definitions from: the one this
    // module imports. In a bundle (dist/cli.js, dist/fhir-server.js) `require('@medplum/core')`
    // (platform.ts's loadCore) is another copy, whose registry search never reads.
    ensureSearchDefinitions(medplumCore, this.opts.definitionsDir);
    this.state.sync();
    this.ready = true;
  }

  /** A repository for direct use (tests, the CLI), with changes by `author`. */
  repository(author: ChangeAuthor): LogRepository {
    this.init();
    return new LogRepository(this.state, author);
  }

  /** Every change made so far durable. */
  flush(): Promise<void> {
    return this.state.flush();
  }

  async handle(req: WireRequest, ctx: RequestContext): Promise<WireResponse> {
    let warmupMs = 0;
    try {
      if (!this.ready) {
        const t0 = performance.now();
        this.init();
        warmupMs += performance.now() - t0;
      }
      // `event.requester` refers to this profile: it exists before the run's first answer.
      if (ctx.onBehalfOf) await this.ensureProfile(ctx.onBehalfOf).catch((e: Error) => ctx.log?.('warn', `[bot-audit] the requester's profile could not be stored: ${e.message}`));
      const buildsSchema = !graphqlSchemaBuilt && /\/\$graphql(?:[?#]|$)/.test(req.url);
      const t1 = performance.now();
      const res = await this.route(req, ctx);
      if (buildsSchema && res.status < 500) {
        graphqlSchemaBuilt = true;
        warmupMs += performance.now() - t1;
      }
      return warmupMs > 0 ? { ...res, warmupMs } : res;
    } catch (err) {
      const res = outcomeResponse(normalizeOperationOutcome(err));
      return warmupMs > 0 ? { ...res, warmupMs } : res;
    }
  }

  /**
   * The profile of a person who runs bots: `Practitioner/<stable id of the user>` (the id the
   * runner puts in `event.requester`), stored by that person the first time one of their bots
   * makes a request here. A run that makes none leaves no trace of it.
   */
  ensureProfile(user: string): Promise<void> {
    let p = this.profiles.get(user);
    if (!p) {
      p = (async () => {
        this.init();
        const id = stableId('Practitioner', user);
        this.state.sync();
        if (this.state.get('Practitioner', id)) return;
        const telecom = user.includes('@') ? [{ system: 'email' as const, value: user }] : undefined;
        await new LogRepository(this.state, { user }).updateResource({ resourceType: 'Practitioner', id, name: [{ text: user }], ...(telecom ? { telecom } : {}) });
      })();
      this.profiles.set(user, p);
      p.catch(() => this.profiles.delete(user));
    }
    return p;
  }

  private async route(req: WireRequest, ctx: RequestContext): Promise<WireResponse> {
    const method = req.method.toUpperCase() as HttpMethod;
    const u = new URL(req.url, LOCAL_BASE_URL);
    if (`${u.protocol}//${u.host}/` !== LOCAL_BASE_URL) throw new OperationOutcomeError(badRequest(`Not the local server: ${u.origin}`));
    const headers = lowerKeys(req.headers);
    if (u.pathname === '/email/v1/send' && method === 'POST') return this.sendEmail(parseJsonBody(req), ctx);
    const pathname = u.pathname === `/${FHIR_PREFIX.slice(0, -1)}` ? `/${FHIR_PREFIX}` : u.pathname;
    if (!pathname.startsWith(`/${FHIR_PREFIX}`)) throw notAvailable(`${method} ${u.pathname}`);
    const fhirPath = pathname.slice(1 + FHIR_PREFIX.length);
    const segs = fhirPath.split('/');
    const repo = new LogRepository(this.state, ctx);

    // Routes a Medplum server adds to the FHIR API.
    if (segs[0] === 'Binary') {
      if (method === 'POST' && segs.length === 1) return this.createBinary(req, headers, repo);
      if (method === 'GET' && segs.length === 2 && !wantsFhirJson(headers)) return this.readBinary(segs[1], repo);
    }
    if (segs[0] === 'Bot' && segs[segs.length - 1] === '$execute' && (method === 'POST' || method === 'GET')) {
      return this.executeBot(segs.length === 3 ? { id: segs[1] } : { identifier: u.searchParams.get('identifier') ?? undefined }, req, headers, ctx);
    }
    if (segs[0] === 'Patient' && segs.length === 3 && segs[2] === '$everything') return this.everything(segs[1], repo);
    const op = segs.find((s) => s.startsWith('$'));
    if (op && op !== '$graphql') throw notAvailable(op);

    const query: Record<string, string | string[]> = {};
    for (const [k, v] of u.searchParams) {
      const prev = query[k];
      query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    const fhirReq: FhirRequest = {
      method,
      url: fhirPath + u.search,
      pathname: '',
      params: {},
      query,
      body: req.body === undefined || req.body === '' ? undefined : parseJsonBody(req),
      headers: headers as FhirRequest['headers'],
      // Transaction bundles are all or nothing (LogRepository.withTransaction), as on a Medplum server.
      config: { transactions: true },
    };
    // A modifier that core's parser would drop without a word is refused here, by name.
    if (segs.length === 1 && /^[A-Z]/.test(segs[0]) && (method === 'GET' || (method === 'POST' && segs[1] === '_search'))) checkSearchQuery(segs[0], query);
    if (segs.length === 2 && segs[1] === '_search' && method === 'POST') checkSearchQuery(segs[0], query);
    const found = this.router.find(method, fhirReq.url);
    if (!found) throw notAvailable(`${method} ${fhirPath}`);
    const [outcome, resource] = await this.router.handleRequest(fhirReq, repo);
    const status = getStatus(outcome);
    const out: WireResponse = { status, headers: { 'content-type': ContentType.FHIR_JSON }, body: JSON.stringify(resource ?? outcome) };
    const meta = (resource as Resource | undefined)?.meta;
    if (meta?.versionId) out.headers.etag = `W/"${meta.versionId}"`;
    if (meta?.lastUpdated) out.headers['last-modified'] = new Date(meta.lastUpdated).toUTCString();
    return out;
  }

  // ---------------------------------------------------------------- Binary

  private async createBinary(req: WireRequest, headers: Record<string, string>, repo: LogRepository): Promise<WireResponse> {
    const dir = this.opts.binaryDir;
    if (!dir) throw notAvailable('Binary content');
    const contentType = headers['content-type'] || ContentType.OCTET_STREAM;
    const bytes = typeof req.body === 'string' ? Buffer.from(req.body, 'utf8') : Buffer.from(req.body ?? new Uint8Array());
    const id = repo.generateId();
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, id);
    const fd = fs.openSync(file, 'wx');
    try {
      fs.writeSync(fd, bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    // `_filename` becomes the Attachment's title on the client's side; a Binary has no element for it.
    const binary: Binary = { resourceType: 'Binary', id, contentType };
    const created = await repo.createResource(binary, { assignedId: true });
    (created as Binary & { url?: string }).url = `${LOCAL_BASE_URL}${FHIR_PREFIX}Binary/${id}`;
    return { status: 201, headers: { 'content-type': ContentType.FHIR_JSON, location: `Binary/${id}` }, body: JSON.stringify(created) };
  }

  private async readBinary(id: string, repo: LogRepository): Promise<WireResponse> {
    const binary = (await repo.readResource<Binary>('Binary', id)) as WithId<Binary>;
    const file = this.opts.binaryDir && /^[A-Za-z0-9\-.]+$/.test(id) ? path.join(this.opts.binaryDir, id) : undefined;
    if (file && fs.existsSync(file)) return { status: 200, headers: { 'content-type': binary.contentType ?? ContentType.OCTET_STREAM }, body: new Uint8Array(fs.readFileSync(file)) };
    if (binary.data) return { status: 200, headers: { 'content-type': binary.contentType ?? ContentType.OCTET_STREAM }, body: new Uint8Array(Buffer.from(binary.data, 'base64')) };
    throw notFoundError('Binary', id);
  }

  // ---------------------------------------------------------------- operations

  private async everything(id: string, repo: LogRepository): Promise<WireResponse> {
    const patient = await repo.readResource('Patient', id);
    const entry: Bundle['entry'] = [{ fullUrl: `Patient/${id}`, resource: patient, search: { mode: 'match' } }];
    const seen = new Set([`Patient/${id}`]);
    for (const type of compartmentTypes()) {
      const bundle = await repo.search(parseSearchRequest(type, { _compartment: `Patient/${id}`, _count: '1000' }));
      for (const e of bundle.entry ?? []) {
        const r = e.resource as Resource | undefined;
        if (!r?.id || seen.has(`${r.resourceType}/${r.id}`)) continue;
        seen.add(`${r.resourceType}/${r.id}`);
        entry.push({ fullUrl: `${r.resourceType}/${r.id}`, resource: r, search: { mode: 'match' } });
      }
    }
    const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', total: entry.length, entry };
    return { status: 200, headers: { 'content-type': ContentType.FHIR_JSON }, body: JSON.stringify(bundle) };
  }

  private async executeBot(ref: { id?: string; identifier?: string }, req: WireRequest, headers: Record<string, string>, ctx: RequestContext): Promise<WireResponse> {
    if (!ctx.executeBot) throw notAvailable('executeBot');
    if (!ref.id && !ref.identifier) throw new OperationOutcomeError(badRequest('Must specify bot ID or identifier'));
    const contentType = (headers['content-type'] ?? ContentType.JSON).split(';')[0].trim();
    const text = typeof req.body === 'string' ? req.body : req.body ? Buffer.from(req.body).toString('utf8') : undefined;
    let body: unknown = text;
    if (text !== undefined && (contentType === ContentType.JSON || contentType === ContentType.FHIR_JSON)) {
      try {
        body = JSON.parse(text);
      } catch {
        throw new OperationOutcomeError(badRequest('The body is not JSON'));
      }
    }
    const r = await ctx.executeBot(ref, body, contentType);
    const isText = typeof r.body === 'string' && r.contentType && !r.contentType.includes('json');
    return { status: r.status, headers: { 'content-type': isText ? r.contentType! : ContentType.JSON }, body: isText ? (r.body as string) : JSON.stringify(r.body ?? null) };
  }

  private async sendEmail(email: unknown, ctx: RequestContext): Promise<WireResponse> {
    if (!email || typeof email !== 'object') throw new OperationOutcomeError(badRequest('An email must be a JSON object'));
    const m = email as Record<string, unknown>;
    const list = (v: unknown): string => (Array.isArray(v) ? v.map(String).join(', ') : v === undefined ? '' : String(v));
    const lines = [`[bot-audit] sendEmail captured, not sent: to ${list(m.to)}${m.cc ? `, cc ${list(m.cc)}` : ''}${m.bcc ? `, bcc ${list(m.bcc)}` : ''}; subject: ${String(m.subject ?? '')}`];
    if (m.text !== undefined) lines.push(String(m.text));
    else if (m.html !== undefined) lines.push(`(html) ${String(m.html)}`);
    ctx.log?.('info', lines.join('\n'));
    await this.opts.log.appendWith(() => [
      {
        user: ctx.user,
        action: 'CREATED',
        entityName: 'Email',
        entityId: randomUUID(),
        bot: ctx.bot,
        traceId: ctx.traceId,
        ...(ctx.onBehalfOf ? { onBehalfOf: ctx.onBehalfOf } : {}),
        outcomeDesc: 'Captured by sendEmail when the bot ran locally; not sent',
        after: ctx.mask ? ctx.mask(m) : m,
      },
    ]);
    const ok: OperationOutcome = { resourceType: 'OperationOutcome', id: 'ok', issue: [{ severity: 'information', code: 'informational', details: { text: 'Email captured locally, not sent' } }] };
    return { status: 200, headers: { 'content-type': ContentType.FHIR_JSON }, body: JSON.stringify(ok) };
  }
}

/** "`<what>` is not available when bots run locally", as a 501 OperationOutcome error. */
export function notAvailable(what: string): OperationOutcomeError {
  return new OperationOutcomeError({
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'not-supported', details: { text: `${what} is not available when bots run locally` } }],
  });
}

function outcomeResponse(outcome: OperationOutcome): WireResponse {
  let status = getStatus(outcome);
  if (outcome.issue?.[0]?.code === 'not-supported') status = 501;
  return { status, headers: { 'content-type': ContentType.FHIR_JSON }, body: JSON.stringify(outcome) };
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) out[k.toLowerCase()] = v;
  return out;
}

function wantsFhirJson(headers: Record<string, string>): boolean {
  const accept = headers.accept ?? '';
  return accept.includes('fhir+json');
}

function parseJsonBody(req: WireRequest): unknown {
  const text = typeof req.body === 'string' ? req.body : req.body ? Buffer.from(req.body).toString('utf8') : '';
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new OperationOutcomeError(badRequest('The request body is not JSON'));
  }
}

/** The resource types of the Patient compartment (Medplum's CompartmentDefinition). */
function compartmentTypes(): string[] {
  return Object.keys(PATIENT_COMPARTMENT).filter((t) => PATIENT_COMPARTMENT[t].length > 0);
}
