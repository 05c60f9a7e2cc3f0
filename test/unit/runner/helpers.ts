// Shared helpers for the runner tests: temp workspaces with real bot files, an in-memory
// recorder with the store's `append` signature, the repo root and the built worker.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AuditEntryInput, AuditSink } from '../../../src/core/runner';

/** The repository root (tests run from out/test/unit/...). */
export function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json')) || !fs.existsSync(path.join(dir, 'esbuild.mjs'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('repo root not found');
    dir = up;
  }
  return dir;
}

export const WORKER_PATH = path.join(repoRoot(), 'dist', 'bot-worker.js');

/** A temp workspace with the given files (relative path → content). */
export function makeWorkspace(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-ws-'));
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
  return root;
}

export function removeWorkspace(root: string): void {
  fs.rmSync(root, { recursive: true, force: true });
}

/** Keeps appended entries in memory, with sequential ids, like the store's append(). */
export class MemoryRecorder implements AuditSink {
  readonly entries: (AuditEntryInput & { id: number })[] = [];
  /** Calls of append / appendBatch, to see group commits. */
  readonly writes: number[] = [];
  constructor(private readonly batch = true) {}
  async append(e: AuditEntryInput): Promise<{ id: number }> {
    this.writes.push(1);
    const entry = { ...structuredClone(e), id: this.entries.length + 1 };
    this.entries.push(entry);
    return { id: entry.id };
  }
  get appendBatch(): ((es: AuditEntryInput[]) => Promise<{ id: number }[]>) | undefined {
    if (!this.batch) return undefined;
    return async (es) => {
      this.writes.push(es.length);
      return es.map((e) => {
        const entry = { ...structuredClone(e), id: this.entries.length + 1 };
        this.entries.push(entry);
        return { id: entry.id };
      });
    };
  }
}
