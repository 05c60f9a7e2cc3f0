// The audit-log page's host side (src/panels/auditLog/pageHost.ts), in Node over a real store:
// what it posts for a query, and when. The integration suite checks the same through the panel.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { AuditStore, type NewEntry } from '../../../src/core/store';
import { LogPageHost, type PageSource } from '../../../src/panels/auditLog/pageHost';
import type { HostNotification, ResultNotification } from '../../../src/panels/protocol';
import { removeDir, T0, tempDir } from '../store/helpers';

describe('audit log page host', function () {
  this.timeout(20_000);
  let dir: string;
  let store: AuditStore;
  let sent: HostNotification[];
  let host: LogPageHost;

  before(async () => {
    dir = tempDir();
    // More than 40 matches is broad for this store (the default is 2,000).
    store = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false, autoCheckpoint: false, broadAbove: 40 });
    const es: NewEntry[] = Array.from({ length: 130 }, (_, i) => ({
      user: i % 13 === 0 ? 'ops@example.com' : 'dev@example.com',
      action: 'UPDATED',
      entityName: 'story',
      entityId: String(i),
      recorded: T0 + i * 1000,
    }));
    await store.appendBatch(es);
  });
  after(async () => {
    await store.close();
    removeDir(dir);
  });
  beforeEach(() => {
    sent = [];
    const source: PageSource = {
      location: 'audit.db',
      open: async (filters, order) => store.window(filters, { order }),
      get: async (id) => store.get(id),
      choices: async () => store.distinct(),
    };
    host = new LogPageHost(source, async (m) => sent.push(m));
  });

  const results = () => sent.filter((m): m is ResultNotification => m.type === 'result');

  it('sends a broad query’s first page before its count, then the count', async () => {
    await host.query(1, 'user:dev@example.com', 'desc', undefined);
    assert.deepEqual(
      sent.map((m) => m.type),
      ['result', 'total'],
    );
    const [r] = results();
    assert.equal(r.counting, true);
    assert.equal(r.first.length, 100);
    assert.equal(r.total, 100, 'until the count comes, the rows in hand');
    assert.equal(r.first[0].id, 130);
    assert.deepEqual(sent[1], { type: 'total', seq: 1, total: 120 });
    // Rows past the first page are there to ask for once the count is in.
    sent.length = 0;
    await host.rows(1, 100, 100);
    assert.equal(sent[0].type === 'rows' && sent[0].rows.length, 20);
  });

  it('counts a narrow query at once', async () => {
    await host.query(2, 'user:ops@example.com', 'desc', undefined);
    assert.deepEqual(
      sent.map((m) => m.type),
      ['result'],
    );
    const [r] = results();
    assert.equal(r.counting, false);
    assert.equal(r.total, 10);
    assert.equal(r.first.length, 10);
  });

  it('counts a broad query first when it restores a selection further down', async () => {
    // Entry 67: 59 of the matches are newer (IDs 68-130 less ops@'s 79, 92, 105 and 118), so its
    // rows are not the first page; and finding it counts only the matches newer than it.
    await host.query(5, 'user:dev@example.com entity:story', 'desc', 67);
    assert.deepEqual(
      sent.map((m) => m.type),
      ['result', 'rows'],
    );
    const [r] = results();
    assert.equal(r.counting, false);
    assert.equal(r.total, 120);
    assert.equal(r.selectedIndex, 59);
    assert.ok(sent[1].type === 'rows' && sent[1].rows.some((row) => row.id === 67));
  });

  it('does not count a result the page has already replaced', async () => {
    const a = host.query(3, 'action:UPDATED', 'desc', undefined);
    const b = host.query(4, 'action:UPDATED', 'asc', undefined);
    await Promise.all([a, b]);
    assert.deepEqual(
      sent.map((m) => [m.type, 'seq' in m ? m.seq : undefined]),
      [
        ['result', 3],
        ['result', 4],
        ['total', 4],
      ],
    );
    assert.equal(sent[2].type === 'total' && sent[2].total, 130);
  });
});
