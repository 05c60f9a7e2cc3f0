// The local Medplum client: the host's sql.js resource store with audited changes, JSON Patch,
// FHIR search in the worker with @medplum/core, and real bots using it through the runner,
// with their change entries in the real AuditStore.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AuditStore } from '../../../src/core/store';
import { LocalMedplum, applyJsonPatch, runSearch, searchEntries, writeSearchDefinitions, type FhirResource } from '../../../src/core/medplum';
import { BotRunner } from '../../../src/core/runner';
import { MemoryRecorder, WORKER_PATH, makeWorkspace, removeWorkspace, repoRoot } from '../runner/helpers';

const ctx = { user: 'Bot/test', bot: 'test', onBehalfOf: 'dev@example.com', traceId: 'trace-1' };

describe('medplum: LocalMedplum (host side)', () => {
  it('creates with a UUID, versionId and lastUpdated; reads; a missing resource is a 404 like Medplum', async () => {
    const rec = new MemoryRecorder();
    const m = await LocalMedplum.open({ store: rec });
    const p = m.createResource({ resourceType: 'Patient', id: 'ignored', name: [{ family: 'Lovelace' }] }, ctx);
    assert.match(p.id!, /^[0-9a-f-]{36}$/);
    assert.match(p.meta!.versionId!, /^[0-9a-f-]{36}$/);
    assert.ok(!Number.isNaN(Date.parse(p.meta!.lastUpdated!)));
    assert.deepEqual(m.readResource('Patient', p.id!), p);
    assert.throws(() => m.readResource('Patient', 'nope'), (e: { status?: number; outcome?: { issue: { code: string }[] } }) => e.status === 404 && e.outcome?.issue[0].code === 'not-found');
    assert.throws(() => m.createResource({ resourceType: 'not a type' } as FhirResource, ctx), (e: { status?: number }) => e.status === 400);
    await m.flush();
    assert.equal(rec.entries.length, 1);
    const e = rec.entries[0];
    assert.deepEqual([e.action, e.entityName, e.entityId, e.user, e.bot, e.traceId, e.onBehalfOf], ['CREATED', 'Patient', p.id, 'Bot/test', 'test', 'trace-1', 'dev@example.com']);
    assert.equal(e.before, undefined);
    assert.deepEqual(e.after, p);
    await m.close();
  });

  it('updates (new version, before/after), skips an unchanged update, patches, deletes; each change one entry in order', async () => {
    const rec = new MemoryRecorder();
    const m = await LocalMedplum.open({ store: rec });
    const p = m.createResource({ resourceType: 'Patient', active: true }, ctx);
    const u = m.updateResource({ ...p, active: false }, ctx);
    assert.notEqual(u.meta!.versionId, p.meta!.versionId);
    const same = m.updateResource({ ...u }, ctx);
    assert.equal(same.meta!.versionId, u.meta!.versionId, 'no new version for no change');
    const patched = m.patchResource<FhirResource>('Patient', p.id!, [{ op: 'add', path: '/gender', value: 'female' }, { op: 'replace', path: '/active', value: true }], ctx);
    assert.equal(patched.gender, 'female');
    assert.equal(patched.active, true);
    assert.throws(() => m.updateResource({ resourceType: 'Patient', id: 'missing' }, ctx), (e: { status?: number }) => e.status === 404);
    m.deleteResource('Patient', p.id!, ctx);
    assert.throws(() => m.deleteResource('Patient', p.id!, ctx), (e: { status?: number }) => e.status === 404);
    assert.throws(() => m.readResource('Patient', p.id!), (e: { status?: number }) => e.status === 404);
    await m.flush();
    assert.deepEqual(rec.entries.map((e) => e.action), ['CREATED', 'UPDATED', 'UPDATED', 'DELETED']);
    assert.equal((rec.entries[1].before as FhirResource).active, true);
    assert.equal((rec.entries[1].after as FhirResource).active, false);
    assert.equal((rec.entries[3].before as FhirResource).gender, 'female');
    assert.equal(rec.entries[3].after, undefined);
    await m.close();
  });

  it('keeps resources in its own file and opens it again; refuses a file that is not its own', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-res-'));
    try {
      const file = path.join(dir, 'resources.sqlite');
      const m = await LocalMedplum.open({ file });
      const p = m.createResource({ resourceType: 'Patient', active: true }, ctx);
      await m.close();
      const m2 = await LocalMedplum.open({ file });
      assert.equal(m2.readResource('Patient', p.id!).active, true);
      await m2.close();
      const bad = path.join(dir, 'bad.sqlite');
      fs.writeFileSync(bad, 'not a database');
      await assert.rejects(LocalMedplum.open({ file: bad }), new RegExp(bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      assert.equal(fs.readFileSync(bad, 'utf8'), 'not a database');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('medplum: JSON Patch', () => {
  it('add, remove, replace, move, copy, test, array indexes and "-"', () => {
    const doc = { a: 1, list: [1, 2], o: { x: 'y' } };
    const out = applyJsonPatch(doc, [
      { op: 'add', path: '/list/-', value: 3 },
      { op: 'add', path: '/list/0', value: 0 },
      { op: 'remove', path: '/a' },
      { op: 'replace', path: '/o/x', value: 'z' },
      { op: 'copy', from: '/o', path: '/o2' },
      { op: 'move', from: '/o2/x', path: '/moved' },
      { op: 'test', path: '/moved', value: 'z' },
    ]);
    assert.deepEqual(out, { list: [0, 1, 2, 3], o: { x: 'z' }, o2: {}, moved: 'z' });
    assert.deepEqual(doc, { a: 1, list: [1, 2], o: { x: 'y' } }, 'the input is not changed');
    assert.throws(() => applyJsonPatch(doc, [{ op: 'test', path: '/a', value: 2 }]), /Test failed/);
    assert.throws(() => applyJsonPatch(doc, [{ op: 'remove', path: '/nope' }]), /Path not found/);
  });
});

describe('medplum: FHIR search in the worker (parseSearchRequest / matchesSearchRequest)', function () {
  this.timeout(30_000);
  const r = (x: Partial<FhirResource> & { resourceType: string; id: string }): FhirResource => x as FhirResource;
  const obs = [
    r({ resourceType: 'Observation', id: 'o1', subject: { reference: 'Patient/1' }, code: { coding: [{ system: 'http://loinc.org', code: '8302-2' }] }, effectiveDateTime: '2021-01-01' }),
    r({ resourceType: 'Observation', id: 'o2', subject: { reference: 'Patient/1' }, code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, effectiveDateTime: '2023-05-01' }),
    r({ resourceType: 'Observation', id: 'o3', subject: { reference: 'Patient/2' }, code: { coding: [{ system: 'http://loinc.org', code: '8302-2' }] }, effectiveDateTime: '2022-03-01' }),
  ];
  const pats = [
    r({ resourceType: 'Patient', id: '1', name: [{ family: 'Lovelace', given: ['Ada'] }], birthDate: '1815-12-10', identifier: [{ system: 'mrn', value: 'A1' }] }),
    r({ resourceType: 'Patient', id: '2', name: [{ family: 'Hopper', given: ['Grace'] }], birthDate: '1906-12-09' }),
  ];
  const ids = (res: { page: FhirResource[] }): (string | undefined)[] => res.page.map((x) => x.id);

  it('reference, token, date with prefixes, _sort=-date, _count', () => {
    assert.deepEqual(ids(runSearch(obs, 'Observation', { subject: 'Patient/1' })), ['o1', 'o2']);
    assert.deepEqual(ids(runSearch(obs, 'Observation', 'code=http://loinc.org|8302-2')), ['o1', 'o3']);
    assert.deepEqual(ids(runSearch(obs, 'Observation', { date: 'gt2021-06-01', _sort: '-date' })), ['o2', 'o3']);
    assert.deepEqual(ids(runSearch(obs, 'Observation', { _sort: 'date' })), ['o1', 'o3', 'o2']);
    const page = runSearch(obs, 'Observation', { _count: '1', _sort: '-date' });
    assert.deepEqual([ids(page), page.total], [['o2'], 3]);
  });

  it('the text pre-filter over stored JSON never changes a result (searchEntries = runSearch)', () => {
    const all = [
      ...pats,
      r({ resourceType: 'Patient', id: '3', name: [{ family: 'Zoë' }], identifier: [{ system: 'MRN', value: 'a1' }], managingOrganization: { reference: 'http://example.org/fhir/Organization/9' } }),
      r({ resourceType: 'Patient', id: '4', active: true, generalPractitioner: [{ reference: 'Practitioner/7' }] }),
    ];
    const entries = (): { text: string }[] => all.map((x) => ({ text: JSON.stringify(x) }));
    const queries = [
      'identifier=mrn|A1',
      'identifier=A1',
      'identifier=a1',
      'identifier=mrn|',
      'identifier=A1,B2',
      '_id=2,3',
      'organization=Organization/9',
      'organization=9',
      'general-practitioner=Practitioner/7',
      'active=true',
      'name=zoe',
      'name=ZO',
      'birthdate=lt1900-01-01',
      'identifier:not=mrn|A1',
      'family:exact=Hopper',
    ];
    for (const q of queries) {
      const a = ids(runSearch(all, 'Patient', q));
      const b = ids(searchEntries(entries(), 'Patient', q));
      assert.deepEqual(b, a, q);
    }
  });

  it('string (prefix, case-insensitive, over HumanName), identifier, _id, birthdate', () => {
    assert.deepEqual(ids(runSearch(pats, 'Patient', { name: 'love' })), ['1']);
    assert.deepEqual(ids(runSearch(pats, 'Patient', { name: 'grace' })), ['2']);
    assert.deepEqual(ids(runSearch(pats, 'Patient', { identifier: 'mrn|A1' })), ['1']);
    assert.deepEqual(ids(runSearch(pats, 'Patient', { _id: '2' })), ['2']);
    assert.deepEqual(ids(runSearch(pats, 'Patient', { birthdate: 'lt1900-01-01' })), ['1']);
  });
});

describe('medplum: bots read and write through the runner; every change is audited', function () {
  this.timeout(60_000);
  let dir: string;
  let store: AuditStore;
  let medplum: LocalMedplum;
  let runner: BotRunner;
  let root: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-crud-'));
    store = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false });
    medplum = await LocalMedplum.open({ file: path.join(dir, 'resources.sqlite'), store });
    runner = new BotRunner({ workerPath: WORKER_PATH, store, medplum, user: 'dev@example.com' });
    root = makeWorkspace({
      'bots/clinic.ts': `
        export async function handler(medplum: any, event: any) {
          const a = await medplum.createResource({ resourceType: 'Patient', name: [{ family: 'Lovelace', given: ['Ada'] }], birthDate: '1815-12-10', identifier: [{ system: 'mrn', value: 'A1' }] });
          const g = await medplum.createResource({ resourceType: 'Patient', name: [{ family: 'Hopper', given: ['Grace'] }], birthDate: '1906-12-09' });
          for (const [d, code] of [['2021-01-01', '8302-2'], ['2023-05-01', '8867-4'], ['2022-03-01', '8302-2']]) {
            await medplum.createResource({ resourceType: 'Observation', status: 'final', subject: { reference: 'Patient/' + a.id }, code: { coding: [{ system: 'http://loinc.org', code }] }, effectiveDateTime: d });
          }
          const heights = await medplum.searchResources('Observation', { subject: 'Patient/' + a.id, code: 'http://loinc.org|8302-2', _sort: '-date' });
          const bundle = await medplum.search('Observation', 'date=gt2021-06-01&_count=1');
          const one = await medplum.searchOne('Patient', { name: 'hop' });
          const again = await medplum.createResourceIfNoneExist({ resourceType: 'Patient', identifier: [{ system: 'mrn', value: 'A1' }] }, 'identifier=mrn|A1');
          const viaRef = await medplum.readReference({ reference: 'Patient/' + g.id });
          const patched = await medplum.patchResource('Patient', g.id, [{ op: 'add', path: '/gender', value: 'female' }]);
          let status = 0;
          try { await medplum.readResource('Patient', 'does-not-exist'); } catch (e: any) { status = e.status; }
          await medplum.deleteResource('Patient', g.id);
          console.log('token', event.secrets.TOKEN.valueString);
          return {
            heights: heights.map((o: any) => o.effectiveDateTime), total: bundle.total, page: bundle.entry.length, bundleType: bundle.type,
            one: one?.id === g.id, sameA: again.id === a.id, viaRef: viaRef.id === g.id, gender: patched.gender, status,
          };
        }`,
      'bots/secret-writer.ts': `
        export async function handler(medplum: any, event: any) {
          return medplum.createResource({ resourceType: 'Basic', code: { text: 'key ' + event.secrets.TOKEN.valueString } });
        }`,
      '.env': 'TOKEN=tok-9f8e7d6c5b\n',
    });
  });
  after(async () => {
    runner?.dispose();
    await medplum?.close();
    await store?.close();
    fs.rmSync(dir, { recursive: true, force: true });
    removeWorkspace(root);
  });

  it('create, search (reference, token, date, sort, count), searchOne, createResourceIfNoneExist, readReference, patch, 404, delete', async () => {
    const r = await runner.run({ root, bot: { path: 'bots/clinic.ts' } });
    assert.equal(r.outcome, 0, r.outcomeDesc);
    assert.deepEqual(JSON.parse(r.returnValue!), {
      heights: ['2022-03-01', '2021-01-01'],
      total: 2,
      page: 1,
      bundleType: 'searchset',
      one: true,
      sameA: true,
      viaRef: true,
      gender: 'female',
      status: 404,
    });
    assert.equal(medplum.count('Observation') >= 3, true);
  });

  it('the change entries: user Bot/<name>, entity = resource, before/after snapshots, the run’s trace id, before the EXECUTED entry', async () => {
    const r = await runner.run({ root, bot: { path: 'bots/clinic.ts' } });
    assert.equal(r.outcome, 0, r.outcomeDesc);
    const patients = medplum.listResourceTexts('Patient').map((t) => JSON.parse(t) as FhirResource);
    // Grace was deleted: find her entries through the history of every Patient id seen in entries.
    const executed = store.history('Bot', 'bots/clinic.ts').find((e) => e.id === r.entryId)!;
    assert.equal(executed.traceId, r.traceId);
    const ada = patients[patients.length - 1];
    const adaHistory = store.history('Patient', ada.id!);
    assert.equal(adaHistory.length, 1);
    const created = adaHistory[0];
    assert.deepEqual([created.action, created.user, created.bot, created.traceId], ['CREATED', 'Bot/clinic', 'clinic', r.traceId]);
    assert.equal(created.before, undefined);
    assert.deepEqual(created.after, ada);
    assert.ok(created.id < r.entryId!, 'changes are in the log before the run');
  });

  it('patch and delete snapshots: UPDATED with before/after, DELETED with the final snapshot', async () => {
    const rec = new MemoryRecorder();
    const m = await LocalMedplum.open({ store: rec });
    const run2 = new BotRunner({ workerPath: WORKER_PATH, store: rec, medplum: m, user: 'dev@example.com' });
    try {
      const r = await run2.run({ root, bot: { path: 'bots/clinic.ts' } });
      assert.equal(r.outcome, 0, r.outcomeDesc);
      const actions = rec.entries.map((e) => `${e.action} ${e.entityName}`);
      assert.deepEqual(actions, [
        'CREATED Patient',
        'CREATED Patient',
        'CREATED Observation',
        'CREATED Observation',
        'CREATED Observation',
        'UPDATED Patient',
        'DELETED Patient',
        'EXECUTED Bot',
      ]);
      const upd = rec.entries[5];
      assert.equal((upd.before as FhirResource).gender, undefined);
      assert.equal((upd.after as FhirResource).gender, 'female');
      const del = rec.entries[6];
      assert.equal((del.before as FhirResource).gender, 'female');
      assert.equal(del.after, undefined);
      for (const e of rec.entries.slice(0, 7)) {
        assert.equal(e.user, 'Bot/clinic');
        assert.equal(e.onBehalfOf, 'dev@example.com');
        assert.equal(e.traceId, r.traceId);
      }
    } finally {
      run2.dispose();
      await m.close();
    }
  });

  it('secrets are masked in change snapshots (the resource itself keeps what the bot wrote)', async () => {
    const rec = new MemoryRecorder();
    const m = await LocalMedplum.open({ store: rec });
    const run2 = new BotRunner({ workerPath: WORKER_PATH, store: rec, medplum: m, user: 'u' });
    try {
      const r = await run2.run({ root, bot: { path: 'bots/secret-writer.ts' } });
      assert.equal(r.outcome, 0, r.outcomeDesc);
      assert.doesNotMatch(JSON.stringify(rec.entries), /tok-9f8e7d6c5b/);
      assert.equal((rec.entries[0].after as { code: { text: string } }).code.text, 'key ••••••••');
    } finally {
      run2.dispose();
      await m.close();
    }
  });

  it('a bot busy with Medplum calls still stops at its timeout, and the host keeps its data consistent', async () => {
    const ws2 = makeWorkspace({
      'bots/busy.ts': `export async function handler(medplum: any) { for (;;) await medplum.createResource({ resourceType: 'Basic' }); }`,
    });
    const m = await LocalMedplum.open({});
    const run2 = new BotRunner({ workerPath: WORKER_PATH, medplum: m, user: 'u' });
    try {
      const t = Date.now();
      const r = await run2.run({ root: ws2, bot: { path: 'bots/busy.ts' }, settings: { timeout: 0.5 } });
      assert.deepEqual([r.outcome, r.failureKind], [8, 'timeout']);
      assert.ok(Date.now() - t < 3000);
      const n = m.count('Basic');
      assert.ok(n > 10, `${n} created before the timeout`);
      await new Promise((res) => setTimeout(res, 200));
      assert.equal(m.count('Basic'), n, 'nothing more is written after the run ended');
    } finally {
      run2.dispose();
      await m.close();
      removeWorkspace(ws2);
    }
  });

  it('a bot that imports runtime helpers from @medplum/core in its workspace bundles them as usual', async () => {
    const ws2 = makeWorkspace({
      'bots/helpers.ts': `
        import { createReference, getReferenceString } from '@medplum/core';
        export async function handler(medplum: any) {
          const p = await medplum.createResource({ resourceType: 'Patient', name: [{ family: 'Core' }] });
          const obs = await medplum.createResource({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: createReference(p) });
          return { ref: getReferenceString(p), subject: obs.subject.reference === getReferenceString(p) };
        }`,
    });
    // The workspace's node_modules: the packages this repository has installed.
    fs.symlinkSync(path.join(repoRoot(), 'node_modules'), path.join(ws2, 'node_modules'), 'dir');
    const m = await LocalMedplum.open({});
    const run2 = new BotRunner({ workerPath: WORKER_PATH, medplum: m, user: 'u' });
    try {
      const r = await run2.run({ root: ws2, bot: { path: 'bots/helpers.ts' } });
      assert.equal(r.outcome, 0, r.outcomeDesc);
      const v = JSON.parse(r.returnValue!);
      assert.match(v.ref, /^Patient\/[0-9a-f-]{36}$/);
      assert.equal(v.subject, true);
    } finally {
      run2.dispose();
      await m.close();
      removeWorkspace(ws2);
    }
  });

  it('search works from the shipped definitions alone (writeSearchDefinitions: 4 files, ≈ 4 MB)', async () => {
    const defs = path.join(dir, 'fhir');
    writeSearchDefinitions(defs);
    assert.deepEqual(fs.readdirSync(defs).sort(), ['search-parameters-medplum.json', 'search-parameters-uscore.json', 'search-parameters.json', 'search-types.json']);
    const total = fs.readdirSync(defs).reduce((n, f) => n + fs.statSync(path.join(defs, f)).size, 0);
    assert.ok(total < 5 * 1024 * 1024, `${total} bytes`);
    const rec = new MemoryRecorder();
    const m = await LocalMedplum.open({ store: rec });
    const run2 = new BotRunner({ workerPath: WORKER_PATH, medplum: m, user: 'u', definitionsDir: defs });
    try {
      const r = await run2.run({ root, bot: { path: 'bots/clinic.ts' } });
      assert.equal(r.outcome, 0, r.outcomeDesc);
      assert.equal(JSON.parse(r.returnValue!).total, 2);
    } finally {
      run2.dispose();
      await m.close();
    }
  });

  it('the sample bot examples/workspace/bots/records/patient-crud.ts runs unchanged', async function () {
    const ws = path.join(repoRoot(), 'examples', 'workspace');
    const bot = 'bots/records/patient-crud.ts';
    if (!fs.existsSync(path.join(ws, bot))) this.skip();
    const rec = new MemoryRecorder();
    const m = await LocalMedplum.open({ store: rec });
    const run2 = new BotRunner({ workerPath: WORKER_PATH, store: rec, medplum: m, user: 'u' });
    try {
      const r = await run2.run({ root: ws, bot: { path: bot }, inputText: fs.readFileSync(path.join(ws, 'inputs', 'patient-crud.json'), 'utf8') });
      assert.equal(r.outcome, 0, r.outcomeDesc);
      assert.deepEqual(rec.entries.map((e) => e.action), ['CREATED', 'CREATED', 'UPDATED', 'DELETED', 'EXECUTED']);
    } finally {
      run2.dispose();
      await m.close();
    }
  });
});
