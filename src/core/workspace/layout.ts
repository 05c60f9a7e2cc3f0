// Where Bot Audit keeps its files in a workspace. Shared by the extension and the CLI.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The folder at the workspace root that holds the audit log and its helpers. */
export const DATA_DIR = '.bot-audit';
export const DB_FILE = 'audit.db';

/**
 * A file's path relative to the workspace root, `/`-separated on every platform: how bots and
 * workspace files are named in the log and in bot-audit.json.
 */
export function workspaceRelative(root: string, file: string): string {
  return path.relative(root, file).split(path.sep).join('/');
}

/** The default database path for a workspace root. */
export function defaultDbPath(root: string): string {
  return path.join(root, DATA_DIR, DB_FILE);
}

/**
 * The database path for a workspace: `configured` (absolute, or relative to the root) or the default.
 */
export function resolveDbPath(root: string, configured?: string): string {
  if (!configured || !configured.trim()) return defaultDbPath(root);
  return path.resolve(root, configured.trim());
}

/**
 * Makes sure the database's folder exists. When the folder is Bot Audit's own `.bot-audit/`,
 * it gets a `.gitignore` that ignores everything in it, so the log is never committed by accident.
 */
export function ensureDataDir(dbPath: string): void {
  const dir = path.dirname(dbPath);
  fs.mkdirSync(dir, { recursive: true });
  if (path.basename(dir) === DATA_DIR) {
    const ignore = path.join(dir, '.gitignore');
    try {
      fs.writeFileSync(ignore, '# Bot Audit keeps its audit log here; none of it belongs in git.\n*\n', { flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}
