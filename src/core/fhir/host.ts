// The runner's MedplumHost over the local FHIR server: answers each bot's `fetch` (one RPC per
// request). The server runs in this process: on the calling thread (the CLI, tests), or on a
// thread of its own (`thread`, the extension host, so that indexing the FHIR definitions and
// building GraphQL's schema never hold up the editor). Either way it is loaded on the first
// request only.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { MedplumCallContext, MedplumHost } from '../runner/runner';
import type { ResourceLog } from './repository';
import type { LocalFhirServer, RequestContext, WireRequest, WireResponse } from './server';
import type { HostToThread, ThreadToHost } from './threadProtocol';

export interface FhirHostOptions {
  /** The audit store (the resources' only durable copy), for a server on this thread. */
  log: ResourceLog;
  /** `.bot-audit/` of the workspace: Binary content goes in its `binary/` folder. */
  dataDir?: string;
  definitionsDir?: string;
  /** Runs the server on a thread of its own, which opens the log file itself. */
  thread?: { workerPath: string; logFile: string; wasmPath?: string };
}

export class FhirHost implements MedplumHost {
  private server?: LocalFhirServer;
  private worker?: Worker;
  private workerReady?: Promise<void>;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: WireResponse | undefined): void; reject(e: Error): void; ctx?: MedplumCallContext }>();

  constructor(private readonly opts: FhirHostOptions) {}

  private get binaryDir(): string | undefined {
    return this.opts.dataDir ? path.join(this.opts.dataDir, 'binary') : undefined;
  }

  /** The server on this thread (loaded on first use). */
  get fhir(): LocalFhirServer {
    if (!this.server) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { LocalFhirServer } = require('./server') as typeof import('./server');
      this.server = new LocalFhirServer({ log: this.opts.log, binaryDir: this.binaryDir, definitionsDir: this.opts.definitionsDir });
    }
    return this.server;
  }

  async handle(method: string, args: unknown[], ctx: MedplumCallContext): Promise<unknown> {
    if (method !== 'fetch') throw Object.assign(new Error(`Unknown call: ${method}`), { status: 501 });
    const req = args[0] as WireRequest;
    if (!this.opts.thread) return this.fhir.handle(req, requestContext(ctx));
    await this.startWorker();
    return this.call({ t: 'fetch', id: 0, req, ctx: { user: ctx.botUser, bot: ctx.botName, onBehalfOf: ctx.onBehalfOf, traceId: ctx.traceId, secrets: [...ctx.masker.secrets] } }, ctx);
  }

  private startWorker(): Promise<void> {
    const t = this.opts.thread!;
    this.workerReady ??= (async () => {
      const w = new Worker(t.workerPath);
      w.unref();
      this.worker = w;
      w.on('message', (m: ThreadToHost) => this.onMessage(m));
      const fail = (e: Error): void => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
        this.worker = undefined;
        this.workerReady = undefined;
      };
      w.on('error', fail);
      w.on('exit', (code) => fail(new Error(`The local FHIR server's thread ended (exit code ${code})`)));
      await this.call({ t: 'open', id: 0, file: t.logFile, wasmPath: t.wasmPath, binaryDir: this.binaryDir, definitionsDir: this.opts.definitionsDir });
    })();
    return this.workerReady;
  }

  private call(m: Extract<HostToThread, { id: number }>, ctx?: MedplumCallContext): Promise<WireResponse | undefined> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, ctx });
      this.worker!.postMessage({ ...m, id });
    });
  }

  private onMessage(m: ThreadToHost): void {
    const p = this.pending.get(m.id);
    if (m.t === 'reply') {
      this.pending.delete(m.id);
      if (m.ok) p?.resolve(m.value);
      else p?.reject(new Error(m.error ?? 'The local FHIR server failed'));
    } else if (m.t === 'log') {
      p?.ctx?.log?.(m.level, m.text);
    } else if (m.t === 'child') {
      const run = p?.ctx?.executeBot;
      const reply = (r: Extract<HostToThread, { t: 'child-result' }>): void => this.worker?.postMessage(r);
      if (!run) reply({ t: 'child-result', callId: m.callId, error: 'executeBot is not available here' });
      else run(m.ref, m.body, m.contentType).then((result) => reply({ t: 'child-result', callId: m.callId, result }), (e: Error) => reply({ t: 'child-result', callId: m.callId, error: e.message }));
    }
  }

  /** Every change made so far durable. */
  async flush(): Promise<void> {
    if (this.server) await this.server.flush();
    if (this.worker && this.workerReady) {
      await this.workerReady;
      await this.call({ t: 'flush', id: 0 });
    }
  }

  /** Makes every change durable and ends the server's thread. */
  async close(): Promise<void> {
    if (this.server) await this.server.flush();
    const w = this.worker;
    if (w && this.workerReady) {
      try {
        await this.workerReady;
        await this.call({ t: 'close', id: 0 });
      } finally {
        await w.terminate();
      }
    }
  }
}

function requestContext(ctx: MedplumCallContext): RequestContext {
  return {
    user: ctx.botUser,
    bot: ctx.botName,
    onBehalfOf: ctx.onBehalfOf,
    traceId: ctx.traceId,
    mask: ctx.masker.empty ? undefined : (v) => ctx.masker.maskValue(v),
    log: ctx.log,
    executeBot: ctx.executeBot,
  };
}
