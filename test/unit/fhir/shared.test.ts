// Resources shared by processes (two VS Code windows and the CLI): each process keeps its own
// index of the one log; writes that depend on the current version are decided under the store's
// lock, so no update is lost and a stale If-Match gets 412 even when another process made the
// newer version. Real child processes, a real log file.
import '../../../src/core/fhir/globals';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { MedplumClient } from '@medplum/core';
import type { Basic } from '@medplum/fhirtypes';
import { createLocalClient } from '../../../src/core/fhir/client';
import { loadCore } from '../../../src/core/fhir/platform';
import { LocalFhirServer } from '../../../src/core/fhir/server';
import { AuditStore } from '../../../src/core/store';

const COUNTER = path.join(__dirname, '..', '..', 'fixtures', 'fhir', 'counter.js');

function runCounter(cfg: { file: string; id: string; count: number; user: string }): Promise<{ updates: number; conflicts: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [COUNTER, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c) => (out += String(c)));
    p.stderr.on('data', (c) => (err += String(c)));
    p.on('exit', (code) => {
      const m = /done (\d+) (\d+)/.exec(out);
      if (code !== 0 || !m) reject(new Error(`counter exited ${code}: ${err}`));
      else resolve({ updates: Number(m[1]), conflicts: Number(m[2]) });
    });
  });
}

describe('fhir: resources shared by processes', function () {
  this.timeout(120_000);
  let dir: string;
  let file: string;
  let store: AuditStore;
  let server: LocalFhirServer;
  let client: MedplumClient;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-shared-'));
    file = path.join(dir, 'audit.db');
    store = await AuditStore.open(file, { watch: false });
    server = new LocalFhirServer({ log: store });
    const ctx = { user: 'Bot/here', traceId: 'here' };
    client = createLocalClient(loadCore(), (req) => server.handle(req, ctx), { traceId: 'here' }) as unknown as MedplumClient;
  });
  afterEach(async () => {
    await server.flush().catch(() => undefined);
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a stale If-Match gets 412 when another process made the newer version', async () => {
    const b = await client.createResource<Basic>({ resourceType: 'Basic', code: { text: '0' } });
    await server.flush();
    // Another process adds 1 (it reads the current version first, so its If-Match is fresh).
    assert.deepEqual(await runCounter({ file, id: b.id!, count: 1, user: 'other' }), { updates: 1, conflicts: 0 });
    // Our copy is now stale: the write is refused, not applied over the other's.
    await assert.rejects(
      client.updateResource({ ...b, code: { text: 'stale' } }, { headers: { 'If-Match': `W/"${b.meta!.versionId}"` } }),
      (e: { outcome?: { id?: string } }) => e.outcome?.id === 'precondition-failed',
    );
    const now = await client.readResource('Basic', b.id!);
    assert.equal((now as Basic).code?.text, '1');
  });

  it('three processes add 1 to one counter 40 times each with If-Match: no update is lost, and the versions form one chain', async () => {
    const b = await client.createResource<Basic>({ resourceType: 'Basic', code: { text: '0' } });
    await server.flush();
    const results = await Promise.all(['a', 'b', 'c'].map((user) => runCounter({ file, id: b.id!, count: 40, user })));
    assert.deepEqual(results.map((r) => r.updates), [40, 40, 40]);
    const final = (await client.readResource('Basic', b.id!)) as Basic;
    assert.equal(final.code?.text, '120');
    const updates = store.history('Basic', b.id!).filter((e) => e.action === 'UPDATED');
    assert.equal(updates.length, 120);
    for (const u of updates) {
      const before = Number((u.before as Basic).code?.text);
      assert.equal(Number((u.after as Basic).code?.text), before + 1, `entry ${u.id} follows the version before it`);
    }
    assert.equal(store.verify().ok, true);
  });

  it('another process’s changes are seen here without reopening', async () => {
    const b = await client.createResource<Basic>({ resourceType: 'Basic', code: { text: '0' } });
    await server.flush();
    await runCounter({ file, id: b.id!, count: 3, user: 'other' });
    assert.equal(((await client.readResource('Basic', b.id!)) as Basic).code?.text, '3');
    const found = await client.searchResources('Basic', { _id: b.id! });
    assert.equal(found[0]?.code?.text, '3');
  });
});
