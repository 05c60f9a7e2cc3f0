// Shared helpers for the store tests: temp folders, a deterministic sample log, child processes.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { NewEntry } from '../../../src/core/store';

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-store-'));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * A fresh temp folder for each test of the enclosing suite, removed after it; `set` receives the
 * folder and the log file in it (`audit.db`, not created).
 */
export function useTempLog(set: (dir: string, file: string) => void): void {
  let dir = '';
  beforeEach(() => {
    dir = tempDir();
    set(dir, path.join(dir, 'audit.db'));
  });
  afterEach(() => removeDir(dir));
}

/** The compiled fixture script `name` (out/test/fixtures/store/name.js). */
export function fixture(name: string): string {
  return path.join(__dirname, '..', '..', 'fixtures', 'store', `${name}.js`);
}

export const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

/** A small log that exercises every column: 40 entries, one minute apart from T0. */
export function sampleEntries(): NewEntry[] {
  const users = ['dev@example.com', 'system', 'Bot/hello', 'ops@example.com'];
  const actions = ['CREATED', 'UPDATED', 'DELETED', 'INVITED', 'ACCEPTED', 'LOGIN', 'LOGOUT', 'EXECUTED'] as const;
  const names = ['story', 'story_group', 'card', 'access', 'bot'];
  const ids = ['9', '10', '100', 'abc', '2', 'x-1', '010', '7.5'];
  const out: NewEntry[] = [];
  for (let i = 0; i < 40; i++) {
    const action = actions[i % actions.length];
    const e: NewEntry = {
      user: users[i % users.length],
      action,
      entityName: names[i % names.length],
      entityId: ids[i % ids.length],
      recorded: T0 + i * 60_000,
    };
    if (action === 'EXECUTED') {
      e.bot = i % 16 === 7 ? 'hello' : 'nightly';
      e.outcome = ([0, 4, 8, 12] as const)[(i >> 3) % 4];
      e.outcomeDesc = i === 15 ? 'Error: upstream timeout after 30s (zanzibar)' : `run ${i} finished`;
      e.periodStart = e.recorded! - 1000;
      e.periodEnd = e.recorded;
      e.input = JSON.stringify({ resourceType: 'Patient', id: `p${i}` });
      e.contentType = 'application/fhir+json';
      e.traceId = `trace-${i}`;
    }
    if (action === 'UPDATED') {
      e.before = { name: `old ${i}`, tags: ['a'] };
      e.after = { name: `new ${i}`, tags: ['a', 'b'], note: i === 9 ? 'quokka sighting' : undefined };
    }
    if (action === 'CREATED') e.after = { name: `created ${i}` };
    if (action === 'DELETED') e.before = { name: `deleted ${i}` };
    out.push(e);
  }
  return out;
}

export interface Child {
  proc: ChildProcess;
  lines: string[];
  stderr: string[];
  /** Resolves with the first line that matches. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts a compiled fixture with `process.execPath`, collecting its stdout lines. */
export function startChild(name: string, args: string[]): Child {
  const proc = spawn(process.execPath, [fixture(name), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const stderr: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  let buf = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (c: string) => stderr.push(c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    proc,
    lines,
    stderr,
    exited,
    waitFor(re, timeoutMs = 20_000) {
      const hit = lines.find((l) => re.test(l));
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${re} from ${name}; stderr: ${stderr.join('')}`)), timeoutMs);
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
        void exited.then(() => {
          setTimeout(() => reject(new Error(`${name} exited before ${re}; stderr: ${stderr.join('')}`)), 50);
        });
      });
    },
  };
}

/** A small deterministic PRNG (the benchmark's mulberry32), so that every run flips the same bytes. */
export { rng as prng } from '../../../bench/data';

/** Flips `n` bytes of `buf` at random places (each XORed with a non-zero value). */
export function flip(buf: Buffer, rand: () => number, n = 4): number[] {
  const at: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = Math.floor(rand() * buf.length);
    buf[p] ^= 1 + Math.floor(rand() * 255);
    at.push(p);
  }
  return at;
}
