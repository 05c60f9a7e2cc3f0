// Where shipping's time goes (issue 19): the client's part (reading and hashing the local log), and
// the server's part for the same rows with parts of the schema taken away one at a time. Ships the
// first N entries (default 30,000) of the cached 1M local log into throwaway durable clusters.
// `node out/bench/team-ship-profile.js [N]`
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AuditStore, SCHEMA_VERSION } from '../src/core/store';
import { canonicalRow } from '../src/core/store/row';
import { initTeamLog, shipToTeam, verifyTeamLog } from '../src/core/team';
import { startCluster } from '../test/unit/team/pg';

const FIXTURE_1M = path.join(process.cwd(), '.cache', 'bench', `store-1m-v${SCHEMA_VERSION}-2`, 'audit.db');
const N = Number(process.argv[2] ?? 30_000);

/** A server process's CPU time so far (user + system), from /proc. */
function serverCpuMs(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

async function main(): Promise<void> {
  const local = await AuditStore.open(FIXTURE_1M, { watch: false, readOnly: true, autoCheckpoint: false });
  // A view of the first N entries.
  const limited = new Proxy(local, {
    get(t, k) {
      if (k === 'size') return N;
      if (k === 'rowsAfter') return (after: number, limit: number) => (after >= N ? [] : t.rowsAfter(after, Math.min(limit, N - after)));
      const v = Reflect.get(t, k, t) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  }) as AuditStore;
  let t = performance.now();
  let bytes = 0;
  for (let after = 0; after < N; ) {
    const rows = local.rowsAfter(after, 500);
    for (const r of rows) bytes += canonicalRow(r).length;
    after = rows[rows.length - 1].id;
  }
  console.log(`client read+canonical ${N}: ${Math.round(performance.now() - t)} ms (avg text ${Math.round(bytes / N)} chars)`);
  const variants = (process.env.VARIANTS ?? 'full').split(',');
  for (const variant of variants) {
    const cluster = await startCluster({ durable: true });
    const client = await cluster.connect();
    try {
      await initTeamLog(client);
      if (variant.includes('nogin')) await client.query('DROP INDEX bot_audit.team_entries_search');
      if (variant.includes('nobtree')) {
        for (const i of ['action', 'user', 'bot', 'entity', 'trace', 'outcome', 'recorded']) await client.query(`DROP INDEX bot_audit.team_entries_${i}`);
      }
      if (variant.includes('nosearch')) await client.query('ALTER TABLE bot_audit.team_entries DROP COLUMN search');
      if (variant.includes('nocols')) {
        await client.query('ALTER TABLE bot_audit.team_entries DROP COLUMN search, DROP COLUMN action, DROP COLUMN user_name, DROP COLUMN bot, DROP COLUMN entity_name, DROP COLUMN entity_id, DROP COLUMN entity_num, DROP COLUMN outcome, DROP COLUMN recorded, DROP COLUMN trace_id');
      }
      const ginLimit = /ginlimit(\d+)/.exec(variant)?.[1];
      if (ginLimit) await client.query(`ALTER INDEX bot_audit.team_entries_search SET (gin_pending_list_limit = ${Number(ginLimit)})`);
      if (variant.includes('pglz')) await client.query('ALTER TABLE bot_audit.team_entries ALTER COLUMN entry_text SET COMPRESSION pglz, ALTER COLUMN entry SET COMPRESSION pglz, ALTER COLUMN search SET COMPRESSION pglz');
      if (variant.includes('tt8k')) await client.query('ALTER TABLE bot_audit.team_entries SET (toast_tuple_target = 8160)');
      if (variant.includes('gin-nofast')) await client.query('ALTER INDEX bot_audit.team_entries_search SET (fastupdate = off)');
      if (variant.includes('asynccommit')) await client.query('SET synchronous_commit = off');
      const batch = /b(\d+)/.exec(variant)?.[1];
      const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      const cpu0 = serverCpuMs(pid);
      const c0 = process.cpuUsage();
      t = performance.now();
      const r = await shipToTeam(limited, client, { batchSize: batch ? Number(batch) : undefined });
      const ms = performance.now() - t;
      const serverCpu = serverCpuMs(pid) - cpu0;
      const c1 = process.cpuUsage(c0);
      const clientCpu = (c1.user + c1.system) / 1000;
      const size = await client.query<{ s: string }>("SELECT pg_size_pretty(pg_total_relation_size('bot_audit.team_entries')) AS s");
      await client.query('VACUUM ANALYZE bot_audit.team_entries');
      const vs: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        await verifyTeamLog(client);
        vs.push(performance.now() - t0);
      }
      const toast = await client.query<{ heap: string; toast: string }>(
        "SELECT pg_size_pretty(pg_relation_size('bot_audit.team_entries')) AS heap, pg_size_pretty(pg_relation_size(reltoastrelid)) AS toast FROM pg_class WHERE oid = 'bot_audit.team_entries'::regclass",
      );
      console.log(`${variant}: verify ${vs.map((v) => Math.round(v)).join(' ')} ms; heap ${toast.rows[0].heap}, toast ${toast.rows[0].toast}`);
      console.log(`${variant}: ${r.shipped} in ${Math.round(ms)} ms = ${Math.round(r.shipped / (ms / 1000))}/s, table ${size.rows[0].s}; server backend CPU ${Math.round((serverCpu / r.shipped) * 1000)} µs/entry, client CPU ${Math.round((clientCpu / r.shipped) * 1000)} µs/entry (load ${os.loadavg()[0].toFixed(1)})`);
    } finally {
      await client.end();
      cluster.stop();
    }
  }
  await local.close();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
