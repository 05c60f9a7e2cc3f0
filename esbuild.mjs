// Builds Bot Audit in one run:
//  - dist/extension.js: the extension host bundle (node, cjs, `vscode` external), with sql-wasm.wasm beside it;
//  - dist/webview/*.js|css: the webview bundle (browser), plus the codicon font;
//  - with --tests: out/test/** (unit tests, the integration suite), each test file bundled with `vscode`
//    and all packages external, so that mocha runs them in plain Node or inside the extension host.
// Flags: --watch, --production (minified, no source maps), --tests. Any error exits non-zero.
import * as esbuild from 'esbuild';
import { cpSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

const args = new Set(process.argv.slice(2));
const watch = args.has('--watch');
const production = args.has('--production');
const tests = args.has('--tests');

/** Logs build results the way the problem matcher `$esbuild-watch` expects. */
const reporter = {
  name: 'reporter',
  setup(build) {
    build.onStart(() => {
      if (watch) console.log('[watch] build started');
    });
    build.onEnd((result) => {
      for (const { text, location } of result.errors) {
        console.error(`✘ [ERROR] ${text}`);
        if (location) console.error(`    ${location.file}:${location.line}:${location.column}:`);
      }
      if (watch) console.log('[watch] build finished');
    });
  },
};

/** Copies the static files each bundle needs beside it. */
const copyAssets = {
  name: 'copy-assets',
  setup(build) {
    build.onEnd(() => {
      mkdirSync('dist/webview', { recursive: true });
      cpSync('node_modules/sql.js/dist/sql-wasm.wasm', 'dist/sql-wasm.wasm');
      cpSync('node_modules/@vscode/codicons/dist/codicon.css', 'dist/webview/codicon.css');
      cpSync('node_modules/@vscode/codicons/dist/codicon.ttf', 'dist/webview/codicon.ttf');
    });
  },
};

function listFiles(dir, pattern) {
  const out = [];
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return out;
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p, pattern));
    else if (pattern.test(name)) out.push(p);
  }
  return out;
}

const common = {
  bundle: true,
  minify: production,
  sourcemap: !production,
  sourcesContent: false,
  logLevel: 'silent',
  plugins: [reporter],
};

const configs = [
  {
    ...common,
    entryPoints: { extension: 'src/extension.ts', 'bot-worker': 'src/core/runner/worker.ts' },
    outdir: 'dist',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    plugins: [reporter, copyAssets],
  },
  {
    ...common,
    entryPoints: { auditLog: 'webview/auditLog/main.ts' },
    outdir: 'dist/webview',
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    loader: { '.css': 'css' },
  },
];

if (tests) {
  const entryPoints = [
    ...listFiles('test/unit', /\.test\.ts$/),
    ...listFiles('test/integration', /\.ts$/),
    ...listFiles('test/fixtures', /\.ts$/),
    ...listFiles('bench', /\.ts$/),
  ];
  configs.push({
    ...common,
    sourcemap: true,
    entryPoints,
    outbase: '.',
    outdir: 'out',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    packages: 'external',
    external: ['vscode'],
  });
}

// Entry points that do not exist yet are left out, so a partial tree still builds.
for (const c of configs) {
  if (!Array.isArray(c.entryPoints)) {
    c.entryPoints = Object.fromEntries(Object.entries(c.entryPoints).filter(([, p]) => statSync(p, { throwIfNoEntry: false })));
  }
}

// A production build starts from an empty dist/, so no stale file (a source map) is packaged.
if (production) rmSync('dist', { recursive: true, force: true });

try {
  const contexts = await Promise.all(configs.map((c) => esbuild.context(c)));
  if (watch) {
    await Promise.all(contexts.map((c) => c.watch()));
  } else {
    const results = await Promise.allSettled(contexts.map((c) => c.rebuild()));
    await Promise.all(contexts.map((c) => c.dispose()));
    const failed = results.filter((r) => r.status === 'rejected');
    if (failed.length) {
      for (const f of failed) console.error(f.reason?.message ?? f.reason);
      process.exit(1);
    }
  }
} catch (e) {
  console.error(e?.message ?? e);
  process.exit(1);
}
