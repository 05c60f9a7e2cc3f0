// The bot's first argument, inside the bot's worker: a real MedplumClient from @medplum/core, the
// way Medplum's vmcontext runtime builds it, whose fetch crosses to the host's LocalFhirServer
// (server.ts). Client methods that have no local meaning fail with an OperationOutcome that
// names them, never a TypeError.
import { LOCAL_BASE_URL } from './platform';

type Core = typeof import('@medplum/core');

/** A request to the host; the host answers with the response. */
export type HostFetch = (req: { method: string; url: string; headers: Record<string, string>; body?: string | Uint8Array }) => Promise<{
  status: number;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}>;

/** Client methods that need a Medplum server's services, by name. */
export const UNAVAILABLE_METHODS = ['createPdf', 'pushToAgent', 'subscribeToCriteria', 'unsubscribeFromCriteria', 'getSubscriptionManager', 'startLogin', 'signInWithRedirect', 'signInWithExternalAuth', 'startPkce'] as const;

/**
 * A response as MedplumClient reads it (status, headers, json/text/blob), without the web
 * Response's stream machinery, which costs about as much as the rest of a local call. Only the
 * bot's client gets these; `fetch` in the bot's own code answers with real Responses.
 */
class LocalHeaders {
  private readonly map = new Map<string, string>();
  constructor(h: Record<string, string>) {
    for (const [k, v] of Object.entries(h)) this.map.set(k.toLowerCase(), v);
  }
  get(name: string): string | null {
    return this.map.get(name.toLowerCase()) ?? null;
  }
  has(name: string): boolean {
    return this.map.has(name.toLowerCase());
  }
  forEach(fn: (value: string, key: string, parent: LocalHeaders) => void): void {
    for (const [k, v] of this.map) fn(v, k, this);
  }
  entries(): IterableIterator<[string, string]> {
    return this.map.entries();
  }
  keys(): IterableIterator<string> {
    return this.map.keys();
  }
  values(): IterableIterator<string> {
    return this.map.values();
  }
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.map.entries();
  }
}

class LocalResponse {
  readonly headers: LocalHeaders;
  readonly statusText = '';
  readonly redirected = false;
  readonly type = 'basic';
  bodyUsed = false;
  constructor(
    readonly status: number,
    private readonly content: string | Uint8Array | undefined,
    headers: Record<string, string>,
    readonly url: string,
  ) {
    this.headers = new LocalHeaders(headers);
  }
  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }
  private take(): string | Uint8Array {
    if (this.bodyUsed) throw new TypeError('Body is unusable: Body has already been read');
    this.bodyUsed = true;
    return this.content ?? '';
  }
  async text(): Promise<string> {
    const c = this.take();
    return typeof c === 'string' ? c : new TextDecoder().decode(c);
  }
  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
  async arrayBuffer(): Promise<ArrayBuffer> {
    const c = this.take();
    const bytes = typeof c === 'string' ? new TextEncoder().encode(c) : c;
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }
  async blob(): Promise<Blob> {
    return new Blob([await this.arrayBuffer()], { type: this.headers.get('content-type') ?? '' });
  }
  get body(): ReadableStream<Uint8Array> | null {
    return this.content === undefined ? null : (new Response(this.content as string).body as ReadableStream<Uint8Array>);
  }
  clone(): LocalResponse {
    const h: Record<string, string> = {};
    this.headers.forEach((v, k) => (h[k] = v));
    return new LocalResponse(this.status, this.content, h, this.url);
  }
}

/** A run's trace ID, or where it will be once the run has come (a client made ahead of its run). */
export type TraceId = string | { id: string };

/** The W3C traceparent header of a trace ID. */
function traceparentOf(traceId: string): string {
  return `00-${traceId.replace(/-/g, '').padEnd(32, '0').slice(0, 32)}-${'0'.repeat(15)}1-01`;
}

/** `fetch` for URLs under the local server's base URL: each request goes to the host. */
export function makeLocalFetch(hostFetch: HostFetch, trace: TraceId, realFetch?: typeof fetch, lite = false): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const traceId = typeof trace === 'string' ? trace : trace.id;
    const req = input instanceof Request ? input : undefined;
    const url = req ? req.url : String(input);
    if (!url.startsWith(LOCAL_BASE_URL)) {
      if (!realFetch) throw new TypeError(`fetch is not available: ${url}`);
      return realFetch(input as string, init);
    }
    const headers: Record<string, string> = {};
    const given = init?.headers ?? req?.headers;
    if (given && Object.getPrototypeOf(given) === Object.prototype) {
      // A plain object, as MedplumClient passes: no Headers object needed.
      for (const [k, v] of Object.entries(given as Record<string, string>)) if (v !== undefined) headers[k.toLowerCase()] = String(v);
    } else new Headers(given).forEach((v, k) => (headers[k] = v));
    headers['x-trace-id'] ??= traceId;
    headers.traceparent ??= traceparentOf(traceId);
    const rawBody = init?.body ?? (req && req.body ? await req.arrayBuffer() : undefined);
    let body: string | Uint8Array | undefined;
    if (typeof rawBody === 'string') body = rawBody;
    else if (rawBody !== undefined && rawBody !== null) {
      const r = new Response(rawBody as ConstructorParameters<typeof Response>[0]);
      if (!headers['content-type'] && r.headers.get('content-type')) headers['content-type'] = r.headers.get('content-type')!;
      body = new Uint8Array(await r.arrayBuffer());
    }
    const method = (init?.method ?? req?.method ?? 'GET').toUpperCase();
    const res = await hostFetch({ method, url, headers, body });
    const status = res.status;
    const noBody = status === 204 || status === 304 || method === 'HEAD';
    if (lite) return new LocalResponse(status, noBody ? undefined : res.body, res.headers, url) as unknown as Response;
    return new Response(noBody ? null : (res.body ?? null), { status, headers: res.headers });
  }) as typeof fetch;
}

type ClientClass = new (opts: ConstructorParameters<Core['MedplumClient']>[0]) => InstanceType<Core['MedplumClient']>;
let clientClass: ClientClass | undefined;

/** MedplumClient, with the methods that have no local meaning failing clearly. */
export function localClientClass(core: Core): ClientClass {
  if (clientClass) return clientClass;
  class LocalMedplumClient extends core.MedplumClient {}
  for (const name of UNAVAILABLE_METHODS) {
    Object.defineProperty(LocalMedplumClient.prototype, name, {
      configurable: true,
      writable: true,
      value() {
        return Promise.reject(
          new core.OperationOutcomeError({
            resourceType: 'OperationOutcome',
            issue: [{ severity: 'error', code: 'not-supported', details: { text: `${name} is not available when bots run locally` } }],
          }),
        );
      },
    });
  }
  // createBinary/createAttachment with onProgress upload through XMLHttpRequest in the browser: here, a plain POST.
  Object.defineProperty(LocalMedplumClient.prototype, 'uploadwithProgress', {
    configurable: true,
    writable: true,
    async value(this: InstanceType<Core['MedplumClient']>, url: URL, data: unknown, contentType: string, onProgress: (e: { loaded: number; total: number; lengthComputable: boolean }) => void, options?: object) {
      const result = await this.post(url, data, contentType, options as never);
      onProgress({ loaded: 1, total: 1, lengthComputable: true });
      return result;
    },
  });
  clientClass = LocalMedplumClient as unknown as ClientClass;
  return clientClass;
}

/**
 * The client a bot gets, as Medplum's vmcontext makes it: base URL, default headers, fetch, an
 * access token. Made ahead of its run (building one costs ~0.2–0.7 ms), its trace ID is a holder
 * filled when the run comes, and `startLocalClient` then gives it its token.
 */
export function createLocalClient(core: Core, hostFetch: HostFetch, opts: { traceId: TraceId; defaultHeaders?: Record<string, string> }): InstanceType<Core['MedplumClient']> {
  const Client = localClientClass(core);
  const client = new Client({
    baseUrl: LOCAL_BASE_URL,
    defaultHeaders: opts.defaultHeaders,
    fetch: makeLocalFetch(hostFetch, opts.traceId, undefined, true),
    cacheTime: 0,
    verbose: false,
  } as never);
  if (typeof opts.traceId === 'string') startLocalClient(client, opts.traceId);
  return client;
}

/** Gives a client made ahead of its run the run's access token. */
export function startLocalClient(client: InstanceType<Core['MedplumClient']>, traceId: string): void {
  client.setAccessToken(`local-bot-run.${traceId}`);
}
