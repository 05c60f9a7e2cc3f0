// Relative and absolute times for timestamp filters.
import type { TimeValue } from './filter';

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

const UNIT_WORDS: Record<string, string> = {
  s: 'second',
  m: 'minute',
  h: 'hour',
  d: 'day',
  w: 'week',
};

const RELATIVE_RE = /^([1-9]\d{0,6})([smhdw])$/;

/** Parses `15m`, `7d`, … into milliseconds, or undefined when it is not a relative duration. */
export function parseRelative(text: string): number | undefined {
  const m = RELATIVE_RE.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2]];
}

export function isValidRelative(text: string): boolean {
  return parseRelative(text) !== undefined;
}

/** "Last 15 minutes", "Last 1 day". */
export function describeRelative(text: string): string {
  const m = RELATIVE_RE.exec(text);
  if (!m) return text;
  const n = Number(m[1]);
  return `Last ${n} ${UNIT_WORDS[m[2]]}${n === 1 ? '' : 's'}`;
}

/** The UTC milliseconds a time value stands for, relative ones counted back from `now`. */
export function resolveTime(v: TimeValue, now: number): number {
  if (typeof v === 'number') return v;
  const ms = parseRelative(v.relative);
  if (ms === undefined) throw new Error(`not a relative time: ${v.relative}`);
  return now - ms;
}

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * Parses an absolute time: `2026-01-31`, `2026-01-31T12:00`, `2026-01-31T12:00:05.123Z`, `…+02:00`.
 * Times without a zone are UTC (the log stores UTC). Returns undefined when malformed.
 */
export function parseAbsolute(text: string): number | undefined {
  const m = ISO_RE.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h = '00', mi = '00', s = '00', ms = '0', zone] = m;
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > 31 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return undefined;
  let t = Date.UTC(Number(y), month - 1, day, Number(h), Number(mi), Number(s), Number(ms.padEnd(3, '0')));
  const check = new Date(Date.UTC(Number(y), month - 1, day));
  if (check.getUTCDate() !== day) return undefined; // 2026-02-30
  if (zone && zone !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    t -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  return t;
}

/** Formats UTC milliseconds the shortest way that parses back to the same instant. */
export function formatAbsolute(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-01-31T12:00:00.000Z
  if (iso.endsWith('T00:00:00.000Z')) return iso.slice(0, 10);
  if (iso.endsWith(':00.000Z')) return iso.slice(0, 16) + 'Z';
  if (iso.endsWith('.000Z')) return iso.slice(0, 19) + 'Z';
  return iso;
}
