// Installs (once, cached) and starts code-server: 4.100.3 = VS Code 1.100.3 (the oldest VS Code we
// support, its extension host Node 20 like this machine) or 4.139.1 = VS Code 1.139.1 (the newest that
// code-server publishes, run on Node 24 from the npm registry). BOT_AUDIT_VSCODE=1.100|1.139 chooses
// (default 1.100). The steps follow ../shared/notes/vscode-test-host.md; every process we start is
// tracked by PID and stopped as a whole process group.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, copyFileSync, symlinkSync, rmSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureNode24, node24Bin, node24Env } from './node24.mjs';

/**
 * The VS Code versions that `npm test` runs in. `node`: the Node that code-server (and so the
 * extension host) needs, when it is not this machine's. `smokeTestDriver`: from 1.139 on, the
 * workbench ignores the development payload (extensionDevelopmentPath, extensionTestsPath) unless
 * the server starts with `--vscode-option enable-smoke-test-driver`; without it the extension simply
 * does not load, with no error. `nativeModules`: what `npm rebuild` must build in lib/vscode.
 */
export const VSCODE_TARGETS = {
  '1.100': {
    vscode: '1.100.3',
    codeServer: '4.100.3',
    node: undefined,
    smokeTestDriver: false,
    nativeModules: ['node-pty', '@parcel/watcher', '@vscode/spdlog', 'kerberos', 'native-watchdog'],
    bundledRipgrep: false,
  },
  '1.139': {
    vscode: '1.139.1',
    codeServer: '4.139.1',
    node: '24',
    smokeTestDriver: true,
    nativeModules: [
      'node-pty', '@parcel/watcher', '@vscode/spdlog', 'kerberos', '@vscode/native-watchdog',
      '@vscode/sqlite3', '@vscode/fs-copyfile', '@vscode/deviceid',
    ],
    bundledRipgrep: true,
    // 1.139 opens the Chat view in the secondary side bar by default, which takes a quarter of the
    // window from the editor (the audit-log page's columns no longer fit in the UI checks' window).
    // The checks see the editor as 1.100 shows it, as a person who closed that side bar does.
    userSettings: { 'workbench.secondarySideBar.defaultVisibility': 'hidden' },
  },
};
/** The targets in the order `npm test` runs them: oldest first. */
export const VSCODE_TARGET_NAMES = Object.keys(VSCODE_TARGETS);

function chosenTarget() {
  const name = process.env.BOT_AUDIT_VSCODE || '1.100';
  const t = VSCODE_TARGETS[name];
  if (!t) throw new Error(`BOT_AUDIT_VSCODE=${name}: not one of ${VSCODE_TARGET_NAMES.join(', ')}`);
  return { name, ...t };
}

/** The VS Code that this process uses (BOT_AUDIT_VSCODE). */
export const TARGET = chosenTarget();
export const VSCODE_VERSION = TARGET.vscode;
export const CODE_SERVER_VERSION = TARGET.codeServer;
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CACHE = process.env.BOT_AUDIT_CACHE ?? path.join(ROOT, '.cache');
/** Where a run's logs, stats and screenshots go: test-results/ for 1.100, test-results/vscode-1.139/ for 1.139. */
export const RESULTS_DIR = path.join(ROOT, 'test-results', ...(TARGET.name === VSCODE_TARGET_NAMES[0] ? [] : [`vscode-${TARGET.name}`]));
const INSTALL_DIR = path.join(CACHE, `code-server-${CODE_SERVER_VERSION}`);
const MARKER = path.join(INSTALL_DIR, '.installed');
export const CODE_SERVER_BIN = path.join(INSTALL_DIR, 'node_modules', 'code-server', 'out', 'node', 'entry.js');

/** The `node` that runs code-server: this one for 1.100, Node 24 from .cache/node24 for 1.139. */
export function codeServerNode() {
  return TARGET.node ? node24Bin(CACHE) : process.execPath;
}

/** The environment for code-server's processes (and its install): Node 24 first on PATH when it needs it. */
function codeServerEnv(env = process.env) {
  return TARGET.node ? node24Env(CACHE, env) : { ...env };
}

export class HarnessError extends Error {}

function log(msg) {
  process.stderr.write(`[harness] ${msg}\n`);
}

function run(cmd, args, cwd, extraEnv = {}) {
  const r = spawnSync(cmd, args, {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    env: { ...codeServerEnv(), npm_config_yes: 'true', npm_config_update_notifier: 'false', ...extraEnv },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 15 * 60 * 1000,
  });
  if (r.error || r.status !== 0) {
    const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
    throw new HarnessError(`'${cmd} ${args.join(' ')}' failed in ${cwd} (${r.error?.message ?? `exit ${r.status}`}):\n${out}`);
  }
}

/** Says which system programs the harness needs and which are missing. */
export function missingSystemPackages() {
  const missing = [];
  if (!existsSync('/usr/bin/chromium')) missing.push('chromium (/usr/bin/chromium)');
  if (spawnSync('sh', ['-c', 'command -v rg'], { encoding: 'utf8' }).status !== 0) missing.push('ripgrep (rg)');
  if (!existsSync('/usr/include/krb5.h') && !existsSync('/usr/include/gssapi/gssapi.h')) missing.push('libkrb5-dev');
  // node-gyp builds code-server's native modules.
  for (const tool of ['g++', 'make', 'python3']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).status !== 0) missing.push(tool);
  }
  return missing;
}

export function ensureCodeServer() {
  if (TARGET.node) ensureNode24(CACHE);
  if (existsSync(MARKER) && existsSync(CODE_SERVER_BIN)) return CODE_SERVER_BIN;
  const missing = missingSystemPackages();
  if (missing.length) {
    throw new HarnessError(
      `code-server needs system packages that are missing: ${missing.join(', ')}.\n` +
        `Install them with: apt-get update && apt-get install -y libkrb5-dev ripgrep chromium g++ make python3`,
    );
  }
  log(`installing code-server ${CODE_SERVER_VERSION} (VS Code ${VSCODE_VERSION}) into ${INSTALL_DIR} (once; ${TARGET.node ? 'a few minutes' : 'about a minute'})…`);
  rmSync(INSTALL_DIR, { recursive: true, force: true });
  mkdirSync(INSTALL_DIR, { recursive: true });
  writeFileSync(path.join(INSTALL_DIR, 'package.json'), JSON.stringify({ name: 'code-server-cache', private: true }));
  run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', `code-server@${CODE_SERVER_VERSION}`], INSTALL_DIR);
  run('npm', ['rebuild', 'argon2'], INSTALL_DIR);
  const vscodeDir = path.join(INSTALL_DIR, 'node_modules', 'code-server', 'lib', 'vscode');
  run('npm', ['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], vscodeDir);
  // kerberos would try to download a prebuilt binary from GitHub (prebuild-install), which is not
  // reachable and not allowed: it builds from source at once. The others build or use the prebuilt
  // binaries their npm packages carry.
  run('npm', ['rebuild', ...TARGET.nativeModules], vscodeDir, { npm_config_build_from_source: 'kerberos' });
  if (!TARGET.bundledRipgrep) {
    const rgDir = path.join(vscodeDir, 'node_modules', '@vscode', 'ripgrep', 'bin');
    mkdirSync(rgDir, { recursive: true });
    const rg = spawnSync('sh', ['-c', 'command -v rg'], { encoding: 'utf8' }).stdout.trim();
    copyFileSync(rg, path.join(rgDir, 'rg'));
    const asar = path.join(vscodeDir, 'node_modules.asar');
    rmSync(asar, { force: true });
    symlinkSync('node_modules', asar);
  }
  run('npm', ['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], path.join(vscodeDir, 'extensions'));
  writeFileSync(MARKER, new Date().toISOString());
  log('code-server installed');
  return CODE_SERVER_BIN;
}

/** Runs code-server's command line (for example `--install-extension`) with the Node that it needs. */
export function codeServerCli(args, { timeout = 120_000 } = {}) {
  const bin = ensureCodeServer();
  return spawnSync(codeServerNode(), [bin, ...args], { encoding: 'utf8', timeout, env: codeServerEnv() });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts code-server in its own process group. Resolves once it listens.
 * @returns {{ url: string, port: number, proc: import('node:child_process').ChildProcess, stop: () => Promise<void> }}
 */
export async function startCodeServer({ folder, userDataDir, extensionsDir, trust = true, port, timeoutMs = 60_000, extraArgs = [], env = {} }) {
  const bin = ensureCodeServer();
  port = port ?? (await freePort());
  mkdirSync(userDataDir, { recursive: true });
  mkdirSync(extensionsDir, { recursive: true });
  const settingsFile = path.join(userDataDir, 'User', 'settings.json');
  if (TARGET.userSettings && !existsSync(settingsFile)) {
    mkdirSync(path.dirname(settingsFile), { recursive: true });
    writeFileSync(settingsFile, JSON.stringify(TARGET.userSettings, null, 2) + '\n');
  }
  const args = [
    bin,
    '--auth', 'none',
    '--bind-addr', `127.0.0.1:${port}`,
    '--user-data-dir', userDataDir,
    '--extensions-dir', extensionsDir,
    '--disable-telemetry',
    '--disable-update-check',
    // 1.139 loads a development payload (extensionDevelopmentPath/extensionTestsPath) only with this.
    ...(TARGET.smokeTestDriver ? ['--vscode-option', 'enable-smoke-test-driver'] : []),
    ...(trust ? ['--disable-workspace-trust'] : []),
    ...extraArgs,
    folder,
  ];
  const proc = spawn(codeServerNode(), args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: codeServerEnv({ ...process.env, ...env }),
  });
  let output = '';
  const stopped = new Promise((resolve) => proc.once('exit', resolve));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      try { process.kill(-proc.pid, 'SIGTERM'); } catch { /* already gone */ }
      const t = setTimeout(() => { try { process.kill(-proc.pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
      await stopped;
      clearTimeout(t);
    }
    // code-server leaves a fileWatcher child behind in the group: make sure the group is gone.
    try { process.kill(-proc.pid, 'SIGKILL'); } catch { /* gone */ }
  };
  registerCleanup(stop);
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new HarnessError(`code-server did not start listening on 127.0.0.1:${port} within ${timeoutMs / 1000}s.\n${output.slice(-2000)}`));
    }, timeoutMs);
    const onData = (d) => {
      output += d.toString();
      if (output.includes('HTTP server listening')) {
        clearTimeout(timer);
        resolve();
      }
      if (/EADDRINUSE/.test(output)) {
        clearTimeout(timer);
        reject(new HarnessError(`port ${port} on 127.0.0.1 is already in use`));
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new HarnessError(`code-server exited with ${code} before it listened:\n${output.slice(-2000)}`));
    });
  }).catch(async (e) => {
    await stop();
    throw e;
  });
  return { url: `http://127.0.0.1:${port}`, port, proc, stop, output: () => output };
}

const cleanups = new Set();
let hooked = false;
export function registerCleanup(fn) {
  cleanups.add(fn);
  if (hooked) return;
  hooked = true;
  const all = async () => {
    for (const f of [...cleanups]) {
      try { await f(); } catch { /* best effort */ }
    }
    cleanups.clear();
  };
  process.once('SIGINT', () => all().then(() => process.exit(130)));
  process.once('SIGTERM', () => all().then(() => process.exit(143)));
  process.once('exit', () => {
    // Synchronous last resort: kill whatever groups are still registered.
    for (const f of cleanups) f.sync?.();
  });
}

/** The launch arguments Chromium needs on these machines (see the host note). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  if (!existsSync('/usr/bin/chromium')) {
    throw new HarnessError('Chromium is missing: apt-get install -y chromium');
  }
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
  registerCleanup(() => browser.close());
  return browser;
}

export function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === 'install') {
  try {
    ensureCodeServer();
    console.log(CODE_SERVER_BIN);
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}

/** The workbench URL for a folder, with an optional development payload (see the host note). */
export function workbenchUrl(server, folder, payload) {
  let url = `${server.url}/?folder=${encodeURIComponent(folder)}`;
  if (payload) url += `&payload=${encodeURIComponent(JSON.stringify(payload))}`;
  return url;
}

/** A `vscode-remote://` URI for a path on this machine, as code-server's payload wants. */
export function remoteUri(server, absPath) {
  return `vscode-remote://127.0.0.1:${server.port}${absPath}`;
}

/** Copies the sample workspace into a fresh temp folder, so that tests never touch the repo's copy. */
export async function freshWorkspace(name = 'workspace') {
  const { mkdtempSync, cpSync } = await import('node:fs');
  const os = await import('node:os');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bot-audit-'));
  const ws = path.join(dir, name);
  cpSync(path.join(ROOT, 'examples', 'workspace'), ws, { recursive: true });
  registerCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  return { dir, ws };
}
