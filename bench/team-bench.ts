// `npm run bench`: the team log benchmark (issue 19). Starts a throwaway PostgreSQL cluster with its
// own durability (fsync and synchronous_commit at their defaults), ships the cached 1M-entry local
// log into it with shipToTeam, measures the lag of a background TeamReplicator on an idle store,
// reads the team log through TeamLogReader (pages, counts, full text), verifies it, runs the same
// pages on the local log for the ratio, prints a table and writes bench/results/teamlog.json.
//
// Needs the 1M local log that bench/run.ts builds and caches (.cache/bench/store-1m-…); it is opened
// read-only. `--batch N`: entries per shipping transaction (default: shipToTeam's). `--reuse`: keep
// the cluster in .cache/bench/ and read the team log shipped there before (shipping only what it
// lacks), to measure the reads and verify alone; such a run prints its figures and writes no results.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { AuditStore, SCHEMA_VERSION } from '../src/core/store';
import { initTeamLog, shipToTeam, TEAM_CHANNEL, TEAM_SCHEMA_VERSION, TeamLogReader, TeamReplicator, verifyTeamLog } from '../src/core/team';
import { startCluster } from '../test/unit/team/pg';
import { entry, RARE_WORD } from './data';
import { printGoalTable } from './table';

type Metrics = Record<string, number>;

const ROOT = process.cwd();
const FIXTURE_1M = path.join(ROOT, '.cache', 'bench', `store-1m-v${SCHEMA_VERSION}-2`, 'audit.db');
const RESULTS = path.join(ROOT, 'bench', 'results', 'teamlog.json');
const REUSE_DIR = path.join(ROOT, '.cache', 'bench', `team-1m-pg-v${SCHEMA_VERSION}-t${TEAM_SCHEMA_VERSION}`);
const LAG_SAMPLES = 50;
const REPS = 5;

const GOALS: Record<string, number | undefined> = {
  ship_entries_per_s: 20_000,
  ship_server_cpu_us_per_entry: undefined,
  ship_lag_p95_ms: 1_000,
  team_page_1m_p50_ms: 10,
  team_next_page_1m_p50_ms: undefined,
  team_count_1m_p50_ms: 100,
  team_count_1m_first_ms: undefined,
  team_fulltext_1m_p50_ms: 50,
  team_fulltext_1m_first_ms: undefined,
  team_verify_1m_ms: 5_000,
  local_page_1m_p50_ms: undefined,
  ratio_team_to_local_page: undefined,
};
/** ship_entries_per_s is a floor; every other goal a ceiling. */
const met = (k: string, v: number, goal: number) => (k === 'ship_entries_per_s' ? v >= goal : v <= goal);

/** The typical first pages of the audit-log page, as query text. */
const PAGES: Record<string, string> = {
  none: '',
  user: 'user:ops@example.com',
  bot: 'bot:hl7-intake',
  entity: 'entity:story',
  action: 'action:UPDATED,DELETED',
  combined: 'action:EXECUTED bot:triage -user:system',
};
const COUNTS: Record<string, string> = { none: '', user: 'user:ops@example.com', bot: 'bot:hl7-intake', action: 'action:UPDATED,DELETED' };
const WORDS = [RARE_WORD, 'invoice', 'practitioner'];

const now = () => performance.now();
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const median = (xs: number[]) => pct(xs, 50);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function timeAsync(fn: () => Promise<unknown>, reps = REPS): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = now();
    await fn();
    out.push(now() - t);
  }
  return out;
}

function log(msg: string): void {
  process.stderr.write(`[team-bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** A process's CPU time so far (user and system), in ms, from /proc/PID/stat (clock ticks of 1/100 s). */
function processCpuMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function loadAvg(): number {
  return round(os.loadavg()[0]);
}

/** Local append → a NOTIFY for it (delivered at commit, so the entry is visible), LAG_SAMPLES times, with a background replicator on an idle store. */
async function measureLag(url: string, listener: Client): Promise<number[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-lag-'));
  const store = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false });
  const end = Date.now();
  await store.appendBatch(Array.from({ length: 10 }, (_, i) => entry(i, 10, end, 7)));
  const replicator = new TeamReplicator(store, { url });
  const waiters: ((payload: string) => void)[] = [];
  listener.on('notification', (n) => waiters.shift()?.(n.payload ?? ''));
  await listener.query(`LISTEN ${TEAM_CHANNEL}`);
  try {
    await replicator.shipNow();
    const lags: number[] = [];
    for (let i = 0; i < LAG_SAMPLES; i++) {
      // Idle between samples, as a replicator between a user's runs.
      await new Promise((r) => setTimeout(r, 200));
      const seen = new Promise<string>((resolve) => waiters.push(resolve));
      const t = now();
      await store.append(entry(10 + i, 10 + LAG_SAMPLES, end, 7));
      await seen;
      lags.push(now() - t);
    }
    return lags;
  } finally {
    await replicator.dispose();
    await listener.end();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const batch = process.argv.includes('--batch') ? Number(process.argv[process.argv.indexOf('--batch') + 1]) : undefined;
  if (!fs.existsSync(FIXTURE_1M)) throw new Error(`no cached 1M local log at ${FIXTURE_1M}: run node out/bench/run.js first (npm run bench does)`);
  const m: Metrics = {};
  const load: Record<string, number> = { start: loadAvg() };
  log(`starting a durable PostgreSQL cluster (load ${load.start})`);
  const reuse = process.argv.includes('--reuse');
  const cluster = await startCluster({ durable: true, keep: reuse ? REUSE_DIR : undefined });
  const local = await AuditStore.open(FIXTURE_1M, { watch: false, readOnly: true, autoCheckpoint: false });
  const client = await cluster.connect();
  try {
    await initTeamLog(client);
    const settings = await client.query<{ name: string; setting: string }>("SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'server_version')");
    log(`server: ${settings.rows.map((r) => `${r.name}=${r.setting}`).join(', ')}`);

    // Shipping: the whole local log, one shipper, each batch a durable commit.
    log(`shipping ${local.size} entries${batch ? ` in batches of ${batch}` : ''}`);
    // CPU time, which the machine's other load changes far less than the wall clock: the server process of
    // the shipper's connection (from /proc: the server is on this machine), and this process.
    const backend = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    const serverCpu0 = processCpuMs(backend);
    const clientCpu0 = process.cpuUsage();
    let t = now();
    let lastLog = t;
    const res = await shipToTeam(local, client, {
      batchSize: batch,
      onBatch: (shipped) => {
        if (now() - lastLog > 15_000) {
          lastLog = now();
          log(`shipped ${shipped} (${Math.round(shipped / ((now() - t) / 1000))}/s)`);
        }
      },
    });
    const shipMs = now() - t;
    m.ship_entries = res.shipped;
    m.ship_entries_per_s = round(res.shipped / (shipMs / 1000), 0);
    const clientCpu = process.cpuUsage(clientCpu0);
    m.ship_server_cpu_us_per_entry = round(((processCpuMs(backend) - serverCpu0) * 1000) / res.shipped, 1);
    m.ship_client_cpu_us_per_entry = round((clientCpu.user + clientCpu.system) / res.shipped, 1);
    load.ship = loadAvg();
    log(`shipped ${res.shipped} in ${round(shipMs / 1000, 1)} s: ${m.ship_entries_per_s}/s (load ${load.ship})`);
    const whole = res.shipped === local.size;
    if (!whole) {
      // A reused team log had (some of) them already: no shipping figures.
      for (const k of ['ship_entries', 'ship_entries_per_s', 'ship_server_cpu_us_per_entry', 'ship_client_cpu_us_per_entry']) delete m[k];
    }
    // What autovacuum does to a freshly loaded table by itself, done now rather than waited for.
    t = now();
    await client.query('VACUUM ANALYZE bot_audit.team_entries');
    m.vacuum_analyze_ms = round(now() - t, 0);

    // Lag: a background replicator on an idle store, into the team log of 1M entries.
    const lags = await measureLag(cluster.url(), await cluster.connect());
    m.ship_lag_p50_ms = round(median(lags), 1);
    m.ship_lag_p95_ms = round(pct(lags, 95), 1);
    load.lag = loadAvg();
    log(`lag p50 ${m.ship_lag_p50_ms} ms, p95 ${m.ship_lag_p95_ms} ms (load ${load.lag})`);

    // Reads, through the reader the views and the CLI use.
    const reader = await TeamLogReader.open(cluster.url());
    try {
      const team: Metrics = {};
      const localP50: Metrics = {};
      for (const [kind, q] of Object.entries(PAGES)) {
        await reader.query(q, { limit: 100 }); // a first read that warms the server's cache for the query
        team[kind] = median(await timeAsync(() => reader.query(q, { limit: 100 })));
        const first = await reader.query(q, { limit: 100 });
        m[`team_next_page_1m_${kind}_p50_ms`] = round(median(await timeAsync(() => reader.query(q, { limit: 100, cursor: first.nextCursor }))));
        local.count(q);
        localP50[kind] = median(await timeAsync(async () => local.query(q, { limit: 100 })));
        m[`team_page_1m_${kind}_p50_ms`] = round(team[kind]);
        m[`local_page_1m_${kind}_p50_ms`] = round(localP50[kind]);
      }
      m.team_page_1m_p50_ms = round(Math.max(...Object.values(team)));
      m.team_next_page_1m_p50_ms = round(Math.max(...Object.keys(PAGES).map((k) => m[`team_next_page_1m_${k}_p50_ms`])));
      m.local_page_1m_p50_ms = round(Math.max(...Object.values(localP50)), 3);
      m.ratio_team_to_local_page = round(m.team_page_1m_p50_ms / m.local_page_1m_p50_ms, 1);
      // A count's first time (a fresh reader keeps no counts), then as the page asks again (kept, plus the entries since).
      for (const [kind, q] of Object.entries({ ...COUNTS, combined: PAGES.combined })) {
        const fresh = await TeamLogReader.open(cluster.url());
        try {
          const t0 = now();
          await fresh.count(q);
          m[`team_count_1m_first_${kind}_ms`] = round(now() - t0);
        } finally {
          await fresh.close();
        }
      }
      m.team_count_1m_first_ms = Math.max(...[...Object.keys(COUNTS), 'combined'].map((k) => m[`team_count_1m_first_${k}_ms`]));
      for (const [kind, q] of Object.entries(COUNTS)) m[`team_count_1m_${kind}_p50_ms`] = round(median(await timeAsync(() => reader.count(q))));
      m.team_count_1m_p50_ms = Math.max(...Object.keys(COUNTS).map((k) => m[`team_count_1m_${k}_p50_ms`]));
      for (const w of WORDS) {
        const fresh = await TeamLogReader.open(cluster.url());
        try {
          const t0 = now();
          await fresh.query(`"${w}"`, { limit: 100 });
          m[`team_fulltext_1m_first_${w}_ms`] = round(now() - t0);
        } finally {
          await fresh.close();
        }
        m[`team_fulltext_1m_${w}_p50_ms`] = round(median(await timeAsync(() => reader.query(`"${w}"`, { limit: 100 }))));
      }
      m.team_fulltext_1m_first_ms = Math.max(...WORDS.map((w) => m[`team_fulltext_1m_first_${w}_ms`]));
      m.team_fulltext_1m_p50_ms = Math.max(...WORDS.map((w) => m[`team_fulltext_1m_${w}_p50_ms`]));
      load.reads = loadAvg();
      log(`pages ${m.team_page_1m_p50_ms} ms (local ${m.local_page_1m_p50_ms} ms), counts ${m.team_count_1m_p50_ms} ms, full text ${m.team_fulltext_1m_p50_ms} ms (load ${load.reads})`);
    } finally {
      await reader.close();
    }

    t = now();
    const v = await verifyTeamLog(client, { connect: () => cluster.connect() });
    m.team_verify_1m_ms = round(now() - t, 0);
    if (!v.ok) throw new Error(`the team log does not verify: ${JSON.stringify(v.firstBroken)}`);
    m.team_entries = v.count;
    load.verify = loadAvg();
    log(`verify ${m.team_verify_1m_ms} ms over ${v.count} (load ${load.verify})`);

    const goals = Object.fromEntries(Object.entries(GOALS).filter(([, g]) => g !== undefined));
    const out = {
      ...m,
      goals,
      load_avg_1m: load,
      method: {
        server: `throwaway PostgreSQL cluster, defaults (${settings.rows.map((r) => `${r.name}=${r.setting}`).join(', ')}), on the same machine as the shipper, over 127.0.0.1`,
        ship_entries_per_s: `shipToTeam of the cached 1M local log (read-only) into an empty team log, one connection, batch ${batch ?? 'default'}`,
        ship_server_cpu_us_per_entry: 'CPU time (user + system) of the server process that served the shipper, per entry shipped (not the WAL writer, checkpointer or autovacuum); ship_client_cpu_us_per_entry: the same for this process (reading, hashing, sending)',
        ship_lag_p95_ms: `TeamReplicator in background mode (defaults) on an idle store beside a 1M team log: append one entry → its NOTIFY (sent at commit), ${LAG_SAMPLES} samples 200 ms apart`,
        team_page_1m_p50_ms: `TeamLogReader.query(q, { limit: 100 }) (rows and total), p50 of ${REPS} after one warm-up, worst over ${JSON.stringify(PAGES)}; after VACUUM ANALYZE (what autovacuum does)`,
        team_next_page_1m_p50_ms: 'the second page by its cursor (keyset), worst over the same queries',
        team_count_1m_p50_ms: `TeamLogReader.count(q), p50 of ${REPS}, worst over ${JSON.stringify(COUNTS)}: as a page asks again, the reader's kept count plus the entries since`,
        team_count_1m_first_ms: 'the first count of each query (and of the combined page query) in a fresh TeamLogReader, which keeps no counts yet; worst',
        team_fulltext_1m_p50_ms: `TeamLogReader.query('"word"', { limit: 100 }), p50 of ${REPS}, worst over ${JSON.stringify(WORDS)} (the page and its kept count)`,
        team_fulltext_1m_first_ms: 'the first such query in a fresh TeamLogReader (counting every match of the word), worst',
        team_verify_1m_ms: 'verifyTeamLog over the whole team log, default (both chains and every entry rehashed, on the server, in seq ranges over as many connections as the server\'s max_parallel_workers_per_gather (2); not --full)',
        ratio_team_to_local_page: 'team_page_1m_p50_ms / local_page_1m_p50_ms (the same queries on the local AuditStore, sql.js, count cached as when paging)',
        load_avg_1m: 'the 1-minute load average after each phase: the machine (2 cores) is shared with other runs',
      },
    };
    if (whole) {
      fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
      fs.writeFileSync(RESULTS, `${JSON.stringify(out, null, 2)}\n`);
    } else {
      log(`the team log in ${path.relative(ROOT, REUSE_DIR)} was shipped before: reads and verify only, ${path.relative(ROOT, RESULTS)} not written`);
    }
    printTable(m);
  } finally {
    await client.end().catch(() => undefined);
    await local.close();
    cluster.stop();
  }
}

function printTable(m: Metrics): void {
  const rows = Object.entries(GOALS).map(([k, goal]) => {
    const v = m[k];
    const g = goal === undefined ? '' : `${k === 'ship_entries_per_s' ? '≥' : '≤'} ${goal.toLocaleString('en')}`;
    return [k, v === undefined ? 'n/a' : String(v), g, goal === undefined || v === undefined ? '' : met(k, v, goal) ? 'met' : 'missed'];
  });
  printGoalTable(rows);
  console.log('\nper query (1M, p50 ms): team page / team next page / local page');
  for (const kind of Object.keys(PAGES)) {
    console.log(`  ${kind.padEnd(10)} ${String(m[`team_page_1m_${kind}_p50_ms`]).padStart(8)} ${String(m[`team_next_page_1m_${kind}_p50_ms`]).padStart(8)} ${String(m[`local_page_1m_${kind}_p50_ms`]).padStart(8)}`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
