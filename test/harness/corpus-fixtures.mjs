// The Medplum bot corpus's fixture workspaces (test/medplum-corpus copied into a folder whose own
// node_modules has @medplum/core at one version), for the CLI's corpus test and the corpus passes
// of the integration suite in VS Code. The install happens once into .cache/corpus/<name> and is
// reused while the installed version is right; the corpus and a fresh log are copied in each time.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

// Paths are given by the caller's repository root (this module is also bundled into a CommonJS test).
export const corpusDir = (root) => path.join(root, 'test', 'medplum-corpus');
export const cacheDir = (root) => path.join(root, '.cache');
/** The secret of the fixtures' .env (event-fields checks that it arrives; it must never be printed). */
export const CORPUS_SECRET = 'corpus-7f3e9a1c52d8';
/** The fixtures: name → the @medplum/core they install. */
export const CORPUS_FIXTURES = { medplum4: '4.5.2', medplum5: '5.2.13' };

/** Runs a command; resolves with its exit code and output (never rejects on a non-zero exit). */
export function exec(cmd, args, { cwd, timeoutMs, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = timeoutMs ? setTimeout(() => child.kill('SIGKILL'), timeoutMs) : undefined;
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export async function npmInstall(dir, spec) {
  const r = await exec(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['install', '--no-audit', '--no-fund', '--save-exact', spec], { cwd: dir, timeoutMs: 5 * 60_000 });
  if (r.code !== 0) throw new Error(`npm install ${spec} in ${dir} failed (exit ${r.code}):\n${r.stderr || r.stdout}`);
}

export function installedVersion(dir, pkg) {
  try {
    return JSON.parse(readFileSync(path.join(dir, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
}

/** A folder with a package.json of its own, so that npm installs there and not in this repository. */
export function ensurePackageJson(dir, name) {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'package.json');
  if (!existsSync(file)) writeFileSync(file, JSON.stringify({ name, private: true }, null, 2) + '\n');
}

/**
 * The fixture workspace `name` (a key of CORPUS_FIXTURES) with its @medplum/core installed (once),
 * the corpus copied in afresh, a .env, and no audit log yet. Returns its path.
 */
export async function prepareCorpusWorkspace(root, name) {
  const version = CORPUS_FIXTURES[name];
  if (!version) throw new Error(`no corpus fixture ${name}`);
  const ws = path.join(cacheDir(root), 'corpus', name);
  ensurePackageJson(ws, `bot-audit-corpus-${name}`);
  if (installedVersion(ws, '@medplum/core') !== version) await npmInstall(ws, `@medplum/core@${version}`);
  const got = installedVersion(ws, '@medplum/core');
  if (got !== version) throw new Error(`@medplum/core ${version} is not installed in ${ws} (found ${got ?? 'nothing'})`);
  for (const entry of ['bots', 'inputs', 'bot-audit.json', 'medplum.config.json', '.env', '.bot-audit']) rmSync(path.join(ws, entry), { recursive: true, force: true });
  cpSync(corpusDir(root), ws, { recursive: true });
  writeFileSync(path.join(ws, '.env'), `CORPUS_API_KEY=${CORPUS_SECRET}\n`);
  return ws;
}
