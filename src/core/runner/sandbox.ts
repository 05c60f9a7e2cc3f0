// How a bot's process is started: Node's permission model, a minimal environment, its own
// temporary folder, a process group of its own. See pool.ts for why, and README (Run) for what a
// bot may and may not do.
//
// The bot process is this same binary (process.execPath): Node, or Electron run as Node
// (ELECTRON_RUN_AS_NODE=1). The permission flag is chosen by process.versions.node, which under
// Electron is the Node that Electron embeds: `--permission` from Node 22.13 / 23.5 on,
// `--experimental-permission` on 20.x, 21.x and 22.0–22.12. Assumption: Electron's Node honours
// the permission flags as Node does. The worker checks that the model is in force before it
// takes a run (process.permission present, no write or child-process grant beyond the opt-ins),
// and refuses otherwise, so a binary that ignores them fails closed (a Major failure), never open.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BotPermissions } from '../bots/config';

export interface SandboxSpec {
  memoryLimitMb: number;
  /** The workspace root: the bot may read it (its node_modules included). */
  root: string;
  /** Opt-ins from the bot's settings (bot-audit.json). */
  permissions?: BotPermissions;
}

/** The pool's key: processes are started ahead for a spec, and only serve runs of the same spec. */
export function sandboxKey(s: SandboxSpec): string {
  const p = normalizePermissions(s.permissions, s.root);
  return JSON.stringify([s.memoryLimitMb, path.resolve(s.root), p.childProcess ?? false, p.fsWrite ?? []]);
}

/** Opt-ins with fsWrite as sorted absolute paths; nothing when there are none. */
export function normalizePermissions(p: BotPermissions | undefined, root: string): BotPermissions {
  const out: BotPermissions = {};
  if (p?.childProcess) out.childProcess = true;
  if (p?.fsWrite?.length) out.fsWrite = [...new Set(p.fsWrite.map((f) => path.resolve(root, f)))].sort();
  return out;
}

/** `--permission` or `--experimental-permission` for a Node version (`process.versions.node`). */
export function permissionFlag(nodeVersion: string): string | undefined {
  const [major, minor] = nodeVersion.split('.').map((x) => Number(x));
  if (major < 20) return undefined;
  if (major > 23 || (major === 23 && minor >= 5) || (major === 22 && minor >= 13)) return '--permission';
  return '--experimental-permission';
}

/** A path and, when it differs, the path it resolves to (Node checks reads against the real path too). */
function withReal(p: string): string[] {
  const out = [p];
  try {
    const real = fs.realpathSync(p);
    if (real !== p) out.push(real);
  } catch {
    /* not there (yet) */
  }
  return out;
}

export interface SandboxLaunch {
  execPath: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  tmpDir: string;
  /** What the process may do, as the worker checks it and the entry records it. */
  permissions: BotPermissions;
}

/**
 * The command line and environment of one bot process. Makes its temporary folder (the caller
 * removes it when the process has ended).
 */
export function sandboxLaunch(workerPath: string, spec: SandboxSpec): SandboxLaunch {
  const flag = permissionFlag(process.versions.node);
  if (!flag) throw new Error(`Bots run under Node's permission model, which Node ${process.versions.node} lacks (Node 20 or newer is needed)`);
  const root = path.resolve(spec.root);
  const perms = normalizePermissions(spec.permissions, root);
  const tmpDir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-run-')));
  const reads = new Set<string>([...withReal(path.resolve(workerPath)), ...withReal(root), ...withReal(path.join(root, 'node_modules')), tmpDir]);
  const writes = new Set<string>([tmpDir]);
  for (const w of perms.fsWrite ?? []) {
    for (const p of withReal(w)) {
      reads.add(p);
      writes.add(p);
    }
  }
  const args = [
    flag,
    ...[...reads].map((p) => `--allow-fs-read=${p}`),
    ...[...writes].map((p) => `--allow-fs-write=${p}`),
    ...(perms.childProcess ? ['--allow-child-process'] : []),
    `--max-old-space-size=${spec.memoryLimitMb}`,
    '--no-warnings',
  ];
  // node:sqlite (unflagged from Node 22.13/23.4) writes files without asking the permission model.
  if (process.allowedNodeEnvironmentFlags.has('--experimental-sqlite')) args.push('--no-experimental-sqlite');
  args.push(path.resolve(workerPath), '--bot-audit-sandbox', JSON.stringify(perms));
  // Not the host's environment (the CLI's or the editor's variables stay with them).
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    PATH: process.env.PATH ?? process.env.Path ?? '',
    TMPDIR: tmpDir,
    TMP: tmpDir,
    TEMP: tmpDir,
    HOME: tmpDir,
  };
  if (process.platform === 'win32') {
    for (const k of ['SystemRoot', 'windir', 'ComSpec', 'PATHEXT']) if (process.env[k]) env[k] = process.env[k]!;
  }
  if (process.versions.electron) env.ELECTRON_RUN_AS_NODE = '1';
  return { execPath: process.execPath, args, env, cwd: tmpDir, tmpDir, permissions: perms };
}
