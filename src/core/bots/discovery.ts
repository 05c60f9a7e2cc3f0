// Finds the bots of a workspace: files that match the bot glob (outside node_modules and .git,
// leaving out *.test.* / *.spec.*) and export a `handler`, merged with the `bots` entries of
// medplum.config.json, each with its settings from bot-audit.json. A matched file that exports
// no handler is a shared module, not a bot. No `vscode`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Filter } from '../query';
import { workspaceRelative } from '../workspace/layout';
import { DEFAULT_BOT_GLOB, EXCLUDED_DIRS, botNameFromPath, inspectBotFile, isBotFile, isSharedModule } from './botFiles';
import {
  type BotAuditConfig,
  type BotSettings,
  type BotSettingsInput,
  type ConfigIssue,
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

export interface DiscoveryOptions {
  /** Overrides the glob of bot-audit.json and the default. */
  glob?: string;
  /** Already-loaded configs (else read from the root). */
  config?: BotAuditConfig;
  medplumConfig?: MedplumConfig;
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

/** Walks `root` and returns the bots. */
export function discoverBots(root: string, opts: DiscoveryOptions = {}): DiscoveryResult {
  const config = opts.config ?? loadBotAuditConfig(root);
  const medplumConfig = opts.medplumConfig ?? loadMedplumConfig(root);
  const glob = opts.glob ?? config.glob ?? DEFAULT_BOT_GLOB;
  const issues: ConfigIssue[] = [...config.issues, ...medplumConfig.issues];
  const maxFiles = opts.maxFiles ?? 50_000;
  const found = new Map<string, BotInfo>();
  const shared: BotInfo[] = [];
  // medplum.config.json's bots are bots whatever they export: no need to read them here.
  const configured = new Set(
    medplumConfig.bots.flatMap((b) => {
      const src = b.source ?? b.dist;
      return src ? [workspaceRelative(root, path.resolve(root, src))] : [];
    }),
  );
  let seen = 0;

  /** A file the glob matched is a bot unless it is readable source without a `handler` export. */
  const isBot = (abs: string, rel: string): boolean => {
    try {
      return !isSharedModule(inspectBotFile(fs.readFileSync(abs)));
    } catch (e) {
      issues.push({ file: rel, field: '', reason: `cannot be read: ${(e as Error).message}` });
      return true; // listed, with the warning, as before
    }
  };

  const walk = (dir: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      issues.push({ file: dir, field: '', reason: `cannot be read: ${(e as Error).message}` });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (seen >= maxFiles) return;
      const abs = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (EXCLUDED_DIRS.includes(e.name)) continue;
        walk(abs);
      } else if (e.isFile()) {
        seen++;
        const rel = workspaceRelative(root, abs);
        if (isBotFile(rel, glob)) {
          const name = botNameFromPath(rel);
          const bot: BotInfo = { name, path: abs, relPath: rel, origin: 'glob', settings: settingsForBot(config, rel, name) };
          if (configured.has(rel) || isBot(abs, rel)) found.set(rel, bot);
          else shared.push(bot);
        }
      }
    }
  };
  walk(root);

  for (const b of medplumConfig.bots) {
    const src = b.source ?? b.dist;
    if (!src) continue;
    const abs = path.resolve(root, src);
    if (!fs.existsSync(abs)) continue; // reported by loadMedplumConfig
    const rel = workspaceRelative(root, abs);
    const prev = found.get(rel);
    const settings = settingsForBot(config, rel, b.name);
    found.set(rel, { name: b.name, id: b.id, path: abs, relPath: rel, origin: prev ? 'both' : 'medplum.config', settings });
  }

  const named = (b: BotInfo): BotInfo => (b.settings.name ? { ...b, name: b.settings.name } : b);
  const bots = [...found.values()].map(named);
  bots.sort((a, b) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0));
  return { root, glob, bots, shared: shared.map(named), issues, config, medplumConfig };
}

/** The bot for a file (absolute or relative to root), with its settings, whether or not it matches the glob. */
export function botForFile(root: string, file: string, opts: Pick<DiscoveryOptions, 'config' | 'medplumConfig'> & { defaults?: BotSettingsInput } = {}): BotInfo {
  const config = opts.config ?? loadBotAuditConfig(root);
  const medplumConfig = opts.medplumConfig ?? loadMedplumConfig(root);
  const abs = path.resolve(root, file);
  const rel = workspaceRelative(root, abs);
  const mp = medplumConfig.bots.find((b) => [b.source, b.dist].some((s) => s && path.resolve(root, s) === abs));
  const baseName = mp?.name ?? botNameFromPath(rel);
  const settings = settingsForBot(config, rel, baseName, opts.defaults);
  return { name: settings.name ?? baseName, id: mp?.id, path: abs, relPath: rel, origin: mp ? 'medplum.config' : 'glob', settings };
}
