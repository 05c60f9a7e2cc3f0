// The local FHIR server, request by request, through a real MedplumClient (@medplum/core 5)
// whose fetch is answered by LocalFhirServer over a real AuditStore file. Where the answer is
// not obvious, the Medplum source that defines it is named.
import '../../../src/core/fhir/globals';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { MedplumClient } from '@medplum/core';
import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';
import { createLocalClient } from '../../../src/core/fhir/client';
import { loadCore, LOCAL_BASE_URL } from '../../../src/core/fhir/platform';
import { LocalFhirServer, type RequestContext } from '../../../src/core/fhir/server';
import { AuditStore } from '../../../src/core/store';

interface Setup {
  dir: string;
  store: AuditStore;
  server: LocalFhirServer;
  client: MedplumClient;
  ctx: RequestContext;
  lines: string[];
}

async function setUp(dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-fhir-'))): Promise<Setup> {
  const store = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false });
  const server = new LocalFhirServer({ log: store, binaryDir: path.join(dir, 'binary') });
  const lines: string[] = [];
  const ctx: RequestContext = {
    user: 'Bot/tester',
    bot: 'tester',
    onBehalfOf: 'dev@example.com',
    traceId: 'trace-1',
    log: (_level, text) => lines.push(text),
  };
  const client = createLocalClient(loadCore(), (req) => server.handle(req, ctx), { traceId: 'trace-1' }) as unknown as MedplumClient;
  return { dir, store, server, client, ctx, lines };
}

async function tearDown(s: Setup): Promise<void> {
  await s.server.flush().catch(() => undefined);
  await s.store.close();
  fs.rmSync(s.dir, { recursive: true, force: true });
}

/** The status of what a client call threw. */
async function statusOf(p: Promise<unknown>): Promise<{ status: number; text: string }> {
  try {
    await p;
  } catch (e) {
    const outcome = (e as { outcome?: { issue?: { details?: { text?: string } }[] } }).outcome;
    const core = loadCore();
    return { status: outcome ? core.getStatus(outcome as never) : -1, text: outcome?.issue?.[0]?.details?.text ?? (e as Error).message };
  }
  assert.fail('expected the call to fail');
}

describe('fhir: the local server through a real MedplumClient', function () {
  this.timeout(30_000);
  let s: Setup;
  beforeEach(async () => (s = await setUp()));
  afterEach(async () => tearDown(s));

  it('creates, reads, updates, patches and deletes; each change one entry with its snapshots, trace ID and onBehalfOf', async () => {
    const p = await s.client.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Lovelace' }] });
    assert.match(p.id!, /^[0-9a-f-]{36}$/);
    assert.equal(p.meta?.author?.reference, 'Bot/tester');
    assert.deepEqual(await s.client.readResource('Patient', p.id!), p);
    assert.deepEqual(await s.client.readReference({ reference: `Patient/${p.id}` }), p);
    const u = await s.client.updateResource<Patient>({ ...p, active: true });
    assert.notEqual(u.meta?.versionId, p.meta?.versionId);
    const patched = await s.client.patchResource('Patient', p.id!, [{ op: 'add', path: '/gender', value: 'female' }]);
    assert.equal(patched.gender, 'female');
    await s.client.deleteResource('Patient', p.id!);
    // Medplum answers a read of a deleted resource with 410 Gone (packages/server/src/fhir/repo.ts, readResource).
    assert.equal((await statusOf(s.client.readResource('Patient', p.id!))).status, 410);
    await s.server.flush();
    const entries = s.store.history('Patient', p.id!);
    assert.deepEqual(
      entries.map((e) => e.action),
      ['CREATED', 'UPDATED', 'UPDATED', 'DELETED'],
    );
    for (const e of entries) {
      assert.equal(e.user, 'Bot/tester');
      assert.equal(e.traceId, 'trace-1');
      assert.equal(e.onBehalfOf, 'dev@example.com');
    }
    assert.equal((entries[1].before as Patient).active, undefined);
    assert.equal((entries[1].after as Patient).active, true);
    assert.equal((entries[3].before as Patient).gender, 'female');
    assert.equal(entries[3].after, undefined);
  });

  it('a resource the log cannot keep is refused on its own (too deep: 400, too large: 413); the other changes of the batch stay', async () => {
    const ok = await s.client.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Kept' }] });
    let deep: Record<string, unknown> = { v: 1 };
    for (let i = 0; i < 300; i++) deep = { extension: [deep] };
    const tooDeep = await statusOf(s.client.createResource({ resourceType: 'Basic', ...deep } as never));
    assert.equal(tooDeep.status, 400);
    assert.match(tooDeep.text, /nests deeper than 256/);
    const coding = Array.from({ length: 20_000 }, (_, i) => ({ system: 'urn:x', code: `${'x'.repeat(40)}${i}` }));
    const big = await statusOf(s.client.createResource({ resourceType: 'Basic', code: { coding } } as never));
    assert.equal(big.status, 413);
    await s.server.flush();
    assert.equal(s.store.history('Patient', ok.id!).length, 1);
    assert.equal(s.store.verify().ok, true);
  });

  it('validates each write against its StructureDefinition, as a Medplum server does: a 400 that says where', async () => {
    const bad: [unknown, RegExp][] = [
      [{ resourceType: 'Patient', birthDate: 'not-a-date' }, /Invalid date format/],
      [{ resourceType: 'Patient', foo: 1 }, /Invalid additional property "foo"/],
      [{ resourceType: 'Observation', code: { text: 'x' } }, /Missing required property/],
      [{ resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value: '7' } }, /expected number/],
    ];
    for (const [r, re] of bad) {
      const e = await statusOf(s.client.createResource(r as never));
      assert.equal(e.status, 400, JSON.stringify(r));
      assert.match(e.text, re);
    }
    const p = await s.client.createResource<Patient>({ resourceType: 'Patient' });
    assert.equal((await statusOf(s.client.updateResource({ ...p, birthDate: '1999-13-45' }))).status, 400);
    await s.server.flush();
    assert.equal(s.store.history('Patient', p.id!).length, 1, 'nothing of the refused writes is in the log');
  });

  it('a missing resource is a 404 that names it', async () => {
    const r = await statusOf(s.client.readResource('Observation', 'abc'));
    assert.equal(r.status, 404);
    assert.match(r.text, /Observation\/abc/);
  });

  it('If-Match: the current version passes, a stale one gets 412 (update, patch, delete)', async () => {
    const p = await s.client.createResource<Patient>({ resourceType: 'Patient', active: false });
    const v1 = p.meta!.versionId!;
    const u = await s.client.updateResource<Patient>({ ...p, active: true }, { headers: { 'If-Match': `W/"${v1}"` } });
    assert.equal(u.active, true);
    assert.equal((await statusOf(s.client.updateResource<Patient>({ ...p, gender: 'male' }, { headers: { 'If-Match': `W/"${v1}"` } }))).status, 412);
    assert.equal((await statusOf(s.client.patchResource('Patient', p.id!, [{ op: 'add', path: '/gender', value: 'male' }], { headers: { 'If-Match': `W/"${v1}"` } }))).status, 412);
    assert.equal((await statusOf(s.client.deleteResource('Patient', p.id!, { headers: { 'If-Match': `W/"${v1}"` } }))).status, 412);
    assert.equal((await s.client.readResource('Patient', p.id!)).active, true);
  });

  it('history and vread come from the audit entries, newest first', async () => {
    const p = await s.client.createResource<Patient>({ resourceType: 'Patient', active: false });
    const u = await s.client.updateResource<Patient>({ ...p, active: true });
    const h = await s.client.readHistory('Patient', p.id!);
    assert.equal(h.type, 'history');
    assert.deepEqual(
      h.entry?.map((e) => e.resource?.meta?.versionId),
      [u.meta?.versionId, p.meta?.versionId],
    );
    const old = await s.client.readVersion('Patient', p.id!, p.meta!.versionId!);
    assert.equal((old as Patient).active, false);
    assert.equal((await statusOf(s.client.readVersion('Patient', p.id!, 'nope'))).status, 404);
  });

  it('resources outlive the process: a new server over the same log file has them, with their history', async () => {
    const p = await s.client.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Kept' }] });
    await s.client.updateResource<Patient>({ ...p, active: true });
    const gone = await s.client.createResource<Patient>({ resourceType: 'Patient' });
    await s.client.deleteResource('Patient', gone.id!);
    await s.server.flush();
    await s.store.close();
    const again = await setUp(s.dir);
    s = again;
    const read = await s.client.readResource('Patient', p.id!);
    assert.equal(read.active, true);
    assert.equal(read.name?.[0]?.family, 'Kept');
    assert.equal((await statusOf(s.client.readResource('Patient', gone.id!))).status, 410);
    assert.equal((await s.client.readHistory('Patient', p.id!)).entry?.length, 2);
  });

  it('conditional create, upsert and conditional delete', async () => {
    const a = await s.client.createResourceIfNoneExist<Patient>({ resourceType: 'Patient', identifier: [{ system: 'urn:x', value: '1' }] }, 'identifier=urn:x|1');
    const b = await s.client.createResourceIfNoneExist<Patient>({ resourceType: 'Patient', identifier: [{ system: 'urn:x', value: '1' }] }, 'identifier=urn:x|1');
    assert.equal(b.id, a.id, 'the second create finds the first');
    const up = await s.client.upsertResource<Patient>({ resourceType: 'Patient', identifier: [{ system: 'urn:x', value: '1' }], active: true }, 'identifier=urn:x|1');
    assert.equal(up.id, a.id);
    assert.equal(up.active, true);
    const fresh = await s.client.upsertResource<Patient>({ resourceType: 'Patient', identifier: [{ system: 'urn:x', value: '2' }] }, { identifier: 'urn:x|2' });
    assert.notEqual(fresh.id, a.id);
    await s.client.delete(s.client.fhirUrl('Patient') + '?identifier=urn:x|2');
    assert.equal((await statusOf(s.client.readResource('Patient', fresh.id!))).status, 410);
  });

  it('a transaction bundle is all or nothing, with urn:uuid references resolved', async () => {
    const ok = await s.client.executeBatch({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:6b1e1d2a-0000-4000-8000-000000000001', request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', name: [{ family: 'Tx' }] } },
        {
          request: { method: 'POST', url: 'Observation' },
          resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:6b1e1d2a-0000-4000-8000-000000000001' } },
        },
      ],
    });
    assert.equal(ok.type, 'transaction-response');
    const obsId = ok.entry?.[1]?.response?.location?.split('/')[1];
    const obs = await s.client.readResource('Observation', obsId!);
    assert.match(obs.subject?.reference ?? '', /^Patient\/[0-9a-f-]{36}$/);

    const before = s.store.size;
    const failed = await statusOf(
      s.client.executeBatch({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', name: [{ family: 'Never' }] } },
          { request: { method: 'PUT', url: 'Patient/x' }, resource: { resourceType: 'Observation' } as never },
        ],
      }),
    );
    assert.ok(failed.status >= 400, `a failing entry fails the transaction (${failed.status})`);
    await s.server.flush();
    assert.equal(s.store.size, before, 'nothing of the failed transaction is in the log');
    assert.equal((await s.client.searchResources('Patient', 'name=Never')).length, 0);
  });

  it('a batch bundle answers each entry on its own', async () => {
    const res = await s.client.executeBatch({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient' } },
        { request: { method: 'GET', url: 'Patient/missing' } },
      ],
    });
    assert.equal(res.entry?.[0]?.response?.status, '201');
    assert.equal(res.entry?.[1]?.response?.status, '404');
  });

  it('answers GraphQL', async () => {
    await s.client.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Graph' }] });
    const r = (await s.client.graphql('{ PatientList(name: "Graph") { name { family } } }')) as { data: { PatientList: { name: { family: string }[] }[] } };
    assert.deepEqual(r.data.PatientList, [{ name: [{ family: 'Graph' }] }]);
  });

  it('keeps Binary content under the data folder; createAttachment and download round-trip', async () => {
    const att = await s.client.createAttachment({ data: 'hello, binary', contentType: 'text/plain', filename: 'hello.txt' });
    assert.equal(att.contentType, 'text/plain');
    assert.ok(att.url?.startsWith(LOCAL_BASE_URL), att.url);
    const blob = await s.client.download(att.url!);
    assert.equal(await blob.text(), 'hello, binary');
    const id = att.url!.split('/').pop()!;
    assert.equal(fs.readFileSync(path.join(s.dir, 'binary', id), 'utf8'), 'hello, binary');
  });

  it('sendEmail is captured: in the run output and in its own entry, never sent', async () => {
    const r = await s.client.sendEmail({ to: 'a@example.com', subject: 'Hi', text: 'Body text' });
    assert.equal(r.resourceType, 'OperationOutcome');
    assert.match(s.lines.join('\n'), /to a@example\.com; subject: Hi\nBody text/);
    const [e] = s.store.latest('entity:Email');
    assert.equal((e.after as { subject: string }).subject, 'Hi');
  });

  it('operations without a local meaning fail with an OperationOutcome that names them', async () => {
    const op = await statusOf(s.client.post(s.client.fhirUrl('Patient', '$match'), { resourceType: 'Parameters' }));
    assert.match(op.text, /\$match is not available when bots run locally/);
    const pdf = await statusOf(s.client.createPdf({ docDefinition: { content: ['x'] } } as never));
    assert.match(pdf.text, /createPdf is not available when bots run locally/);
  });

  it('an unknown search parameter is a 400 that names it, never an empty result', async () => {
    await s.client.createResource<Patient>({ resourceType: 'Patient' });
    const r = await statusOf(s.client.search('Patient', 'nonsense=1'));
    assert.equal(r.status, 400);
    assert.match(r.text, /nonsense/);
  });

  it('pages: a next link while more match, which searchResourcePages follows to the end', async () => {
    for (let i = 0; i < 7; i++) await s.client.createResource<Patient>({ resourceType: 'Patient', name: [{ family: `Page${i}` }] });
    const first = await s.client.search('Patient', { _count: '3', _sort: 'family' });
    assert.ok(first.link?.some((l) => l.relation === 'next'));
    const families: string[] = [];
    for await (const page of s.client.searchResourcePages('Patient', { _count: '3', _sort: 'family' })) families.push(...page.map((p) => p.name?.[0]?.family ?? ''));
    assert.deepEqual(families, Array.from({ length: 7 }, (_, i) => `Page${i}`));
  });

  it('$everything: the patient and the resources of its compartment', async () => {
    const p = await s.client.createResource<Patient>({ resourceType: 'Patient' });
    await s.client.createResource<Observation>({ resourceType: 'Observation', status: 'final', code: { text: 'hr' }, subject: { reference: `Patient/${p.id}` } });
    await s.client.createResource<Observation>({ resourceType: 'Observation', status: 'final', code: { text: 'other' } });
    const b = (await s.client.readPatientEverything(p.id!)) as Bundle;
    assert.deepEqual(b.entry?.map((e) => e.resource?.resourceType).sort(), ['Observation', 'Patient']);
  });
});
