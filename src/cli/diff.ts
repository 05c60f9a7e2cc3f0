import { format } from 'jsondiffpatch/formatters/console';
import { diffValues } from '../core/diff';

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/** A before/after as jsondiffpatch's console diff: coloured on a terminal, plain text otherwise. */
export function diffText(before: unknown, after: unknown, color: boolean): string {
  const delta = diffValues(before, after);
  if (!delta) return '(no change)';
  const text = format(delta, before ?? null) ?? '';
  return color ? text : text.replace(ANSI, '');
}
