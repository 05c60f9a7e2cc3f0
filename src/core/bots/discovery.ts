// Finds the bots of a workspace, for the CLI, the runner and the editor alike: files that match the
// bot glob (outside node_modules and .git, leaving out *.test.* / *.spec.*) and export a `handler`,
// merged with the `bots` entries of medplum.config.json, each with its settings from bot-audit.json.
// A matched file that exports no handler is a shared module, not a bot. No `vscode`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Filter } from '../query';
import { workspaceRelative } from '../workspace/layout';
import { type BotFileContent, DEFAULT_BOT_GLOB, EXCLUDED_DIRS, botNameFromPath, inspectBotFile, isBotFile, isSharedModule } from './botFiles';
import {
  type BotAuditConfig,
  type BotSettings,
  type BotSettingsInput,
  type ConfigIssue,
  type MedplumBotEntry,
  type MedplumConfig,
  loadBotAuditConfig,
  loadMedplumConfig,
  settingsForBot,
} from './config';

/** One bot of the workspace. */
export interface BotInfo {
  /** Display name: the settings' name, else the medplum.config.json name, else the file name. */
  name: string;
  /** Medplum id from medplum.config.json, when there is one. */
  id?: string;
  /** Absolute path of the source file. */
  path: string;
  /** Path relative to the workspace root, `/` separated. */
  relPath: string;
  /** Where it was found. */
  origin: 'glob' | 'medplum.config' | 'both';
  settings: BotSettings;
}

/** What a bot's file holds: source (with its handler's line), binary or empty; or why it cannot be read. */
export type BotFileStatus = BotFileContent | { kind: 'unreadable'; reason: string };

/**
 * Lists the files under `root` that may be bots, as `/`-separated paths relative to it; discovery
 * keeps those that isBotFile matches with `glob`.
 */
export type FileLister = (root: string, glob: string) => Promise<string[]>;

export interface DiscoveryOptions {
  /** Overrides the glob of bot-audit.json and the default. */
  glob?: string;
  /** Already-loaded configs (else read from the root). */
  config?: BotAuditConfig;
  medplumConfig?: MedplumConfig;
  /** What every bot's settings start from, under bot-audit.json's (the editor's default timeout, …). */
  defaults?: BotSettingsInput;
  /** Lists the files (default: a walk of `root` outside node_modules and .git, see maxFiles). */
  listFiles?: FileLister;
  /** Stop walking after this many files (default 50,000). */
  maxFiles?: number;
}

export interface DiscoveryResult {
  root: string;
  glob: string;
  bots: BotInfo[];
  /**
   * Files the glob matched that export no `handler` (shared modules such as `bots/helpers.ts`):
   * not bots, but still runnable when asked for by path.
   */
  shared: BotInfo[];
  /** What the file of each bot and shared module holds, by relPath. */
  content: ReadonlyMap<string, BotFileStatus>;
  /** Problems in bot-audit.json / medplum.config.json, and unreadable folders and bot files. */
  issues: ConfigIssue[];
  config: BotAuditConfig;
  medplumConfig: MedplumConfig;
}

/** The id the audit log uses for a bot: its Medplum id, else its relative path. */
export function botEntityId(bot: Pick<BotInfo, 'id' | 'relPath'>): string {
  return bot.id ?? bot.relPath;
}

/** The filter for a bot's runs: EXECUTED entries filed under its entity id (as the runner writes them). */
export function botRunsFilter(entityId: string): Filter[] {
  return [
    { column: 'action', op: 'oneOf', value: ['EXECUTED'] },
    { column: 'entityName', op: 'equals', value: 'Bot' },
    { column: 'entityId', op: 'equals', value: entityId },
  ];
}

/** Finds the bots of the workspace at `root`. */
export async function discoverBots(root: string, opts: DiscoveryOptions = {}): Promise<DiscoveryResult> {
  const config = opts.config ?? loadBotAuditConfig(root);
  const medplumConfig = opts.medplumConfig ?? loadMedplumConfig(root);
  const glob = opts.glob ?? config.glob ?? DEFAULT_BOT_GLOB;
  const issues: ConfigIssue[] = [...config.issues, ...medplumConfig.issues];
  const listed = opts.listFiles ? await opts.listFiles(root, glob) : await walkFiles(root, opts.maxFiles ?? 50_000, issues);
  const matched = listed.filter((rel) => isBotFile(rel, glob));
  // medplum.config.json's bots are bots whatever they export.
  const configured = new Map<string, { entry: MedplumBotEntry; abs: string }>();
  for (const b of medplumConfig.bots) {
    const src = b.source ?? b.dist;
    if (!src) continue;
    const abs = path.resolve(root, src);
    if (!fs.existsSync(abs)) continue; // reported by loadMedplumConfig
    configured.set(workspaceRelative(root, abs), { entry: b, abs });
  }
  // Read straight from disk, many at a time (not all at once: a broad glob would run out of file
  // handles): hundreds of bots take tens of milliseconds.
  const files = [...new Set([...matched, ...configured.keys()])];
  const statuses = await mapLimited(files, 64, (rel) => readBotFile(path.join(root, rel)));
  const content = new Map(files.map((rel, i) => [rel, statuses[i]]));

  const found = new Map<string, BotInfo>();
  const shared: BotInfo[] = [];
  for (const rel of matched) {
    const status = content.get(rel)!;
    // A file the glob matched is a bot unless it is readable source without a `handler` export;
    // one that cannot be read is listed, with a warning.
    if (status.kind === 'unreadable' && !configured.has(rel)) issues.push({ file: rel, field: '', reason: `cannot be read: ${status.reason}` });
    const name = botNameFromPath(rel);
    const bot: BotInfo = { name, path: path.join(root, rel), relPath: rel, origin: 'glob', settings: settingsForBot(config, rel, name, opts.defaults) };
    if (configured.has(rel) || !isSharedModule(status)) found.set(rel, bot);
    else shared.push(bot);
  }
  for (const [rel, { entry: b, abs }] of configured) {
    const settings = settingsForBot(config, rel, b.name, opts.defaults);
    found.set(rel, { name: b.name, id: b.id, path: abs, relPath: rel, origin: found.has(rel) ? 'both' : 'medplum.config', settings });
  }

  const named = (b: BotInfo): BotInfo => (b.settings.name ? { ...b, name: b.settings.name } : b);
  const bots = [...found.values()].map(named);
  bots.sort((a, b) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0));
  return { root, glob, bots, shared: shared.map(named), content, issues, config, medplumConfig };
}

/** `fn` of each item, at most `limit` at a time; the results in the items' order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** What a bot's file holds, read from disk. */
async function readBotFile(file: string): Promise<BotFileStatus> {
  try {
    return inspectBotFile(await fs.promises.readFile(file));
  } catch (e) {
    return { kind: 'unreadable', reason: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * The files under `root` (relative, `/`-separated), folder by folder in name order, leaving out
 * node_modules and .git; at most `maxFiles`. A folder that cannot be read is an issue.
 */
async function walkFiles(root: string, maxFiles: number, issues: ConfigIssue[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(dir, { withFileTypes: true });
    } catch (e) {
      issues.push({ file: dir, field: '', reason: `cannot be read: ${(e as Error).message}` });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (out.length >= maxFiles) return;
      const abs = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (!EXCLUDED_DIRS.includes(e.name)) await walk(abs);
      } else if (e.isFile()) {
        out.push(workspaceRelative(root, abs));
      }
    }
  };
  await walk(root);
  return out;
}
