// The local FHIR server on a thread of its own (dist/fhir-server.js), for the extension host: the
// FHIR definitions (about a second to index) and GraphQL's schema (several seconds to build on
// its first query) never hold up the editor's thread. It opens its own AuditStore on the same log
// file; the store's writers' lock and journal make it one more writer, like another window.
import './globals';
import { parentPort } from 'node:worker_threads';
import { SecretMasker } from '../bots/secrets';
import { AuditStore } from '../store';
import { LocalFhirServer, type RequestContext } from './server';
import type { HostToThread, ThreadToHost } from './threadProtocol';

const port = parentPort;
let server: LocalFhirServer | undefined;
let store: AuditStore | undefined;
let opening: Promise<void> | undefined;
let nextCall = 1;
const children = new Map<number, { resolve(v: { status: number; body: unknown; contentType?: string }): void; reject(e: Error): void }>();

const post = (m: ThreadToHost): void => port!.postMessage(m);

async function open(m: Extract<HostToThread, { t: 'open' }>): Promise<void> {
  store = await AuditStore.open(m.file, { watch: false, wasmPath: m.wasmPath });
  server = new LocalFhirServer({ log: store, binaryDir: m.binaryDir, definitionsDir: m.definitionsDir });
}

async function onMessage(m: HostToThread): Promise<void> {
  switch (m.t) {
    case 'open':
      opening = open(m);
      try {
        await opening;
        post({ t: 'reply', id: m.id, ok: true });
      } catch (e) {
        post({ t: 'reply', id: m.id, ok: false, error: (e as Error).message });
      }
      return;
    case 'fetch': {
      await opening;
      const masker = new SecretMasker(m.ctx.secrets);
      const ctx: RequestContext = {
        user: m.ctx.user,
        bot: m.ctx.bot,
        onBehalfOf: m.ctx.onBehalfOf,
        traceId: m.ctx.traceId,
        mask: masker.empty ? undefined : (v) => masker.maskValue(v),
        log: (level, text) => post({ t: 'log', id: m.id, level, text }),
        executeBot: (ref, body, contentType) =>
          new Promise((resolve, reject) => {
            const callId = nextCall++;
            children.set(callId, { resolve, reject });
            post({ t: 'child', id: m.id, callId, ref, body, contentType });
          }),
      };
      try {
        post({ t: 'reply', id: m.id, ok: true, value: await server!.handle(m.req, ctx) });
      } catch (e) {
        post({ t: 'reply', id: m.id, ok: false, error: (e as Error).message });
      }
      return;
    }
    case 'child-result': {
      const c = children.get(m.callId);
      children.delete(m.callId);
      if (!c) return;
      if (m.result) c.resolve(m.result);
      else c.reject(new Error(m.error ?? 'executeBot failed'));
      return;
    }
    case 'flush':
    case 'close':
      try {
        await opening;
        await server?.flush();
        if (m.t === 'close') await store?.close();
        post({ t: 'reply', id: m.id, ok: true });
      } catch (e) {
        post({ t: 'reply', id: m.id, ok: false, error: (e as Error).message });
      }
      return;
  }
}

if (port) port.on('message', (m: HostToThread) => void onMessage(m));
else {
  console.error('fhir-server.js runs as a worker thread of the Bot Audit extension');
  process.exitCode = 2;
}
