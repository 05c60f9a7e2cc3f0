// `npm run test:electron`: the same integration suite in desktop VS Code, through @vscode/test-electron
// (which downloads VS Code from Microsoft the first time, so it needs that network access).
import { cpSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { runTests } from '@vscode/test-electron';
import { ROOT } from './code-server.mjs';

const build = spawnSync(process.execPath, ['esbuild.mjs', '--tests'], { cwd: ROOT, stdio: 'inherit' });
if (build.status !== 0) process.exit(1);
const ws = path.join(mkdtempSync(path.join(os.tmpdir(), 'bot-audit-')), 'workspace');
cpSync(path.join(ROOT, 'examples', 'workspace'), ws, { recursive: true });
try {
  await runTests({
    version: process.env.VSCODE_VERSION ?? '1.100.3',
    extensionDevelopmentPath: ROOT,
    extensionTestsPath: path.join(ROOT, 'out', 'test', 'integration', 'suite', 'index.js'),
    launchArgs: [ws, '--disable-extensions', '--disable-workspace-trust'],
  });
} catch (e) {
  console.error(`The integration suite failed in desktop VS Code: ${e?.message ?? e}`);
  process.exit(1);
}
