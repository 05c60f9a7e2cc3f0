// Per-bot settings: one place, `bot-audit.json` at the workspace root, plus the `bots` entries
// of `medplum.config.json` (name, id, source, dist). Both are validated; a bad file gives a typed
// list of issues (file, field, reason) instead of a throw. Pure data + fs reads, no `vscode`.
//
// bot-audit.json:
// {
//   "glob": "**/bots/**/*.{ts,js}",            // optional, overrides the default bot glob
//   "bots": {
//     "bots/hello-bot.ts": {                     // a path relative to the root, or a bot name
//       "name": "hello",                         // display name
//       "timeout": 10,                           // seconds (default 10)
//       "memoryLimitMb": 256,                    // default 256
//       "auditEventTrigger": "always",           // always | never | on-error | on-output
//       "auditEventDestination": ["resource"],   // ["resource"], ["log"], both, or a single string
//       "contentType": "application/json",
//       "inputs": { "ada": { "name": "Ada" }, "from-file": { "file": "inputs/hello.json" } },
//       "permissions": {                         // opt-ins beyond the sandbox's defaults (see BotPermissions)
//         "childProcess": true,                  // may start child processes (they are not sandboxed)
//         "fsWrite": ["out"]                     // may write these folders/files (relative to the root)
//       }
//     }
//   }
// }
import * as fs from 'node:fs';
import * as path from 'node:path';

export const BOT_AUDIT_CONFIG_FILE = 'bot-audit.json';
export const MEDPLUM_CONFIG_FILE = 'medplum.config.json';

export const AUDIT_EVENT_TRIGGERS = ['always', 'never', 'on-error', 'on-output'] as const;
export type AuditEventTrigger = (typeof AUDIT_EVENT_TRIGGERS)[number];
export const AUDIT_EVENT_DESTINATIONS = ['resource', 'log'] as const;
export type AuditEventDestination = (typeof AUDIT_EVENT_DESTINATIONS)[number];

export const CONTENT_TYPES = {
  JSON: 'application/json',
  FHIR_JSON: 'application/fhir+json',
  TEXT: 'text/plain',
  HL7_V2: 'x-application/hl7-v2+er7',
} as const;
export const KNOWN_CONTENT_TYPES: readonly string[] = Object.values(CONTENT_TYPES);

export const DEFAULT_TIMEOUT_S = 10;
export const DEFAULT_MEMORY_LIMIT_MB = 256;

/** One problem in a settings file. */
export interface ConfigIssue {
  /** Absolute path of the file. */
  file: string;
  /** The field, as a path: `bots["bots/hello.ts"].timeout`; '' for the whole file. */
  field: string;
  reason: string;
}

/** A named sample input: a literal value, or a file relative to the workspace root. */
export type SampleInput = { value: unknown } | { file: string };

/**
 * What a bot may do beyond the defaults. By default a bot's process may read the workspace (with its
 * node_modules) and its own temporary folder, write only that temporary folder, and use the network;
 * it may not start processes or workers, load native addons, or write anywhere else. Each opt-in is
 * recorded on every entry of the bot's runs.
 */
export interface BotPermissions {
  /** Child processes (they run outside the sandbox: the opt-in trusts them). */
  childProcess?: boolean;
  /** Files or folders the bot may write (and read), relative to the workspace root or absolute. */
  fsWrite?: string[];
}

/** Settings of one bot as written in bot-audit.json (every field optional). */
export interface BotSettingsInput {
  name?: string;
  timeout?: number;
  memoryLimitMb?: number;
  auditEventTrigger?: AuditEventTrigger;
  auditEventDestination?: AuditEventDestination[];
  contentType?: string;
  inputs?: Record<string, SampleInput>;
  /** Identifiers (`system|value`) by which other bots' `executeBot` can name this one, as a Medplum Bot's identifiers. */
  identifier?: string[];
  permissions?: BotPermissions;
}

/** Settings of one bot with every default applied. */
export interface BotSettings {
  name?: string;
  /** Seconds. */
  timeout: number;
  memoryLimitMb: number;
  auditEventTrigger: AuditEventTrigger;
  auditEventDestination: AuditEventDestination[];
  contentType: string;
  inputs: Record<string, SampleInput>;
  identifier?: string[];
  /** Opt-ins beyond the sandbox's defaults; absent: none. */
  permissions?: BotPermissions;
}

export interface BotAuditConfig {
  file: string;
  /** False when the file does not exist (then everything is default). */
  exists: boolean;
  glob?: string;
  bots: Record<string, BotSettingsInput>;
  issues: ConfigIssue[];
}

export interface MedplumBotEntry {
  name: string;
  id?: string;
  source?: string;
  dist?: string;
}

export interface MedplumConfig {
  file: string;
  exists: boolean;
  bots: MedplumBotEntry[];
  issues: ConfigIssue[];
}

export const DEFAULT_BOT_SETTINGS: Readonly<BotSettings> = Object.freeze({
  timeout: DEFAULT_TIMEOUT_S,
  memoryLimitMb: DEFAULT_MEMORY_LIMIT_MB,
  auditEventTrigger: 'always',
  auditEventDestination: ['resource'],
  contentType: CONTENT_TYPES.JSON,
  inputs: {},
}) as BotSettings;

export function formatConfigIssue(i: ConfigIssue): string {
  return `${i.file}${i.field ? ` (${i.field})` : ''}: ${i.reason}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readJsonFile(file: string, issues: ConfigIssue[]): { exists: boolean; value?: unknown } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { exists: false };
    issues.push({ file, field: '', reason: `cannot be read: ${(e as Error).message}` });
    return { exists: true };
  }
  try {
    return { exists: true, value: JSON.parse(text.replace(/^\uFEFF/, '')) };
  } catch (e) {
    issues.push({ file, field: '', reason: `is not valid JSON: ${(e as Error).message}` });
    return { exists: true };
  }
}

const fieldKey = (k: string): string => `[${JSON.stringify(k)}]`;

/** Validates the settings of one bot; pushes issues and returns what was valid. */
export function validateBotSettings(value: unknown, file: string, field: string, issues: ConfigIssue[]): BotSettingsInput {
  const out: BotSettingsInput = {};
  if (!isObject(value)) {
    issues.push({ file, field, reason: 'must be an object' });
    return out;
  }
  const known = new Set(['name', 'timeout', 'memoryLimitMb', 'auditEventTrigger', 'auditEventDestination', 'contentType', 'inputs', 'identifier', 'permissions']);
  for (const k of Object.keys(value)) {
    if (!known.has(k)) issues.push({ file, field: `${field}.${k}`, reason: `unknown setting (known: ${[...known].join(', ')})` });
  }
  if (value.name !== undefined) {
    if (typeof value.name !== 'string' || !value.name.trim()) issues.push({ file, field: `${field}.name`, reason: 'must be a non-empty string' });
    else out.name = value.name;
  }
  if (value.timeout !== undefined) {
    if (typeof value.timeout !== 'number' || !Number.isFinite(value.timeout) || value.timeout <= 0 || value.timeout > 3600)
      issues.push({ file, field: `${field}.timeout`, reason: 'must be a number of seconds, greater than 0 and at most 3600' });
    else out.timeout = value.timeout;
  }
  if (value.memoryLimitMb !== undefined) {
    const m = value.memoryLimitMb;
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 16 || m > 16384)
      issues.push({ file, field: `${field}.memoryLimitMb`, reason: 'must be a whole number of MB between 16 and 16384' });
    else out.memoryLimitMb = m;
  }
  if (value.auditEventTrigger !== undefined) {
    const t = value.auditEventTrigger;
    if (typeof t !== 'string' || !(AUDIT_EVENT_TRIGGERS as readonly string[]).includes(t))
      issues.push({ file, field: `${field}.auditEventTrigger`, reason: `must be one of ${AUDIT_EVENT_TRIGGERS.join(', ')}` });
    else out.auditEventTrigger = t as AuditEventTrigger;
  }
  if (value.auditEventDestination !== undefined) {
    const d = value.auditEventDestination;
    const list = typeof d === 'string' ? [d] : d;
    if (!Array.isArray(list) || list.length === 0 || list.some((x) => typeof x !== 'string' || !(AUDIT_EVENT_DESTINATIONS as readonly string[]).includes(x)))
      issues.push({ file, field: `${field}.auditEventDestination`, reason: 'must be "resource", "log", or a non-empty list of them' });
    else out.auditEventDestination = [...new Set(list as AuditEventDestination[])];
  }
  if (value.contentType !== undefined) {
    if (typeof value.contentType !== 'string' || !KNOWN_CONTENT_TYPES.includes(value.contentType))
      issues.push({ file, field: `${field}.contentType`, reason: `must be one of ${KNOWN_CONTENT_TYPES.join(', ')}` });
    else out.contentType = value.contentType;
  }
  if (value.identifier !== undefined) {
    const list = Array.isArray(value.identifier) ? value.identifier : [value.identifier];
    if (!list.every((x) => typeof x === 'string' && /^[^|]*\|[^|]+$/.test(x)))
      issues.push({ file, field: `${field}.identifier`, reason: 'must be "system|value", or a list of them' });
    else out.identifier = list as string[];
  }
  if (value.permissions !== undefined) {
    const p = value.permissions;
    const f = `${field}.permissions`;
    if (!isObject(p)) issues.push({ file, field: f, reason: 'must be an object: { "childProcess": true, "fsWrite": ["folder"] }' });
    else {
      const perms: BotPermissions = {};
      for (const k of Object.keys(p)) {
        if (k !== 'childProcess' && k !== 'fsWrite') issues.push({ file, field: `${f}.${k}`, reason: 'unknown permission (known: childProcess, fsWrite)' });
      }
      if (p.childProcess !== undefined) {
        if (typeof p.childProcess !== 'boolean') issues.push({ file, field: `${f}.childProcess`, reason: 'must be true or false' });
        else if (p.childProcess) perms.childProcess = true;
      }
      if (p.fsWrite !== undefined) {
        const list = typeof p.fsWrite === 'string' ? [p.fsWrite] : p.fsWrite;
        if (!Array.isArray(list) || list.some((x) => typeof x !== 'string' || !x.trim() || x.includes('\0')))
          issues.push({ file, field: `${f}.fsWrite`, reason: 'must be a path, or a list of paths, relative to the workspace root' });
        else if (list.length) perms.fsWrite = [...new Set(list as string[])];
      }
      out.permissions = perms;
    }
  }
  if (value.inputs !== undefined) {
    if (!isObject(value.inputs)) {
      issues.push({ file, field: `${field}.inputs`, reason: 'must be an object of named sample inputs' });
    } else {
      out.inputs = {};
      for (const [name, v] of Object.entries(value.inputs)) {
        if (isObject(v) && 'file' in v && Object.keys(v).length === 1) {
          if (typeof v.file !== 'string' || !v.file) issues.push({ file, field: `${field}.inputs${fieldKey(name)}.file`, reason: 'must be a path relative to the workspace root' });
          else out.inputs[name] = { file: v.file };
        } else {
          out.inputs[name] = { value: v };
        }
      }
    }
  }
  return out;
}

/** Reads and validates `bot-audit.json` in `root`. A missing file is fine (no issues). */
export function loadBotAuditConfig(root: string): BotAuditConfig {
  const file = path.join(root, BOT_AUDIT_CONFIG_FILE);
  const issues: ConfigIssue[] = [];
  const { exists, value } = readJsonFile(file, issues);
  const cfg: BotAuditConfig = { file, exists, bots: {}, issues };
  if (!exists || value === undefined) return cfg;
  if (!isObject(value)) {
    issues.push({ file, field: '', reason: 'must be a JSON object' });
    return cfg;
  }
  for (const k of Object.keys(value)) {
    if (k !== 'bots' && k !== 'glob' && k !== '$schema') issues.push({ file, field: k, reason: 'unknown field (known: glob, bots)' });
  }
  if (value.glob !== undefined) {
    if (typeof value.glob !== 'string' || !value.glob) issues.push({ file, field: 'glob', reason: 'must be a non-empty glob string' });
    else cfg.glob = value.glob;
  }
  if (value.bots !== undefined) {
    if (!isObject(value.bots)) {
      issues.push({ file, field: 'bots', reason: 'must be an object keyed by bot path or name' });
    } else {
      for (const [key, v] of Object.entries(value.bots)) {
        cfg.bots[key] = validateBotSettings(v, file, `bots${fieldKey(key)}`, issues);
      }
    }
  }
  return cfg;
}

/** Reads and validates the `bots` of `medplum.config.json` in `root`. */
export function loadMedplumConfig(root: string): MedplumConfig {
  const file = path.join(root, MEDPLUM_CONFIG_FILE);
  const issues: ConfigIssue[] = [];
  const { exists, value } = readJsonFile(file, issues);
  const cfg: MedplumConfig = { file, exists, bots: [], issues };
  if (!exists || value === undefined) return cfg;
  if (!isObject(value)) {
    issues.push({ file, field: '', reason: 'must be a JSON object' });
    return cfg;
  }
  if (value.bots === undefined) return cfg;
  if (!Array.isArray(value.bots)) {
    issues.push({ file, field: 'bots', reason: 'must be an array of { name, id, source, dist }' });
    return cfg;
  }
  value.bots.forEach((b, i) => {
    const field = `bots[${i}]`;
    if (!isObject(b)) {
      issues.push({ file, field, reason: 'must be an object' });
      return;
    }
    if (typeof b.name !== 'string' || !b.name) {
      issues.push({ file, field: `${field}.name`, reason: 'must be a non-empty string' });
      return;
    }
    const entry: MedplumBotEntry = { name: b.name };
    for (const k of ['id', 'source', 'dist'] as const) {
      if (b[k] === undefined) continue;
      if (typeof b[k] !== 'string' || !b[k]) issues.push({ file, field: `${field}.${k}`, reason: 'must be a non-empty string' });
      else if (k !== 'id' && !insideFolder(root, b[k] as string))
        issues.push({ file, field: `${field}.${k}`, reason: `${b[k] as string} is outside the workspace folder; a bot's files must be inside it` });
      else entry[k] = b[k] as string;
    }
    if ((b.source !== undefined && !entry.source) || (b.dist !== undefined && !entry.dist)) return;
    if (!entry.source && !entry.dist) issues.push({ file, field: `${field}.source`, reason: 'a bot needs a source (or a dist) file' });
    else if (entry.source && !fs.existsSync(path.resolve(root, entry.source)))
      issues.push({ file, field: `${field}.source`, reason: `file not found: ${entry.source}` });
    cfg.bots.push(entry);
  });
  return cfg;
}

/**
 * Whether `rel` (relative to `root`, or absolute) names a file inside `root`, symbolic links
 * resolved where they exist: a config file must not make the runner run code from elsewhere.
 */
export function insideFolder(root: string, rel: string): boolean {
  const real = (p: string): string => {
    try {
      return fs.realpathSync.native(p);
    } catch {
      return p;
    }
  };
  const base = real(path.resolve(root));
  const target = real(path.resolve(base, rel));
  const r = path.relative(base, target);
  return r !== '' && r !== '..' && !r.startsWith(`..${path.sep}`) && !path.isAbsolute(r);
}

/** Applies defaults over one or more partial settings (later ones win). */
export function resolveBotSettings(...parts: (BotSettingsInput | undefined)[]): BotSettings {
  const s: BotSettings = { ...DEFAULT_BOT_SETTINGS, auditEventDestination: [...DEFAULT_BOT_SETTINGS.auditEventDestination], inputs: {} };
  for (const p of parts) {
    if (!p) continue;
    if (p.name !== undefined) s.name = p.name;
    if (p.timeout !== undefined) s.timeout = p.timeout;
    if (p.memoryLimitMb !== undefined) s.memoryLimitMb = p.memoryLimitMb;
    if (p.auditEventTrigger !== undefined) s.auditEventTrigger = p.auditEventTrigger;
    if (p.auditEventDestination !== undefined) s.auditEventDestination = [...p.auditEventDestination];
    if (p.contentType !== undefined) s.contentType = p.contentType;
    if (p.inputs !== undefined) s.inputs = { ...s.inputs, ...p.inputs };
    if (p.identifier !== undefined) s.identifier = [...p.identifier];
    if (p.permissions !== undefined) s.permissions = { ...p.permissions, ...(p.permissions.fsWrite ? { fsWrite: [...p.permissions.fsWrite] } : {}) };
  }
  return s;
}

/**
 * The settings for one bot: looks its relative path up first, then its name, in bot-audit.json.
 * `relPath` uses `/` separators.
 */
export function settingsForBot(cfg: BotAuditConfig | undefined, relPath: string, name: string, defaults?: BotSettingsInput): BotSettings {
  const byPath = cfg?.bots[relPath] ?? cfg?.bots[`./${relPath}`];
  const byName = cfg?.bots[name];
  // The editor's defaults (its settings) come first; the file's per-bot values win over them.
  return resolveBotSettings(defaults, byName, byPath);
}

/**
 * Reads a named sample input: a literal value (`{ input }`), or the file's raw text (`{ inputText }`,
 * parsed by the runner for the bot's content type, so that a bad file is refused like any bad input).
 */
export function readSampleInput(root: string, sample: SampleInput): { input?: unknown; inputText?: string } {
  if ('value' in sample) return { input: sample.value };
  return { inputText: fs.readFileSync(path.resolve(root, sample.file), 'utf8') };
}
