// Which workspace files are bots, and whether a bot file can be read as source.
// Pure: no `vscode`, no I/O. The tree, the runner and the CLI share it.
import { findHandlerLine } from './handlerExport';

export { exportsHandler, findHandlerLine } from './handlerExport';

/** The default glob for bot files, relative to a workspace folder. */
export const DEFAULT_BOT_GLOB = '**/bots/**/*.{ts,mts,cts,js,mjs,cjs}';
/** Folders never searched for bots. */
export const EXCLUDED_DIRS = ['node_modules', '.git'];

const BOT_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];

/**
 * Turns a glob with `**`, `*`, `?` and `{a,b}` into an anchored RegExp over `/`-separated paths.
 * `**\/` matches zero or more whole folders.
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  let inBraces = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const slash = glob[i + 2] === '/';
        re += slash ? '(?:[^/]*/)*' : '.*';
        i += slash ? 2 : 1;
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '{') {
      inBraces++;
      re += '(?:';
    } else if (c === '}' && inBraces > 0) {
      inBraces--;
      re += ')';
    } else if (c === ',' && inBraces > 0) {
      re += '|';
    } else {
      re += c.replace(/[.+^$()|[\]\\]/g, '\\$&');
    }
  }
  if (inBraces) throw new Error(`Unbalanced "{" in glob: ${glob}`);
  return new RegExp(`^${re}$`);
}

function toPosix(p: string): string {
  return p.replace(/\\/g, '/').replace(/^\.\//, '');
}

/**
 * Whether a path relative to the workspace root is a bot file: it matches the glob, lies
 * outside node_modules and .git, and is not a test or spec file.
 */
export function isBotFile(relPath: string, glob: string = DEFAULT_BOT_GLOB): boolean {
  const p = toPosix(relPath);
  const parts = p.split('/');
  if (parts.some((s) => EXCLUDED_DIRS.includes(s))) return false;
  const base = parts[parts.length - 1];
  if (/\.(test|spec)\.[^.]+$/.test(base)) return false;
  if (base.endsWith('.d.ts') || base.endsWith('.d.mts') || base.endsWith('.d.cts')) return false;
  return compiledGlob(glob).test(p);
}

let lastGlob: { glob: string; re: RegExp } | undefined;

/** globToRegExp of the glob asked last, kept: discovery asks for the same one for every file. */
function compiledGlob(glob: string): RegExp {
  if (lastGlob?.glob !== glob) lastGlob = { glob, re: globToRegExp(glob) };
  return lastGlob.re;
}

/** The bot's display name: its file name without the extension. */
export function botNameFromPath(relPath: string): string {
  const base = toPosix(relPath).split('/').pop() ?? relPath;
  const ext = BOT_EXTENSIONS.find((e) => base.endsWith(e));
  return ext ? base.slice(0, -ext.length) : base;
}

/** The folder part of a relative path ('' at the root). */
export function folderOf(relPath: string): string {
  const p = toPosix(relPath);
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

export type BotFileContent =
  | { kind: 'source'; handlerLine?: number }
  | { kind: 'binary' }
  | { kind: 'empty' };

/**
 * Looks at a bot file's bytes: binary files (a NUL byte, or invalid UTF-8 in the first 8 KiB)
 * are not source, so the tree can show them as such instead of breaking.
 * For source, finds the line (0-based) where `handler` is exported, when it is.
 */
export function inspectBotFile(bytes: Uint8Array): BotFileContent {
  if (bytes.length === 0) return { kind: 'empty' };
  const head = bytes.subarray(0, 8192);
  if (head.includes(0)) return { kind: 'binary' };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { kind: 'binary' };
  }
  const line = findHandlerLine(text);
  return line === undefined ? { kind: 'source' } : { kind: 'source', handlerLine: line };
}

/**
 * Whether a file matched by the bot glob is a shared module rather than a bot: readable source
 * that exports no `handler` (say `bots/helpers.ts`, imported by bots). It is not listed as a bot
 * unless medplum.config.json names it. A binary or empty file is not source, so it stays listed,
 * with a warning; so does a file that cannot be read.
 */
export function isSharedModule(content: { kind: string; handlerLine?: number }): boolean {
  return content.kind === 'source' && content.handlerLine === undefined;
}
