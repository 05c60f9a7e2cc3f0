// A throwaway PostgreSQL cluster for the team-log tests: a real server, never a mock. It lives in a
// temporary folder, listens on 127.0.0.1 only, on a free port, trusts local connections, and is
// stopped and removed afterwards (also when a test fails, and when the process exits early).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';

/** The cluster's superuser, who owns the team log in the tests. */
export const SUPERUSER = 'postgres';

export interface TestCluster {
  port: number;
  /** A postgres:// URL for `user` (default the superuser) on database `postgres`. */
  url(user?: string): string;
  /** A connected client; the caller ends it. */
  connect(user?: string): Promise<Client>;
  /** Stops the cluster for good and removes its folder. */
  stop(): void;
  /** Stops the server (`pg_ctl stop -m fast`), keeping its data: clients are cut off, new ones refused. */
  stopServer(): void;
  /** Starts the stopped server again, on the same port. */
  startServer(): void;
  /** A copy of the data folder, taken with the server stopped (it is stopped and started around the copy): a backup. */
  backup(): string;
  /** Stops the server, puts `backup` in place of its data folder, and starts it: a server restored from that backup. */
  restore(backup: string): void;
  /** Makes `user` log in with a password (scram-sha-256) over TCP, where everyone else is trusted. */
  requirePassword(user: string): void;
}

/** Where initdb, pg_ctl and postgres are: `pg_config --bindir`, else the newest /usr/lib/postgresql/N/bin. */
function binDir(): string {
  const has = (dir: string) => ['initdb', 'pg_ctl', 'postgres'].every((b) => fs.existsSync(path.join(dir, b)));
  const r = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const fromConfig = r.status === 0 ? r.stdout.trim() : '';
  if (fromConfig && has(fromConfig)) return fromConfig;
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (has(path.join(root, v, 'bin'))) return path.join(root, v, 'bin');
  // Never a silent skip: these tests are the only proof that the team log works on a real server.
  throw new Error('PostgreSQL is not installed: the team-log tests need initdb, pg_ctl and postgres (Debian: apt-get install postgresql; .ci/run installs it)');
}

/** PostgreSQL refuses to run as root: as root (CI), the commands run as the `postgres` user that Debian's package creates. */
function asServerUser(): { prefix: string[]; uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return { prefix: [] };
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  const gid = id('-g');
  if (!Number.isInteger(uid) || uid <= 0) throw new Error('running as root, and there is no "postgres" user to run PostgreSQL as (Debian: apt-get install postgresql creates it)');
  return { prefix: ['runuser', '-u', 'postgres', '--'], uid, gid };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface ClusterOptions {
  /**
   * Keep PostgreSQL's own durability (fsync, synchronous_commit: its defaults), as a real server
   * has: the team-log benchmark. Default false: fsync=off, a throwaway cluster for tests.
   */
  durable?: boolean;
  /**
   * A directory to keep the cluster in: made (and the cluster created) when it has none, reused when
   * it has one, and left in place by stop(). The team-log benchmark's `--reuse` reads a 1M team log
   * it shipped before. Default: a fresh temporary directory, removed by stop().
   */
  keep?: string;
}

/** Starts a fresh cluster; the caller stops it (an exit hook stops it too, if the process ends first). */
export async function startCluster(copts: ClusterOptions = {}): Promise<TestCluster> {
  const bin = binDir();
  const as = asServerUser();
  const dir = copts.keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-pg-'));
  fs.mkdirSync(dir, { recursive: true });
  if (as.uid !== undefined) fs.chownSync(dir, as.uid, as.gid!);
  const data = path.join(dir, 'data');
  const existing = copts.keep !== undefined && fs.existsSync(path.join(data, 'PG_VERSION'));
  const run = (cmd: string, args: string[], onPath = false) => {
    const exe = onPath ? cmd : path.join(bin, cmd);
    const r = spawnSync(as.prefix[0] ?? exe, [...as.prefix.slice(1), ...(as.prefix.length ? [exe] : []), ...args], { encoding: 'utf8', cwd: dir });
    return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
  };
  let started = false;
  const stop = () => {
    process.removeListener('exit', stop);
    if (started) run('pg_ctl', ['-D', data, '-m', copts.keep === undefined ? 'immediate' : 'fast', '-w', 'stop']);
    started = false;
    if (copts.keep === undefined) fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', stop);
  try {
    // --no-sync and fsync=off: a throwaway cluster; what the tests check does not depend on the server's own durability.
    const fsyncOff = copts.durable ? '' : ' -c fsync=off';
    if (!existing) {
      const init = run('initdb', ['-D', data, '-U', SUPERUSER, '--auth=trust', '--encoding=UTF8', '--locale=C', ...(copts.durable ? [] : ['--no-sync'])]);
      if (!init.ok) throw new Error(`initdb failed: ${init.out}`);
    }
    let port = 0;
    let last = '';
    // A port found free may be taken before the server binds it: a few tries.
    for (let i = 0; i < 3 && !started; i++) {
      port = await freePort();
      const opts = `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${dir}${fsyncOff}`;
      const r = run('pg_ctl', ['-D', data, '-l', path.join(dir, 'server.log'), '-o', opts, '-t', '120', '-w', 'start']);
      started = r.ok;
      last = r.out + (fs.existsSync(path.join(dir, 'server.log')) ? fs.readFileSync(path.join(dir, 'server.log'), 'utf8') : '');
    }
    if (!started) throw new Error(`pg_ctl start failed: ${last}`);
    const url = (user = SUPERUSER) => `postgres://${user}@127.0.0.1:${port}/postgres`;
    const opts = `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${dir}${fsyncOff}`;
    const must = (what: string, r: { ok: boolean; out: string }) => {
      if (!r.ok) throw new Error(`${what} failed: ${r.out}`);
    };
    const stopServer = () => {
      must('pg_ctl stop', run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']));
      started = false;
    };
    const startServer = () => {
      must('pg_ctl start', run('pg_ctl', ['-D', data, '-l', path.join(dir, 'server.log'), '-o', opts, '-t', '120', '-w', 'start']));
      started = true;
    };
    let backups = 0;
    return {
      port,
      url,
      async connect(user = SUPERUSER) {
        const c = new Client({ connectionString: url(user) });
        await c.connect();
        return c;
      },
      stop,
      stopServer,
      startServer,
      backup() {
        const copy = path.join(dir, `backup-${++backups}`);
        stopServer();
        try {
          must('cp', run('cp', ['-a', data, copy], true));
        } finally {
          startServer();
        }
        return copy;
      },
      restore(backup: string) {
        stopServer();
        must('rm', run('rm', ['-rf', data], true));
        must('cp', run('cp', ['-a', backup, data], true));
        startServer();
      },
      requirePassword(user: string) {
        const hba = path.join(data, 'pg_hba.conf');
        fs.writeFileSync(hba, `host all ${user} 127.0.0.1/32 scram-sha-256\n${fs.readFileSync(hba, 'utf8')}`);
        must('pg_ctl reload', run('pg_ctl', ['-D', data, 'reload']));
      },
    };
  } catch (e) {
    stop();
    throw e;
  }
}
