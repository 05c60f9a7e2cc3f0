// `npm start`: builds Bot Audit (and keeps rebuilding on change), then opens examples/workspace in a
// real VS Code with the extension loaded. A desktop `code` on PATH is used when there is one;
// otherwise code-server (VS Code 1.100 in the browser; 1.139 with --vscode 1.139 or BOT_AUDIT_VSCODE=1.139)
// is installed once into .cache/ and started on 127.0.0.1. Ctrl+C stops everything this started.
//   --port N (or PORT=N)   the code-server port (default 8080)
//   --restricted           do not trust the workspace (to try Restricted Mode)
//   --folder DIR           open another folder instead of examples/workspace
//   --vscode 1.100|1.139   which VS Code code-server brings (default 1.100)
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';

const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
// code-server.mjs reads BOT_AUDIT_VSCODE when it loads.
if (opt('--vscode')) process.env.BOT_AUDIT_VSCODE = opt('--vscode');
const { HarnessError, ROOT, CACHE, TARGET, registerCleanup, remoteUri, startCodeServer, workbenchUrl } = await import('./code-server.mjs');
const port = Number(opt('--port') ?? process.env.PORT ?? 8080);
const restricted = argv.includes('--restricted');
const folder = path.resolve(opt('--folder') ?? path.join(ROOT, 'examples', 'workspace'));

function build() {
  const r = spawnSync(process.execPath, ['esbuild.mjs'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new HarnessError('The build failed; fix the errors above and run `npm start` again.');
}

function watch() {
  const w = spawn(process.execPath, ['esbuild.mjs', '--watch'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'], detached: true });
  registerCleanup(async () => {
    try { process.kill(-w.pid, 'SIGTERM'); } catch { /* gone */ }
  });
}

function hasDesktopCode() {
  return !process.env.BOT_AUDIT_USE_CODE_SERVER && spawnSync('sh', ['-c', 'command -v code'], { encoding: 'utf8' }).status === 0;
}

async function main() {
  build();
  if (hasDesktopCode()) {
    console.log(`Opening ${folder} in desktop VS Code with the extension from ${ROOT}`);
    spawnSync('code', [`--extensionDevelopmentPath=${ROOT}`, folder], { stdio: 'inherit' });
    return;
  }
  watch();
  const startDir = TARGET.name === '1.100' ? 'start' : `start-${TARGET.name}`;
  const server = await startCodeServer({
    folder,
    port,
    trust: !restricted,
    // A window state of its own per VS Code (1.100's in .cache/start as before).
    userDataDir: path.join(CACHE, startDir, 'user-data'),
    extensionsDir: path.join(CACHE, startDir, 'extensions'),
  }).catch((e) => {
    if (/already in use/.test(e.message)) throw new HarnessError(`Port ${port} on 127.0.0.1 is taken: run \`npm start -- --port 8123\` (or set PORT).`);
    throw e;
  });
  const url = workbenchUrl(server, folder, [
    ['extensionDevelopmentPath', remoteUri(server, ROOT)],
    ['skipWelcome', 'true'],
  ]);
  console.log(`\nBot Audit is running in VS Code ${TARGET.vscode} (code-server ${TARGET.codeServer}, pid ${server.proc.pid}).`);
  console.log(`Open this URL in a browser:\n\n  ${url}\n`);
  console.log('The extension rebuilds on change: reload the window (Developer: Reload Window) to pick it up.');
  console.log('Press Ctrl+C to stop.');
  await new Promise((resolve) => server.proc.once('exit', resolve));
  console.log('code-server stopped.');
}

main().catch((e) => {
  console.error(e instanceof HarnessError ? e.message : (e?.stack ?? e));
  process.exit(1);
});
