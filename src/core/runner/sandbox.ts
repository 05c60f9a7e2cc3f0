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
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BotPermissions } from '../bots/config';

/** The Node binary a bot process runs on, and what its command line accepts. */
export interface NodeRuntime {
  execPath: string;
  /** `process.versions.node` of that binary. */
  version: string;
  /** Of the flags the sandbox may use, those it accepts (`--allow-inspector`, `--experimental-sqlite`, `--inspect-wait`). */
  flags: string[];
}

const PROBED_FLAGS = ['--allow-inspector', '--experimental-sqlite', '--inspect-wait'];

/** This process's own Node (or Electron run as Node). */
export function currentNode(): NodeRuntime {
  return { execPath: process.execPath, version: process.versions.node, flags: PROBED_FLAGS.filter((f) => process.allowedNodeEnvironmentFlags.has(f)) };
}

const probed = new Map<string, NodeRuntime>();
/** Another Node binary's version and flags (asked once per path). Throws when it is no Node. */
export function probeNode(execPath: string): NodeRuntime {
  const abs = path.resolve(execPath);
  if (abs === process.execPath) return currentNode();
  let hit = probed.get(abs);
  if (!hit) {
    const out = execFileSync(abs, ['-p', `JSON.stringify([process.versions.node, ${JSON.stringify(PROBED_FLAGS)}.filter((f) => process.allowedNodeEnvironmentFlags.has(f))])`], {
      encoding: 'utf8',
      timeout: 10_000,
      env: { PATH: process.env.PATH ?? '' },
    });
    const [version, flags] = JSON.parse(out.trim()) as [string, string[]];
    hit = { execPath: abs, version, flags };
    probed.set(abs, hit);
  }
  return hit;
}

/** A bot process started for debugging: with the inspector, waiting for a debugger before it runs anything. */
export interface DebugSpec {
  /** Inspector port on 127.0.0.1 (0: any free one). */
  port: number;
  /**
   * Also list the inspector over HTTP (`/json/list`, what `chrome://inspect` and a port-only attach
   * read). Default: the address is only written to the process's stderr, which the host reads.
   */
  publishHttp?: boolean;
}

/**
 * Whether a debug process loads the runner before its debugger attaches, and waits for it only once
 * its run has come (worker.ts, waitForDebugger): where only the host knows the inspector's address
 * (any free port, not listed over HTTP), so that the host hands it out once the process waits. On a
 * known port or listed over HTTP, a debugger may attach as soon as the port opens: the process waits
 * for it before it runs anything (`--inspect-wait`), as Node does.
 */
export function waitsInWorker(debug: DebugSpec): boolean {
  return debug.port === 0 && !debug.publishHttp;
}

/**
 * Why this Node cannot run a bot under the debugger, or undefined when it can. The permission model
 * turns the inspector off unless `--allow-inspector` is given, which Node 20 does not have.
 */
export function debugProblem(node: NodeRuntime = currentNode()): string | undefined {
  if (node.flags.includes('--allow-inspector')) return undefined;
  return (
    `Debugging a bot needs a Node whose permission model can allow the inspector (--allow-inspector, Node 24.10 or newer), ` +
    `and bots run on Node ${node.version}${node.execPath === process.execPath ? '' : ` (${node.execPath})`}, whose sandbox turns the inspector off. ` +
    `Run it with a newer Node (the CLI under Node 24; in VS Code, the setting botAudit.nodePath)`
  );
}

export interface SandboxSpec {
  memoryLimitMb: number;
  /** The workspace root: the bot may read it (its node_modules included). */
  root: string;
  /** Opt-ins from the bot's settings (bot-audit.json). */
  permissions?: BotPermissions;
  /** The Node binary (default: this process's). */
  node?: NodeRuntime;
  /** Started for debugging (never pooled). */
  debug?: DebugSpec;
}

/** The pool's key: processes are started ahead for a spec, and only serve runs of the same spec. */
export function sandboxKey(s: SandboxSpec): string {
  const p = normalizePermissions(s.permissions, s.root);
  return JSON.stringify([s.memoryLimitMb, path.resolve(s.root), p.childProcess ?? false, p.fsWrite ?? [], s.node?.execPath ?? process.execPath]);
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
  const node = spec.node ?? currentNode();
  const flag = permissionFlag(node.version);
  if (!flag) throw new Error(`Bots run under Node's permission model, which Node ${node.version} lacks (Node 20 or newer is needed)`);
  if (spec.debug) {
    const problem = debugProblem(node);
    if (problem) throw new Error(problem);
  }
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
  if (node.flags.includes('--experimental-sqlite')) args.push('--no-experimental-sqlite');
  if (spec.debug) {
    // The inspector, on the loopback only, and only for this process: the permission model stays as
    // it is otherwise (reads, writes, child processes, workers, addons). The worker takes node:inspector
    // away from the bot's code (closeSandbox), so only a debugger on the port drives it. The process
    // waits for that debugger: after loading the runner, once its run has come (waitsInWorker: the
    // debugger does not watch the runner's own start-up), else before it runs anything (--inspect-wait:
    // no pause in the runner's own first line; --inspect-brk where the flag is missing).
    const where = `127.0.0.1:${spec.debug.port}`;
    const wait = node.flags.includes('--inspect-wait') ? `--inspect-wait=${where}` : `--inspect-brk=${where}`;
    args.push('--allow-inspector', waitsInWorker(spec.debug) ? `--inspect=${where}` : wait);
    args.push(`--inspect-publish-uid=${spec.debug.publishHttp ? 'stderr,http' : 'stderr'}`);
  }
  args.push(path.resolve(workerPath), '--bot-audit-sandbox', JSON.stringify(spec.debug ? { ...perms, inspector: waitsInWorker(spec.debug) ? 'wait' : true } : perms));
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
  if (process.versions.electron && node.execPath === process.execPath) env.ELECTRON_RUN_AS_NODE = '1';
  return { execPath: node.execPath, args, env, cwd: tmpDir, tmpDir, permissions: perms };
}
