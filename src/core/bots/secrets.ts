// Secrets for bots: a git-ignored `.env` file at the workspace root (`NAME=value` lines, `#`
// comments, optional `export `, single or double quotes). They reach the bot as Medplum passes
// them, `event.secrets[NAME] = { name, valueString }`, and every secret value is masked in
// everything that is stored or logged.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ConfigIssue } from './config';

export const SECRETS_FILE = '.env';
export const SECRET_MASK = '••••••••';

/** A secret as Medplum passes it to a bot. */
export interface BotSecret {
  name: string;
  valueString: string;
}

export interface ParsedSecrets {
  values: Record<string, string>;
  issues: ConfigIssue[];
}

/** Parses `.env` text. Lines that are not `NAME=value` (or comments / blank) are reported. */
export function parseDotEnv(text: string, file = SECRETS_FILE): ParsedSecrets {
  const values: Record<string, string> = {};
  const issues: ConfigIssue[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) {
      issues.push({ file, field: `line ${i + 1}`, reason: 'expected NAME=value' });
      continue;
    }
    const [, name, rest] = m;
    let value = rest;
    const q = value[0];
    if (q === '"' || q === "'") {
      // A quoted value may span lines (double quotes) and ends at the matching quote.
      let body = value.slice(1);
      let end = findClosingQuote(body, q);
      while (end < 0 && q === '"' && i + 1 < lines.length) {
        body += '\n' + lines[++i];
        end = findClosingQuote(body, q);
      }
      if (end < 0) {
        issues.push({ file, field: `line ${i + 1}`, reason: `unterminated ${q === '"' ? 'double' : 'single'} quote in ${name}` });
        continue;
      }
      value = body.slice(0, end);
      if (q === '"') value = value.replace(/\\(["\\nrt])/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t' })[c] ?? c);
    } else {
      const hash = value.search(/\s#/);
      if (hash >= 0) value = value.slice(0, hash);
      value = value.trim();
    }
    values[name] = value;
  }
  return { values, issues };
}

function findClosingQuote(s: string, q: string): number {
  for (let j = 0; j < s.length; j++) {
    if (s[j] === '\\' && q === '"') {
      j++;
      continue;
    }
    if (s[j] === q) return j;
  }
  return -1;
}

/** Reads `.env` at the workspace root; a missing file gives no secrets and no issue. */
export function loadSecrets(root: string, fileName = SECRETS_FILE): ParsedSecrets {
  const file = path.join(root, fileName);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { values: {}, issues: [] };
    return { values: {}, issues: [{ file, field: '', reason: `cannot be read: ${(e as Error).message}` }] };
  }
  return parseDotEnv(text, file);
}

/** `{ NAME: value }` → Medplum's `event.secrets` shape. */
export function toEventSecrets(values: Record<string, string>): Record<string, BotSecret> {
  const out: Record<string, BotSecret> = {};
  for (const [name, valueString] of Object.entries(values)) out[name] = { name, valueString };
  return out;
}

/**
 * Secrets shorter than this are not masked: a short value (`PORT=1`) also stands inside unrelated
 * data (dates, IDs, numbers), and masking it there would change what the log records.
 */
export const MIN_SECRET_LENGTH = 6;

/**
 * Masks every secret value in text and in JSON-like values: each occurrence that stands as a whole
 * token (no letter, digit or `_` right before or after it), longest values first. A value shorter
 * than MIN_SECRET_LENGTH is not masked, and text that holds a secret only inside a longer word is
 * left as it is.
 */
export class SecretMasker {
  private readonly values: string[];
  private readonly re?: RegExp;
  constructor(values: Iterable<string>) {
    this.values = [...new Set([...values].filter((v) => v.length >= MIN_SECRET_LENGTH))].sort((a, b) => b.length - a.length);
    if (this.values.length) {
      const alternatives = this.values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
      this.re = new RegExp(`(?<![\\p{L}\\p{N}_])(?:${alternatives})(?![\\p{L}\\p{N}_])`, 'gu');
    }
  }

  get empty(): boolean {
    return this.values.length === 0;
  }

  /** The secret values it masks (to hand to another thread that masks for the same run). */
  get secrets(): readonly string[] {
    return this.values;
  }

  maskText(text: string): string;
  maskText(text: string | undefined): string | undefined;
  maskText(text: string | undefined): string | undefined {
    if (text === undefined || !this.re) return text;
    // A cheap test first: most texts hold no secret at all.
    if (!this.values.some((v) => text.includes(v))) return text;
    return text.replace(this.re, SECRET_MASK);
  }

  /** Masks string leaves (and keys) of a JSON-like value; returns a copy when anything changed. */
  maskValue<T>(value: T): T {
    if (this.values.length === 0) return value;
    const walk = (v: unknown): unknown => {
      if (typeof v === 'string') return this.maskText(v);
      if (Array.isArray(v)) return v.map(walk);
      if (v && typeof v === 'object') {
        const o: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) o[this.maskText(k)] = walk(x);
        return o;
      }
      return v;
    };
    return walk(value) as T;
  }
}
