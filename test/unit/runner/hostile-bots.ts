// Hostile bots for hostile.test.ts (issue 18, "a record nobody can bend"): one per way a bot once
// bent the record. Each reaches its process's real `process` as a bot can (a host function's
// constructor), and tries its escape in both layouts the runner has had: a worker thread of the
// host (where `worker_threads.parentPort` is the channel) and a process of its own (fd 3).

/** The real `process`, as any bot can reach it. */
const REAL = `const P: any = (console.log as any).constructor('return process')();
const wt: any = require('worker_threads');`;
const REAL_JS = `const P = console.log.constructor('return process')();
const wt = require('worker_threads');`;

export function hostileBots(repo: string): Record<string, string> {
  return {
    // Opens the audit log with the store's own code and appends a hash-correct admin LOGIN entry.
    'bots/forge-login.ts': `
      import { AuditStore } from ${JSON.stringify(`${repo}/src/core/store`)};
      export async function handler(_m: unknown, e: { input: { db: string; wasm: string } }) {
        const s = await AuditStore.open(e.input.db, { watch: false, wasmPath: e.input.wasm });
        await s.append({ user: 'admin', action: 'LOGIN', entityName: 'User', entityId: 'admin', outcome: 0 });
        await s.close();
        return 'forged';
      }`,
    // Throws, after patching every way its report could go out so that it says "all good".
    'bots/patch-messaging.ts': `
      ${REAL}
      const fs: any = require('fs');
      const rewrite = (m: any) => (m && m.t === 'done' ? { t: 'done', runId: m.runId, returnValue: '"all good"' } : m);
      export async function handler() {
        if (wt.parentPort) {
          const post = wt.parentPort.postMessage.bind(wt.parentPort);
          wt.parentPort.postMessage = (m: any, ...a: any[]) => post(rewrite(m), ...a);
        }
        if (P.send) {
          const send = P.send.bind(P);
          P.send = (m: any, ...a: any[]) => send(rewrite(m), ...a);
        }
        const write = fs.writeSync;
        fs.writeSync = function (fd: number, b: any, ...a: any[]) {
          const text = Buffer.isBuffer(b) ? b.toString('utf8') : String(b);
          if (fd === 3 && text.includes('"t":"done"')) {
            const fake = Buffer.from(JSON.stringify(rewrite(JSON.parse(text))) + '\\n');
            write.call(fs, fd, fake, 0, fake.length);
            return Buffer.isBuffer(b) ? (a[1] ?? b.length) : b.length;
          }
          return write.call(fs, fd, b, ...a);
        };
        const stringify = JSON.stringify;
        (P.constructor.constructor('return JSON')() as JSON).stringify = (v: any, ...a: any[]) => stringify(rewrite(v), ...(a as [any]));
        throw new Error('the real failure');
      }`,
    // Tries to overwrite, truncate, append to, rename and delete every file of the log's folder.
    'bots/overwrite-db.ts': `
      import * as fs from 'node:fs';
      import * as os from 'node:os';
      import * as path from 'node:path';
      export async function handler(_m: unknown, e: { input: { dir: string } }) {
        const tries: string[] = [];
        const t = (what: string, f: () => unknown) => { try { f(); tries.push(what + ': done'); } catch (err: any) { tries.push(what + ': ' + (err.code ?? err.message)); } };
        for (const name of fs.readdirSync(e.input.dir)) {
          const f = path.join(e.input.dir, name);
          if (!fs.statSync(f).isFile()) continue;
          t('append ' + name, () => fs.appendFileSync(f, 'FORGED'));
          t('r+ ' + name, () => { const fd = fs.openSync(f, 'r+'); fs.writeSync(fd, 'XX', 0); fs.closeSync(fd); });
          t('link ' + name, () => { const l = path.join(os.tmpdir(), 'l-' + name); fs.symlinkSync(f, l); fs.writeFileSync(l, 'VIA LINK'); });
          t('hard ' + name, () => { const l = path.join(os.tmpdir(), 'h-' + name); fs.linkSync(f, l); fs.writeFileSync(l, 'VIA HARD LINK'); });
        }
        const db = path.join(e.input.dir, 'audit.db');
        t('rename', () => fs.renameSync(db, db + '.old'));
        t('overwrite', () => fs.writeFileSync(db, 'gone'));
        t('unlink', () => fs.unlinkSync(db + '.old'));
        return tries;
      }`,
    // Kills the process that writes the log (the host), by every means at hand.
    'bots/kill-host.js': `
      ${REAL_JS}
      exports.handler = async () => {
        const host = wt.isMainThread ? P.ppid : P.pid;
        const tries = [];
        const t = (what, f) => { try { f(); tries.push(what + ': done'); } catch (e) { tries.push(what + ': ' + (e.code || e.message)); } };
        t('setPriority', () => require('os').setPriority(host, 19));
        t('kill 0', () => P.kill(host, 0));
        t('_kill', () => P._kill(host, 9));
        t('kill', () => P.kill(host, 'SIGKILL'));
        t('kill group', () => P.kill(-host, 'SIGKILL'));
        t('exec kill', () => require('child_process').execSync('kill -9 ' + host));
        await new Promise((r) => setTimeout(r, 300));
        return tries;
      };`,
    // Reads every environment it can reach: its own, the host's, /proc.
    'bots/read-env.js': `
      ${REAL_JS}
      exports.handler = async () => {
        const fs = require('fs');
        const seen = {};
        const t = (what, f) => { try { seen[what] = String(f()); } catch (e) { seen[what] = 'denied: ' + (e.code || e.message); } };
        t('env', () => JSON.stringify(P.env));
        t('self', () => fs.readFileSync('/proc/self/environ', 'latin1'));
        t('parent', () => fs.readFileSync('/proc/' + P.ppid + '/environ', 'latin1'));
        t('pid', () => fs.readFileSync('/proc/' + P.pid + '/environ', 'latin1'));
        t('cmdline', () => fs.readFileSync('/proc/' + P.ppid + '/cmdline', 'latin1'));
        console.log(JSON.stringify(seen));
        return seen;
      };`,
    // Starts a detached process meant to outlive the run.
    'bots/detach.js': `
      exports.handler = async () => {
        const { spawn } = require('child_process');
        const c = spawn('sleep', ['31.5'], { detached: true, stdio: 'ignore' });
        c.unref();
        console.log('CHILD_PID ' + c.pid);
        return c.pid;
      };`,
    // Defect 6: with child processes opted in, blocks in execSync past its timeout, with a detached
    // child and an attached one beside it.
    'bots/blocker.js': `
      exports.handler = async () => {
        const { spawn, execSync } = require('child_process');
        const a = spawn('sleep', ['32.5'], { detached: true, stdio: 'ignore' });
        const b = spawn('sleep', ['33.5'], { stdio: 'ignore' });
        console.log('CHILD_PID ' + a.pid);
        console.log('CHILD_PID ' + b.pid);
        execSync('sleep 21.5');
        return 'woke up';
      };`,
    // 1.6 GB of Buffers (outside V8's heap) under a 64 MB limit.
    'bots/buffers.js': `
      exports.handler = async () => {
        const keep = [];
        for (let i = 0; i < 16; i++) keep.push(Buffer.alloc(100 * 1024 * 1024, 1));
        return keep.length;
      };`,
    // Reports a run that is not its own, then succeeds.
    'bots/other-run.js': `
      ${REAL_JS}
      exports.handler = async () => {
        const m = { t: 'done', runId: '00000000-0000-4000-8000-000000000000', returnValue: '"forged"' };
        if (wt.parentPort) wt.parentPort.postMessage(m);
        else require('fs').writeSync(3, JSON.stringify(m) + '\\n');
        await new Promise((r) => setTimeout(r, 100));
        return 'ok';
      };`,
    // Writes a line that is no message on its channel, then succeeds.
    'bots/garbage.js': `
      ${REAL_JS}
      exports.handler = async () => {
        if (wt.parentPort) wt.parentPort.postMessage({ t: 'done' });
        else require('fs').writeSync(3, 'garbage {\\n');
        await new Promise((r) => setTimeout(r, 100));
        return 'ok';
      };`,
    // Writes a report of success for its own run on the channel, then spins until it is killed:
    // a report is taken only from the runner's code (it carries the run's seal), never from the bot.
    'bots/forge-report.js': `
      ${REAL_JS}
      exports.handler = async () => {
        // Learns its run's ID as a bot can: the runner's own messages go through JSON.stringify, which
        // calls a toJSON that the bot put on the host realm's Object.prototype.
        const HostObject = P.constructor.constructor('return Object')();
        let runId;
        HostObject.defineProperty(HostObject.prototype, 'toJSON', { configurable: true, writable: true, value: function () {
          if (typeof this.runId === 'string') runId = this.runId;
          const copy = HostObject.assign({}, this);
          return copy;
        } });
        console.log('a line, to see its message');
        delete HostObject.prototype.toJSON;
        const m = { t: 'done', runId, returnValue: '"forged success"' };
        if (wt.parentPort) wt.parentPort.postMessage(m);
        else require('fs').writeSync(3, JSON.stringify(m) + '\\n');
        for (;;) {}
      };`,
    'bots/hello.js': `exports.handler = async (_m, e) => ({ hello: e.input });`,
  };
}

/**
 * A bot process that lies: it reports its run twice (first a failure, then "all good"). Speaks the
 * thread layout (parentPort) and the process layout (fd 3 lines).
 */
export const LYING_WORKER = `
const wt = require('worker_threads');
const fs = require('fs');
if (wt.parentPort) {
  const p = wt.parentPort;
  p.on('message', (m) => {
    if (m.t !== 'run') return;
    p.postMessage({ t: 'done', runId: m.runId, failure: { kind: 'error', message: 'it failed' } });
    p.postMessage({ t: 'done', runId: m.runId, returnValue: '"all good"' });
  });
  p.postMessage({ t: 'ready' });
} else {
  fs.writeSync(3, JSON.stringify({ t: 'ready' }) + '\\n');
  let text = '';
  const b = Buffer.alloc(1 << 20);
  for (;;) {
    const n = fs.readSync(3, b, 0, b.length, null);
    if (n === 0) process.exit(0);
    text += b.toString('utf8', 0, n);
    const nl = text.indexOf('\\n');
    if (nl < 0) continue;
    const m = JSON.parse(text.slice(0, nl));
    fs.writeSync(3, JSON.stringify({ t: 'done', runId: m.runId, failure: { kind: 'error', message: 'it failed' } }) + '\\n');
    fs.writeSync(3, JSON.stringify({ t: 'done', runId: m.runId, returnValue: '"all good"' }) + '\\n');
    process.exit(0);
  }
}
`;
