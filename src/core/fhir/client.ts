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

/** `fetch` for URLs under the local server's base URL: each request goes to the host. */
export function makeLocalFetch(hostFetch: HostFetch, traceId: string, realFetch?: typeof fetch): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const req = input instanceof Request ? input : undefined;
    const url = req ? req.url : String(input);
    if (!url.startsWith(LOCAL_BASE_URL)) {
      if (!realFetch) throw new TypeError(`fetch is not available: ${url}`);
      return realFetch(input as string, init);
    }
    const headers: Record<string, string> = {};
    new Headers(init?.headers ?? req?.headers).forEach((v, k) => (headers[k] = v));
    headers['x-trace-id'] ??= traceId;
    headers.traceparent ??= `00-${traceId.replace(/-/g, '').padEnd(32, '0').slice(0, 32)}-${'0'.repeat(15)}1-01`;
    const rawBody = init?.body ?? (req && req.body ? await req.arrayBuffer() : undefined);
    let body: string | Uint8Array | undefined;
    if (typeof rawBody === 'string') body = rawBody;
    else if (rawBody !== undefined && rawBody !== null) {
      const r = new Response(rawBody as ConstructorParameters<typeof Response>[0]);
      if (!headers['content-type'] && r.headers.get('content-type')) headers['content-type'] = r.headers.get('content-type')!;
      body = new Uint8Array(await r.arrayBuffer());
    }
    const res = await hostFetch({ method: (init?.method ?? req?.method ?? 'GET').toUpperCase(), url, headers, body });
    const status = res.status;
    const noBody = status === 204 || status === 304 || (init?.method ?? req?.method ?? 'GET').toUpperCase() === 'HEAD';
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

/** The client a bot gets, as Medplum's vmcontext makes it: base URL, default headers, fetch, an access token. */
export function createLocalClient(core: Core, hostFetch: HostFetch, opts: { traceId: string; defaultHeaders?: Record<string, string> }): InstanceType<Core['MedplumClient']> {
  const Client = localClientClass(core);
  const client = new Client({
    baseUrl: LOCAL_BASE_URL,
    defaultHeaders: opts.defaultHeaders,
    fetch: makeLocalFetch(hostFetch, opts.traceId),
    cacheTime: 0,
    verbose: false,
  } as never);
  client.setAccessToken(`local-bot-run.${opts.traceId}`);
  return client;
}
