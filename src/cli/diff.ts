import { format } from 'jsondiffpatch/formatters/console';
import { diffValues } from '../core/diff';
import { safeText } from './table';

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/** Every string in a value with its control characters shown, not obeyed (long strings diff as raw text). */
function clean(v: unknown): unknown {
  if (typeof v === 'string') return safeText(v);
  if (Array.isArray(v)) return v.map(clean);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [safeText(k), clean(x)]));
  return v;
}

/** A before/after as jsondiffpatch's console diff: coloured on a terminal, plain text otherwise. */
export function diffText(before: unknown, after: unknown, color: boolean): string {
  const b = clean(before);
  const delta = diffValues(b, clean(after));
  if (!delta) return '(no change)';
  const text = format(delta, b ?? null) ?? '';
  return color ? text : text.replace(ANSI, '');
}
