// Bots run through the real runner (pooled worker threads) with the real MedplumClient, answered
// by the host's LocalFhirServer over a real AuditStore file: the bot's world (globals, event),
// every change audited, executeBot as a child run, and the Node-version line.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openRunner, type BotRunner } from '../../../src/core/runner';
import type { FhirHost } from '../../../src/core/fhir/host';
import { LOCAL_BASE_URL } from '../../../src/core/fhir/platform';
import { AuditStore } from '../../../src/core/store';
import { makeWorkspace, removeWorkspace, repoRoot } from '../runner/helpers';

const DIST = path.join(repoRoot(), 'dist');

describe('fhir: bots run with a real MedplumClient; every change is audited', function () {
  this.timeout(60_000);
  let dir: string;
  let store: AuditStore;
  let runner: BotRunner;
  let fhir: FhirHost;
  let root: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-runs-'));
    root = makeWorkspace({
      'bots/clinic.ts': `
        export async function handler(medplum: any, event: any) {
          const a = await medplum.createResource({ resourceType: 'Patient', name: [{ family: 'Lovelace', given: ['Ada'] }], birthDate: '1815-12-10', identifier: [{ system: 'mrn', value: event.traceId }] });
          const g = await medplum.createResource({ resourceType: 'Patient', name: [{ family: 'Hopper', given: ['Grace'] }], birthDate: '1906-12-09' });
          for (const [d, code] of [['2021-01-01', '8302-2'], ['2023-05-01', '8867-4'], ['2022-03-01', '8302-2']]) {
            await medplum.createResource({ resourceType: 'Observation', status: 'final', subject: { reference: 'Patient/' + a.id }, code: { coding: [{ system: 'http://loinc.org', code }] }, effectiveDateTime: d });
          }
          const heights = await medplum.searchResources('Observation', { subject: 'Patient/' + a.id, code: 'http://loinc.org|8302-2', _sort: '-date' });
          const bundle = await medplum.search('Observation', 'date=gt2021-06-01&_count=1&_total=accurate&subject=Patient/' + a.id);
          const one = await medplum.searchOne('Patient', { _id: g.id, name: 'hopper' });
          const again = await medplum.createResourceIfNoneExist({ resourceType: 'Patient', identifier: [{ system: 'mrn', value: event.traceId }] }, 'identifier=mrn|' + event.traceId);
          const patched = await medplum.patchResource('Patient', g.id, [{ op: 'add', path: '/gender', value: 'female' }]);
          let status = 0;
          try { await medplum.readResource('Patient', 'does-not-exist'); } catch (e: any) { status = e.outcome?.id === 'not-found' ? 404 : -1; }
          await medplum.deleteResource('Patient', g.id);
          return { heights: heights.map((o: any) => o.effectiveDateTime), total: bundle.total, page: bundle.entry.length, one: one?.id === g.id, sameA: again.id === a.id, gender: patched.gender, status };
        }`,
      'bots/world.ts': `
        export async function handler(medplum: any, event: any) {
          const names = ['fetch', 'Headers', 'Request', 'Response', 'URL', 'URLSearchParams', 'TextEncoder', 'TextDecoder', 'TextEncoderStream', 'TextDecoderStream',
            'ReadableStream', 'WritableStream', 'TransformStream', 'WebSocket', 'ContentType', 'Hl7Message', 'MedplumClient', 'require'];
          const missing = names.filter((n) => typeof (globalThis as any)[n] === 'undefined');
          const me = await medplum.readReference(event.requester);
          const viaFetch = await (await fetch(event.baseUrl + 'fhir/R4/' + event.requester.reference)).json();
          return { missing, isClient: medplum instanceof (globalThis as any).MedplumClient, bot: event.bot, requester: event.requester, profileType: me.resourceType,
            viaFetch: viaFetch.id === me.id, baseUrl: event.baseUrl, traceId: event.traceId, contentType: event.contentType, hasSecrets: typeof event.secrets, headers: typeof event.headers, defaultHeaders: typeof event.defaultHeaders };
        }`,
      'bots/parent.ts': `
        export async function handler(medplum: any) {
          const r = await medplum.executeBot('child', { n: 2 }, 'application/json');
          const byIdentifier = await medplum.executeBot({ system: 'urn:bots', value: 'the-child' }, { n: 5 }, 'application/json');
          let failed = '';
          try { await medplum.executeBot('no-such-bot', {}, 'application/json'); } catch (e: any) { failed = e.message; }
          return { r, byIdentifier, failed };
        }`,
      'bots/child.ts': `
        export async function handler(medplum: any, event: any) {
          await medplum.createResource({ resourceType: 'Basic', code: { text: 'from child' } });
          return { doubled: event.input.n * 2 };
        }`,
      'bots/mailer.ts': `
        export async function handler(medplum: any) {
          await medplum.sendEmail({ to: 'a@example.com', subject: 'Reminder', text: 'See you' });
          return 'sent';
        }`,
      'bots/pdf.ts': `export async function handler(medplum: any) { return medplum.createPdf({ docDefinition: { content: ['x'] } }); }`,
      'bots/busy.ts': `export async function handler(medplum: any) { for (;;) await medplum.createResource({ resourceType: 'Basic', code: { text: 'busy' } }); }`,
      'bots/secret-writer.ts': `
        export async function handler(medplum: any, event: any) {
          return medplum.createResource({ resourceType: 'Basic', code: { text: 'key ' + event.secrets.TOKEN.valueString } });
        }`,
      '.env': 'TOKEN=tok-9f8e7d6c5b\n',
      'bot-audit.json': JSON.stringify({ bots: { 'bots/child.ts': { identifier: 'urn:bots|the-child' } } }),
    });
    store = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false });
    ({ runner, fhir } = openRunner({ store, distDir: DIST, dataDir: dir, user: 'dev@example.com' }));
  });
  after(async () => {
    runner?.dispose();
    await fhir?.flush().catch(() => undefined);
    await store?.close();
    fs.rmSync(dir, { recursive: true, force: true });
    removeWorkspace(root);
  });

  it('create, search (reference, token, date, sort, count), searchOne, conditional create, patch, 404, delete', async () => {
    const r = await runner.run({ root, bot: { path: 'bots/clinic.ts' } });
    assert.equal(r.outcome, 0, r.outcomeDesc);
    assert.deepEqual(JSON.parse(r.returnValue!), { heights: ['2022-03-01', '2021-01-01'], total: 2, page: 1, one: true, sameA: true, gender: 'female', status: 404 });
  });

  it('the change entries: user Bot/<name>, entity = resource, snapshots, the run’s trace ID and onBehalfOf, before the EXECUTED entry', async () => {
    const r = await runner.run({ root, bot: { path: 'bots/clinic.ts' } });
    assert.equal(r.outcome, 0, r.outcomeDesc);
    const changes = store.byTrace(r.traceId).filter((e) => e.action !== 'EXECUTED');
    assert.deepEqual(changes.map((c) => c.action), ['CREATED', 'CREATED', 'CREATED', 'CREATED', 'CREATED', 'UPDATED', 'DELETED']);
    for (const c of changes) {
      assert.deepEqual([c.user, c.bot, c.onBehalfOf], ['Bot/clinic', 'clinic', 'dev@example.com']);
      assert.ok(c.id < r.entryId!, 'changes are in the log before the run');
    }
    const deleted = changes.find((c) => c.action === 'DELETED')!;
    assert.equal((deleted.before as { gender?: string }).gender, 'female');
  });

  it('the bot’s world matches Medplum’s vmcontext: globals, a real MedplumClient, and the event', async () => {
    const r = await runner.run({ root, bot: { path: 'bots/world.ts' } });
    assert.equal(r.outcome, 0, r.outcomeDesc);
    const v = JSON.parse(r.returnValue!);
    assert.deepEqual(v.missing, []);
    assert.equal(v.isClient, true);
    assert.match(v.bot.reference, /^Bot\/[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(v.bot.display, 'world');
    assert.match(v.requester.reference, /^Practitioner\//);
    assert.equal(v.profileType, 'Practitioner', 'the requester exists in the local store');
    assert.equal(v.viaFetch, true, 'global fetch reaches the local server at event.baseUrl');
    assert.equal(v.baseUrl, LOCAL_BASE_URL);
    assert.equal(v.traceId, r.traceId);
    assert.deepEqual([v.hasSecrets, v.headers, v.defaultHeaders], ['object', 'object', 'object']);
    const again = await runner.run({ root, bot: { path: 'bots/world.ts' } });
    assert.equal(JSON.parse(again.returnValue!).bot.reference, v.bot.reference, 'a stable id per bot');
  });

  it('executeBot runs the named local bot as a child run, recorded and linked by trace ID', async () => {
    const r = await runner.run({ root, bot: { path: 'bots/parent.ts' } });
    assert.equal(r.outcome, 0, r.outcomeDesc);
    const v = JSON.parse(r.returnValue!);
    assert.deepEqual(v.r, { doubled: 4 });
    assert.deepEqual(v.byIdentifier, { doubled: 10 });
    assert.match(v.failed, /no-such-bot/);
    const runs = store.byTrace(r.traceId).filter((e) => e.action === 'EXECUTED');
    assert.deepEqual(runs.map((e) => e.bot), ['child', 'child', 'parent']);
    assert.ok(store.byTrace(r.traceId).some((e) => e.action === 'CREATED' && e.bot === 'child'));
  });

  it('sendEmail is captured: in the run’s output and its own entry', async () => {
    const r = await runner.run({ root, bot: { path: 'bots/mailer.ts' } });
    assert.equal(r.outcome, 0, r.outcomeDesc);
    assert.match(r.output, /sendEmail captured, not sent: to a@example\.com; subject: Reminder/);
    assert.ok(store.byTrace(r.traceId).some((e) => e.entityName === 'Email' && (e.after as { text?: string }).text === 'See you'));
  });

  it('createPdf fails with an OperationOutcome that names it, as a client error', async () => {
    const r = await runner.run({ root, bot: { path: 'bots/pdf.ts' } });
    assert.equal(r.outcome, 4, r.outcomeDesc);
    assert.match(r.outcomeDesc, /createPdf is not available when bots run locally/);
    assert.doesNotMatch(r.outcomeDesc, /TypeError/);
  });

  it('secrets are masked in change snapshots', async () => {
    const r = await runner.run({ root, bot: { path: 'bots/secret-writer.ts' } });
    assert.equal(r.outcome, 0, r.outcomeDesc);
    const created = store.byTrace(r.traceId).find((e) => e.action === 'CREATED')!;
    assert.doesNotMatch(JSON.stringify(created.after), /tok-9f8e7d6c5b/);
  });

  it('a bot busy with Medplum calls still stops at its timeout; what it made is durable and nothing more comes', async () => {
    const r = await runner.run({ root, bot: { path: 'bots/busy.ts' }, settings: { timeout: 0.5 } });
    assert.deepEqual([r.outcome, r.failureKind], [8, 'timeout']);
    const n = store.byTrace(r.traceId).filter((e) => e.action === 'CREATED').length;
    assert.ok(n > 10, `${n} created before the timeout`);
    await new Promise((res) => setTimeout(res, 300));
    await fhir.flush();
    assert.equal(store.byTrace(r.traceId).filter((e) => e.action === 'CREATED').length, n);
  });
});

describe('fhir: the server on a thread of its own (as in the extension host)', function () {
  this.timeout(60_000);
  it('answers the bot, captures its email into its output, runs its child bot, and writes to the same log', async () => {
    const root = makeWorkspace({
      'bots/parent.ts': `
        export async function handler(medplum: any) {
          const p = await medplum.createResource({ resourceType: 'Patient', name: [{ family: 'Threaded' }] });
          await medplum.sendEmail({ to: 'x@example.com', subject: 'Threaded', text: 'hi' });
          const child = await medplum.executeBot('child', { id: p.id }, 'application/json');
          return { id: p.id, child };
        }`,
      'bots/child.ts': `export async function handler(medplum: any, event: any) { return (await medplum.readResource('Patient', event.input.id)).name[0].family; }`,
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-thread-'));
    const file = path.join(dir, 'audit.db');
    const store = await AuditStore.open(file, { watch: false });
    const { runner, fhir } = openRunner({ store, distDir: DIST, dataDir: dir, user: 'dev@example.com', serverThread: { logFile: file } });
    try {
      const r = await runner.run({ root, bot: { path: 'bots/parent.ts' } });
      assert.equal(r.outcome, 0, r.outcomeDesc);
      const v = JSON.parse(r.returnValue!);
      assert.equal(v.child, 'Threaded');
      assert.match(r.output, /sendEmail captured, not sent: to x@example\.com; subject: Threaded/);
      const entries = store.byTrace(r.traceId);
      assert.deepEqual(
        entries.filter((e) => e.entityName === 'Patient').map((e) => [e.action, e.entityId, e.user]),
        [['CREATED', v.id, 'Bot/parent']],
      );
      assert.deepEqual(entries.filter((e) => e.action === 'EXECUTED').map((e) => e.bot), ['child', 'parent']);
      assert.equal(store.verify().ok, true);
    } finally {
      runner.dispose();
      await fhir.close();
      await store.close();
      removeWorkspace(root);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('fhir: a bot whose @medplum/core needs a newer Node', function () {
  this.timeout(60_000);
  it('fails to load with one plain line: the versions, and what to do', async () => {
    const root = makeWorkspace({
      'node_modules/@medplum/core/package.json': JSON.stringify({ name: '@medplum/core', version: '99.1.0', main: 'index.js', engines: { node: '>=99.0.0' } }),
      'node_modules/@medplum/core/index.js': 'exports.createReference = (r) => ({ reference: r.resourceType + "/" + r.id });\n',
      'bots/new.ts': `import { createReference } from '@medplum/core';\nexport async function handler() { return createReference({ resourceType: 'Patient', id: '1' }); }\n`,
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-node-'));
    const store = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false });
    const { runner } = openRunner({ store, distDir: DIST, dataDir: dir, user: 'u' });
    try {
      const r = await runner.run({ root, bot: { path: 'bots/new.ts' } });
      assert.deepEqual([r.outcome, r.failureKind], [12, 'load']);
      assert.equal(r.message!.split('\n').length, 1);
      assert.match(r.message!, /@medplum\/core 99\.1\.0 needs Node >=99\.0\.0, but this bot runs on Node \d+\.\d+\.\d+: run it with Node 99\.0\.0 or newer/);
    } finally {
      runner.dispose();
      await store.close();
      removeWorkspace(root);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
