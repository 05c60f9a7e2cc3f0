// The bot's first argument inside the worker: a Medplum-compatible client whose reads and
// writes are forwarded to the host (which owns the databases and writes the audit entries).
// Search runs here, in the worker, with @medplum/core's parseSearchRequest/matchesSearchRequest
// over the resources of one type that the host sends, so the search definitions are indexed
// once per worker and never on the editor's thread.
import { ensureSearchDefinitions } from './definitions';

export type RpcCall = (method: string, args: unknown[]) => Promise<unknown>;

type Core = typeof import('@medplum/core');
let coreModule: Core | undefined;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const core = (): Core => (coreModule ??= require('@medplum/core') as Core);

type Resource = { resourceType: string; id?: string; meta?: { versionId?: string; lastUpdated?: string } } & Record<string, unknown>;
type Query = string | URLSearchParams | Record<string, string | number | boolean | string[] | undefined> | undefined;

export interface WorkerClientOptions {
  definitionsDir?: string;
}

/** Turns Medplum's accepted query forms into the record parseSearchRequest takes. */
export function queryToRecord(query: Query): Record<string, string[] | string | undefined> {
  const out: Record<string, string[]> = {};
  const add = (k: string, v: string): void => void (out[k] ??= []).push(v);
  if (query === undefined) return out;
  if (typeof query === 'string') {
    for (const [k, v] of new URLSearchParams(query.startsWith('?') ? query.slice(1) : query)) add(k, v);
  } else if (query instanceof URLSearchParams) {
    for (const [k, v] of query) add(k, v);
  } else {
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined) continue;
      if (Array.isArray(v)) v.forEach((x) => add(k, String(x)));
      else add(k, String(v));
    }
  }
  return out;
}

function sortKey(v: unknown): string | number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return v;
  if (typeof v === 'string' || typeof v === 'boolean') return String(v);
  const o = v as Record<string, unknown>;
  for (const k of ['family', 'start', 'value', 'code', 'display', 'reference', 'text']) {
    const x = o[k];
    if (x !== undefined) return sortKey(x);
  }
  if (Array.isArray(o.coding) && o.coding.length) return sortKey(o.coding[0]);
  return JSON.stringify(v);
}

/** A stored resource as the worker holds it: its JSON text, parsed only when needed. */
export interface SearchEntry {
  text: string;
  lower?: string;
  resource?: Resource;
}

/**
 * Needles for a cheap first pass over the JSON text: for each token, reference, uri or `_id`
 * filter with plain equality, the values one of which a matching resource's text must contain
 * (lower-cased; the code of `system|code`). Other filters (dates, numbers, strings, which match
 * across case and accents, modifiers) get no needles and are left to matchesSearchRequest.
 */
function needlesOf(core: Core, resourceType: string, filters: { code: string; operator: string; value: string }[]): string[][] {
  const out: string[][] = [];
  for (const f of filters) {
    if (f.operator !== 'eq' || f.code.includes(':') || f.code.includes('.')) continue;
    let type: string | undefined;
    if (f.code === '_id') type = 'token';
    else {
      const sp = core.getSearchParameter(resourceType, f.code);
      type = sp?.type;
    }
    if (type !== 'token' && type !== 'reference' && type !== 'uri') continue;
    const alts: string[] = [];
    let ok = true;
    for (const v of f.value.split(',')) {
      const bar = v.lastIndexOf('|');
      let part = (bar >= 0 && type === 'token' ? v.slice(bar + 1) || v.slice(0, bar) : v).trim();
      // A reference may be written relative or absolute: only its id must be in the text.
      if (type === 'reference') part = part.slice(part.lastIndexOf('/') + 1);
      // Only text that JSON writes as is (no quotes, backslashes, control characters).
      if (!part || /["\\\u0000-\u001f]/.test(part)) {
        ok = false;
        break;
      }
      alts.push(part.toLowerCase());
    }
    if (ok && alts.length) out.push(alts);
  }
  return out;
}

/** Searches stored JSON texts: a text pre-filter, then matchesSearchRequest, sort, count, page. */
export function searchEntries(entries: SearchEntry[], resourceType: string, query: Query, definitionsDir?: string): { total: number; page: Resource[] } {
  const c = core();
  ensureSearchDefinitions(c, definitionsDir);
  const req = c.parseSearchRequest(resourceType, queryToRecord(query));
  const needles = needlesOf(c, resourceType, req.filters ?? []);
  const candidates: Resource[] = [];
  for (const e of entries) {
    if (needles.length) {
      const lower = (e.lower ??= e.text.toLowerCase());
      if (!needles.every((alts) => alts.some((n) => lower.includes(n)))) continue;
    }
    candidates.push((e.resource ??= JSON.parse(e.text) as Resource));
  }
  return sortAndPage(c, candidates.filter((r) => c.matchesSearchRequest(r as never, req)), resourceType, req);
}

/** Sorts, counts and pages resources (matching them first). */
export function runSearch(resources: Resource[], resourceType: string, query: Query, definitionsDir?: string): { total: number; page: Resource[] } {
  const c = core();
  ensureSearchDefinitions(c, definitionsDir);
  const req = c.parseSearchRequest(resourceType, queryToRecord(query));
  return sortAndPage(c, resources.filter((r) => c.matchesSearchRequest(r as never, req)), resourceType, req);
}

function sortAndPage(
  c: Core,
  matches: Resource[],
  resourceType: string,
  req: { sortRules?: { code: string; descending?: boolean }[]; offset?: number; count?: number },
): { total: number; page: Resource[] } {
  for (const rule of [...(req.sortRules ?? [])].reverse()) {
    const keyOf = (r: Resource): string | number | undefined => {
      if (rule.code === '_id') return r.id;
      if (rule.code === '_lastUpdated') return r.meta?.lastUpdated;
      const sp = c.getSearchParameter(resourceType, rule.code);
      if (!sp?.expression) return undefined;
      const vals = c.evalFhirPath(sp.expression, r);
      return sortKey(vals[0]);
    };
    const keyed = matches.map((r) => ({ r, k: keyOf(r) }));
    keyed.sort((a, b) => {
      if (a.k === b.k) return 0;
      if (a.k === undefined) return 1; // missing values last, either direction
      if (b.k === undefined) return -1;
      const cmp = a.k < b.k ? -1 : 1;
      return rule.descending ? -cmp : cmp;
    });
    keyed.forEach((x, i) => (matches[i] = x.r));
  }
  const offset = req.offset ?? 0;
  const count = req.count ?? 20;
  return { total: matches.length, page: matches.slice(offset, offset + count) };
}

function parseReference(ref: { reference?: string } | string): [string, string] {
  const s = typeof ref === 'string' ? ref : ref?.reference;
  const m = typeof s === 'string' ? /^([A-Z][A-Za-z]+)\/([^/?#]+)$/.exec(s) : null;
  if (!m) throw Object.assign(new Error(`Invalid reference: ${String(s)}`), { status: 400 });
  return [m[1], m[2]];
}

/** A Medplum-compatible client for use inside the bot worker. */
export function createWorkerMedplumClient(rpc: RpcCall, opts: WorkerClientOptions = {}) {
  // The resources of a type, as the host last sent them, with the host's version of that type:
  // an unchanged type is not sent again, and parsed resources are kept.
  const cache = new Map<string, { version: number; entries: SearchEntry[] }>();
  const list = async (resourceType: string): Promise<SearchEntry[]> => {
    const known = cache.get(resourceType);
    const reply = (await rpc('list', [resourceType, known?.version ?? -1])) as { version: number; texts?: string[] };
    if (!reply.texts && known) return known.entries;
    const entries = (reply.texts ?? []).map((text) => ({ text }));
    cache.set(resourceType, { version: reply.version, entries });
    return entries;
  };
  const search = async (resourceType: string, query?: Query) => {
    const { total, page } = searchEntries(await list(resourceType), resourceType, query, opts.definitionsDir);
    return {
      resourceType: 'Bundle' as const,
      type: 'searchset' as const,
      total,
      entry: page.map((resource) => ({ fullUrl: `urn:uuid:${resource.id}`, resource, search: { mode: 'match' as const } })),
    };
  };
  const searchResources = async (resourceType: string, query?: Query) => {
    const bundle = await search(resourceType, query);
    const arr = bundle.entry.map((e) => e.resource) as Resource[] & { bundle?: unknown };
    Object.defineProperty(arr, 'bundle', { value: bundle, enumerable: false });
    return arr;
  };
  const searchOne = async (resourceType: string, query?: Query) => {
    const rec = queryToRecord(query);
    rec._count = ['1'];
    return (await search(resourceType, rec)).entry[0]?.resource;
  };
  /** create, read, update and patch come back as the stored JSON text. */
  const json = (method: string, args: unknown[]): Promise<Resource> => rpc(method, args).then((t) => JSON.parse(t as string) as Resource);
  const client = {
    createResource: (resource: Resource) => json('create', [resource]),
    readResource: (resourceType: string, id: string) => json('read', [resourceType, id]),
    readReference: async (ref: { reference?: string }) => {
      const [t, id] = parseReference(ref);
      return json('read', [t, id]);
    },
    updateResource: (resource: Resource) => json('update', [resource]),
    deleteResource: async (resourceType: string, id: string) => {
      await rpc('delete', [resourceType, id]);
    },
    patchResource: (resourceType: string, id: string, operations: unknown[]) => json('patch', [resourceType, id, operations]),
    search,
    searchResources,
    searchOne,
    createResourceIfNoneExist: async (resource: Resource, query: Query) => {
      const found = await searchOne(resource.resourceType, query);
      return found ?? json('create', [resource]);
    },
    upsertResource: async (resource: Resource, query: Query) => {
      const found = await searchOne(resource.resourceType, query);
      return found ? json('update', [{ ...resource, id: found.id }]) : json('create', [resource]);
    },
    /** Like MedplumClient.fhirUrl, for bots that build URLs. */
    fhirUrl: (...parts: string[]) => new URL(`local:/fhir/R4/${parts.join('/')}`),
    getBaseUrl: () => 'local:/',
    invalidateAll: () => undefined,
    invalidateSearches: () => undefined,
  };
  return client;
}

export type WorkerMedplumClient = ReturnType<typeof createWorkerMedplumClient>;
