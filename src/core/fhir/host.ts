// The runner's MedplumHost over the local FHIR server: answers each bot's `fetch` (one RPC per
// request) with LocalFhirServer, which is loaded on the first request only (it brings
// @medplum/core, @medplum/fhir-router and the FHIR definitions). Also makes sure the run's
// requester is a profile resource in the local store, and records captured emails.
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import type { MedplumCallContext, MedplumHost } from '../runner/runner';
import type { NewEntry } from '../store/types';
import type { LocalFhirServer, RequestContext, WireRequest } from './server';
import type { ResourceLog } from './repository';
import { stableId } from './ids';

export { stableId };

export interface FhirHostOptions {
  /** The audit store (the resources' only durable copy). */
  log: ResourceLog;
  /** `.bot-audit/` of the workspace: Binary content goes in its `binary/` folder. */
  dataDir?: string;
  definitionsDir?: string;
}

export class FhirHost implements MedplumHost {
  private server?: LocalFhirServer;
  private readonly profiles = new Map<string, Promise<void>>();

  constructor(private readonly opts: FhirHostOptions) {}

  /** The server (loaded on first use). */
  get fhir(): LocalFhirServer {
    if (!this.server) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { LocalFhirServer } = require('./server') as typeof import('./server');
      this.server = new LocalFhirServer({
        log: this.opts.log,
        binaryDir: this.opts.dataDir ? path.join(this.opts.dataDir, 'binary') : undefined,
        definitionsDir: this.opts.definitionsDir,
      });
    }
    return this.server;
  }

  async handle(method: string, args: unknown[], ctx: MedplumCallContext): Promise<unknown> {
    if (method !== 'fetch') throw Object.assign(new Error(`Unknown call: ${method}`), { status: 501 });
    // `event.requester` refers to this profile: it exists before the run's first answer.
    await this.ensureProfile(ctx.onBehalfOf).catch((e: Error) => ctx.log?.('warn', `[bot-audit] the requester's profile could not be stored: ${e.message}`));
    return this.fhir.handle(args[0] as WireRequest, this.requestContext(ctx));
  }

  private requestContext(ctx: MedplumCallContext): RequestContext {
    return {
      user: ctx.botUser,
      bot: ctx.botName,
      onBehalfOf: ctx.onBehalfOf,
      traceId: ctx.traceId,
      mask: (v) => ctx.masker.maskValue(v),
      log: ctx.log,
      executeBot: ctx.executeBot,
      recordEmail: async (email) => {
        await this.opts.log.appendWith(() => [
          {
            user: ctx.botUser,
            action: 'CREATED',
            entityName: 'Email',
            entityId: randomUUID(),
            bot: ctx.botName,
            traceId: ctx.traceId,
            onBehalfOf: ctx.onBehalfOf,
            outcomeDesc: 'Captured by sendEmail when the bot ran locally; not sent',
            after: ctx.masker.maskValue(email),
          } satisfies NewEntry,
        ]);
      },
    };
  }

  /**
   * The requester's profile: `Practitioner/<stable id of the user>`, created in the local store
   * (by the user) the first time a bot of that user's makes a request there.
   */
  async ensureProfile(user: string): Promise<{ reference: string; display: string }> {
    const id = stableId('Practitioner', user);
    const ref = { reference: `Practitioner/${id}`, display: user };
    let p = this.profiles.get(user);
    if (!p) {
      p = (async () => {
        const repo = this.fhir.repository({ user });
        repo.state.sync();
        if (repo.state.get('Practitioner', id)) return;
        const telecom = user.includes('@') ? [{ system: 'email' as const, value: user }] : undefined;
        await repo.updateResource({ resourceType: 'Practitioner', id, name: [{ text: user }], ...(telecom ? { telecom } : {}) });
        await repo.state.flush();
      })();
      this.profiles.set(user, p);
      p.catch(() => this.profiles.delete(user));
    }
    await p;
    return ref;
  }

  flush(): Promise<void> {
    return this.server ? this.server.flush() : Promise.resolve();
  }
}

