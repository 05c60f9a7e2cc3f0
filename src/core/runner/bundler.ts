// Bundles a bot with esbuild (CommonJS, node, its relative imports and the workspace's
// node_modules inlined, inline source map with sources relative to the workspace root), cached
// by content: an entry is reused while every input file has the same mtime and size, or, when a
// file was touched, the same content hash. The bundle's hash is the hash of its inputs' paths
// and contents, so going back to earlier content gives the earlier hash again, and a worker
// that already compiled the bundle with that hash is not sent the code (nor compiles it) again.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import satisfies from 'semver/functions/satisfies';
import minVersion from 'semver/ranges/min-version';

type Esbuild = typeof import('esbuild');
let esbuildModule: Esbuild | undefined;

/**
 * esbuild is loaded at run time (a native binary cannot be bundled into the extension), from
 * `esbuildPath` when given, else from node_modules.
 */
export function loadEsbuild(esbuildPath?: string): Esbuild {
  if (esbuildModule) return esbuildModule;
  const id = esbuildPath ?? 'esbuild';
  // A non-literal require, which bundlers leave alone.
  esbuildModule = (require as NodeJS.Require)(id) as Esbuild;
  return esbuildModule;
}

export interface BotBundle {
  /** sha256 of the bundle's inputs' contents and the build options. */
  hash: string;
  code: string;
  /** Absolute paths of every file the bundle was built from. */
  inputs: string[];
  /** How long bundling took (0 on a cache hit). */
  buildMs: number;
  cached: boolean;
  /** Bundled packages that declare the Node versions they need (`engines.node`), such as @medplum/core. */
  engines?: PackageEngine[];
}

export interface PackageEngine {
  name: string;
  version: string;
  /** Its `engines.node` range. */
  node: string;
}

/** Packages whose `engines.node` a bot's run is checked against. */
const CHECKED_ENGINES = /[\\/]node_modules[\\/](@medplum[\\/][^\\/]+)[\\/]/;

/** The bundled packages (of CHECKED_ENGINES) with their declared Node range. */
function enginesOf(inputs: string[]): PackageEngine[] {
  const dirs = new Map<string, string>();
  for (const f of inputs) {
    const m = CHECKED_ENGINES.exec(f);
    if (m) dirs.set(f.slice(0, m.index + m[0].length), m[1].replace(/\\/g, '/'));
  }
  const out: PackageEngine[] = [];
  for (const [dir, name] of dirs) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version?: string; engines?: { node?: string } };
      if (pkg.engines?.node) out.push({ name, version: pkg.version ?? '?', node: pkg.engines.node });
    } catch {
      /* no package.json: nothing declared */
    }
  }
  return out;
}

/**
 * One plain line when a bundled package needs a newer Node than the one that runs the bot (such
 * as @medplum/core 5 on Node 20), else undefined.
 */
export function nodeVersionProblem(engines: PackageEngine[] | undefined, nodeVersion = process.versions.node): string | undefined {
  for (const e of engines ?? []) {
    let ok = true;
    try {
      ok = satisfies(nodeVersion, e.node, { includePrerelease: true });
    } catch {
      ok = true; // a range semver cannot read is not ours to enforce
    }
    if (!ok) {
      let min: string | undefined;
      try {
        min = minVersion(e.node)?.version;
      } catch {
        min = undefined;
      }
      const major = Number(e.version.split('.')[0]);
      const older = major > 1 ? ` or use ${e.name} ${major - 1}.x in this workspace` : '';
      return `${e.name} ${e.version} needs Node ${e.node}, but this bot runs on Node ${nodeVersion}: run it with Node ${min ?? 'that matches'}${min ? ' or newer' : ''} (the CLI under that Node; in VS Code, a release whose extension host has it)${older}`;
    }
  }
  return undefined;
}

export class BundleError extends Error {
  constructor(
    message: string,
    readonly errors: { text: string; file?: string; line?: number; column?: number }[],
  ) {
    super(message);
    this.name = 'BundleError';
  }
}

interface InputStamp {
  mtimeMs: number;
  size: number;
  contentHash: string;
}

interface CacheEntry {
  bundle: BotBundle;
  stamps: Map<string, InputStamp>;
}

const BUILD_OPTIONS_VERSION = 'v1-cjs-node20-inline';

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(typeof data === 'string' ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest('hex');
}

export interface BundlerOptions {
  esbuildPath?: string;
  /** Bundles kept in memory (default 100). */
  maxEntries?: number;
}

export class BotBundler {
  private readonly byPath = new Map<string, CacheEntry>();
  private readonly byContent = new Map<string, BotBundle>();
  private readonly maxEntries: number;
  private readonly inflight = new Map<string, Promise<BotBundle>>();

  constructor(private readonly opts: BundlerOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 100;
  }

  /** The bundle of `botPath`, built or from the cache. Throws BundleError when esbuild fails. */
  async bundle(botPath: string, root: string): Promise<BotBundle> {
    const key = `${root}\0${botPath}`;
    const hit = this.checkCache(key);
    if (hit) return hit;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.build(key, botPath, root).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  /** Starts esbuild's service ahead of the first bundle (it is a child process; about 50–100 ms). */
  async warmUp(): Promise<void> {
    await loadEsbuild(this.opts.esbuildPath).transform('');
  }

  /** Forgets every cached bundle. */
  clear(): void {
    this.byPath.clear();
    this.byContent.clear();
  }

  private checkCache(key: string): BotBundle | undefined {
    const entry = this.byPath.get(key);
    if (!entry) return undefined;
    for (const [file, stamp] of entry.stamps) {
      let st: fs.Stats;
      try {
        st = fs.statSync(file);
      } catch {
        return undefined;
      }
      if (st.mtimeMs === stamp.mtimeMs && st.size === stamp.size) continue;
      // Touched: same content is still a hit.
      let h: string;
      try {
        h = sha256(fs.readFileSync(file));
      } catch {
        return undefined;
      }
      if (h !== stamp.contentHash) return undefined;
      stamp.mtimeMs = st.mtimeMs;
      stamp.size = st.size;
    }
    return { ...entry.bundle, cached: true, buildMs: 0 };
  }

  private async build(key: string, botPath: string, root: string): Promise<BotBundle> {
    const esbuild = loadEsbuild(this.opts.esbuildPath);
    const t0 = performance.now();
    let result: import('esbuild').BuildResult<{ write: false; metafile: true }>;
    try {
      result = await esbuild.build({
        entryPoints: [botPath],
        absWorkingDir: root,
        outfile: path.join(root, '__bot__.js'),
        bundle: true,
        write: false,
        metafile: true,
        platform: 'node',
        format: 'cjs',
        target: 'node20',
        sourcemap: 'inline',
        sourcesContent: false,
        keepNames: true,
        logLevel: 'silent',
        nodePaths: [path.join(root, 'node_modules')],
      });
    } catch (e) {
      const errors = ((e as { errors?: import('esbuild').Message[] }).errors ?? []).map((m) => ({
        text: m.text,
        file: m.location ? path.resolve(root, m.location.file) : undefined,
        line: m.location?.line,
        column: m.location ? m.location.column + 1 : undefined,
      }));
      const message = errors.length
        ? errors.map((x) => (x.file ? `${x.file}:${x.line}:${x.column}: ${x.text}` : x.text)).join('\n')
        : (e as Error).message;
      throw new BundleError(`The bot could not be bundled:\n${message}`, errors);
    }
    const code = sourcesUnderRoot(result.outputFiles[0].text, root);
    const inputs = Object.keys(result.metafile.inputs).map((f) => path.resolve(root, f.replace(/^[a-z]+:/, '')));
    const stamps = new Map<string, InputStamp>();
    const parts: string[] = [BUILD_OPTIONS_VERSION, botPath];
    for (const file of inputs.sort()) {
      try {
        const st = fs.statSync(file);
        const contentHash = sha256(fs.readFileSync(file));
        stamps.set(file, { mtimeMs: st.mtimeMs, size: st.size, contentHash });
        parts.push(`${file}\0${contentHash}`);
      } catch {
        /* a virtual input */
      }
    }
    const hash = sha256(parts.join('\n'));
    const known = this.byContent.get(hash);
    const bundle: BotBundle = known ? { ...known } : { hash, code, inputs, buildMs: 0, cached: false, engines: enginesOf(inputs) };
    bundle.buildMs = performance.now() - t0;
    bundle.cached = false;
    if (this.byPath.size >= this.maxEntries) this.byPath.delete(this.byPath.keys().next().value as string);
    if (this.byContent.size >= this.maxEntries) this.byContent.delete(this.byContent.keys().next().value as string);
    this.byPath.set(key, { bundle, stamps });
    this.byContent.set(hash, bundle);
    return bundle;
  }
}

const INLINE_MAP = /\/\/# sourceMappingURL=data:application\/json;(?:charset=utf-8;)?base64,([A-Za-z0-9+/=]+)\s*$/;

/**
 * The bundle's code with its inline source map's sources as absolute `file://` URLs (esbuild
 * writes them relative to the workspace root). A debugger resolves them without knowing the root
 * or where the bundle "is" (it is compiled from memory, under a name of its own), so breakpoints in
 * the bot's TypeScript files, and in the modules it imports, bind. Code without a map is returned as it is.
 */
export function withAbsoluteSources(code: string, root: string): string {
  return withInlineMap(code, (map) => {
    const base = path.resolve(root, map.sourceRoot ?? '');
    map.sources = (map.sources ?? []).map((s) => (isUrl(s) ? s : pathToFileURL(path.resolve(base, s)).href));
    delete map.sourceRoot;
  });
}

/**
 * The bundle's code with its inline source map's sources under `root` as it was given. esbuild
 * names each file by its real path, so under a root reached through a symbolic link (a symlinked
 * project folder, macOS's /tmp) the sources lie outside the root as the editor sees it: its
 * breakpoints, set on the paths it shows, never bound in a debugged bot, and the stack lines of a
 * run named files outside the workspace. Sources outside the root's real path are left as they are.
 */
export function sourcesUnderRoot(code: string, root: string): string {
  const given = path.resolve(root);
  let real: string;
  try {
    real = fs.realpathSync(given);
  } catch {
    return code;
  }
  if (real === given) return code;
  return withInlineMap(code, (map) => {
    const base = path.resolve(given, map.sourceRoot ?? '');
    map.sources = (map.sources ?? []).map((s) => {
      if (isUrl(s)) return s;
      const inReal = path.relative(real, path.resolve(base, s));
      if (inReal.startsWith('..') || path.isAbsolute(inReal)) return s;
      return path.relative(base, path.join(given, inReal)).split(path.sep).join('/');
    });
  });
}

/** A source that is a URL (`file:`, `webpack:`…), not a path (`C:\\…` is a path). */
function isUrl(s: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(s) && !/^[a-z]:[\\/]/i.test(s);
}

/** `code` with its inline source map changed by `edit`; as it is without one, or with one that does not parse. */
function withInlineMap(code: string, edit: (map: { sources?: string[]; sourceRoot?: string }) => void): string {
  const m = INLINE_MAP.exec(code);
  if (!m) return code;
  let map: { sources?: string[]; sourceRoot?: string };
  try {
    map = JSON.parse(Buffer.from(m[1], 'base64').toString('utf8')) as typeof map;
  } catch {
    return code;
  }
  edit(map);
  return `${code.slice(0, m.index)}//# sourceMappingURL=data:application/json;base64,${Buffer.from(JSON.stringify(map), 'utf8').toString('base64')}\n`;
}
