// The extension's settings: their defaults and bounds, and the check that turns raw values into
// safe ones. A bad value is reported and its default used instead. Pure: the glue reads
// `vscode.workspace.getConfiguration('botAudit')` and hands the values here.
import { AUDIT_EVENT_DESTINATIONS, AUDIT_EVENT_TRIGGERS, type AuditEventDestination, type AuditEventTrigger } from './bots/config';
import { DEFAULT_BOT_GLOB, globToRegExp } from './bots/botFiles';

export interface ExtensionSettings {
  databasePath: string;
  botGlob: string;
  /** Seconds. */
  defaultTimeout: number;
  defaultMemoryLimitMb: number;
  defaultAuditEventTrigger: AuditEventTrigger;
  defaultAuditEventDestination: AuditEventDestination[];
  maxConcurrentRuns: number;
  notifyOnFailure: boolean;
  timeZone: 'local' | 'utc';
  /** The team log: postgres://user@host:port/database without a password; '' for none. */
  teamLog: string;
  /** The Node binary bots run on; '' for the editor's own. */
  nodePath: string;
}

export const SETTINGS_DEFAULTS: Readonly<ExtensionSettings> = Object.freeze({
  databasePath: '',
  botGlob: DEFAULT_BOT_GLOB,
  defaultTimeout: 10,
  defaultMemoryLimitMb: 256,
  defaultAuditEventTrigger: 'always',
  defaultAuditEventDestination: ['resource'],
  maxConcurrentRuns: 4,
  notifyOnFailure: true,
  timeZone: 'local',
  teamLog: '',
  nodePath: '',
}) as ExtensionSettings;

export const SETTINGS_BOUNDS = {
  defaultTimeout: { min: 1, max: 3600 },
  defaultMemoryLimitMb: { min: 32, max: 8192 },
  maxConcurrentRuns: { min: 1, max: 32 },
} as const;

export interface SettingProblem {
  key: keyof ExtensionSettings;
  value: unknown;
  reason: string;
}

function intIn(v: unknown, b: { min: number; max: number }): string | undefined {
  if (typeof v !== 'number' || !Number.isFinite(v)) return 'must be a number';
  if (v < b.min || v > b.max) return `must be between ${b.min} and ${b.max}`;
  return undefined;
}

/** Why a `teamLog` value is not a postgres:// URL without a password ('' is none), or undefined. */
export function teamLogProblem(v: unknown): string | undefined {
  if (typeof v !== 'string') return 'must be a postgres://user@host:port/database URL';
  const s = v.trim();
  if (!s) return undefined;
  if (!/^postgres(ql)?:\/\//i.test(s)) return 'must be a postgres://user@host:port/database URL';
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return 'is not a valid URL';
  }
  if (u.password) return 'carries a password: set it with Bot Audit: Set Team Log Password… (or PGPASSWORD, ~/.pgpass) instead';
  return undefined;
}

/** Checks raw values (undefined = not set); returns safe values and what was wrong. */
export function checkSettings(raw: Partial<Record<keyof ExtensionSettings, unknown>>): { values: ExtensionSettings; problems: SettingProblem[] } {
  const values: ExtensionSettings = { ...SETTINGS_DEFAULTS, defaultAuditEventDestination: [...SETTINGS_DEFAULTS.defaultAuditEventDestination] };
  const problems: SettingProblem[] = [];
  const take = <K extends keyof ExtensionSettings>(key: K, check: (v: unknown) => string | undefined, convert: (v: unknown) => ExtensionSettings[K] = (v) => v as ExtensionSettings[K]) => {
    const v = raw[key];
    if (v === undefined || v === null) return;
    const reason = check(v);
    if (reason) problems.push({ key, value: v, reason });
    else values[key] = convert(v);
  };
  take('databasePath', (v) => (typeof v === 'string' ? undefined : 'must be a path'));
  take('botGlob', (v) => {
    if (typeof v !== 'string' || !v.trim()) return 'must be a glob such as **/bots/**/*.ts';
    try {
      globToRegExp(v);
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  });
  take('defaultTimeout', (v) => intIn(v, SETTINGS_BOUNDS.defaultTimeout));
  take('defaultMemoryLimitMb', (v) => intIn(v, SETTINGS_BOUNDS.defaultMemoryLimitMb), (v) => Math.round(v as number));
  take('maxConcurrentRuns', (v) => intIn(v, SETTINGS_BOUNDS.maxConcurrentRuns), (v) => Math.round(v as number));
  take('defaultAuditEventTrigger', (v) =>
    (AUDIT_EVENT_TRIGGERS as readonly unknown[]).includes(v) ? undefined : `must be one of ${AUDIT_EVENT_TRIGGERS.join(', ')}`,
  );
  take(
    'defaultAuditEventDestination',
    (v) =>
      Array.isArray(v) && v.length > 0 && v.every((d) => (AUDIT_EVENT_DESTINATIONS as readonly unknown[]).includes(d))
        ? undefined
        : `must be a non-empty list of ${AUDIT_EVENT_DESTINATIONS.join(', ')}`,
    (v) => [...new Set(v as AuditEventDestination[])],
  );
  take('notifyOnFailure', (v) => (typeof v === 'boolean' ? undefined : 'must be true or false'));
  take('timeZone', (v) => (v === 'local' || v === 'utc' ? undefined : 'must be "local" or "utc"'));
  take('teamLog', teamLogProblem, (v) => (v as string).trim());
  take('nodePath', (v) => (typeof v === 'string' && (!v.trim() || /^([a-zA-Z]:)?[\\/]/.test(v.trim())) ? undefined : 'must be the absolute path of a Node.js binary'), (v) => (v as string).trim());
  return { values, problems };
}
