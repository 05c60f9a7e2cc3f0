// The diff model shared by the webview and the CLI: one jsondiffpatch configuration.
// Browser-safe and free of `vscode`.
import type { Delta } from 'jsondiffpatch';
import { create } from 'jsondiffpatch/with-text-diffs';

/** Array items match by `id` where they have one (FHIR resources, entries), else by value. */
export function objectHash(item: object, index?: number): string {
  const o = item as { id?: unknown };
  if (o && (typeof o.id === 'string' || typeof o.id === 'number')) return `id:${String(o.id)}`;
  try {
    return `v:${JSON.stringify(item)}`;
  } catch {
    return `i:${index ?? 0}`;
  }
}

export const differ = create({
  objectHash,
  // Move detection needs inline script in the HTML formatter, which a strict CSP forbids.
  arrays: { detectMove: false, includeValueOnMove: false },
  // Long strings (bot sources) diff by line-aware text diff.
  textDiff: { minLength: 120 },
});

/** The delta from `before` to `after`; undefined when they are equal. Created/deleted are whole values. */
export function diffValues(before: unknown, after: unknown): Delta | undefined {
  if (before === undefined && after === undefined) return undefined;
  return differ.diff(before ?? null, after ?? null) ?? undefined;
}

/**
 * The delta a reviewer expects: a created or deleted object shows field by field (all added or all
 * removed), an update what changed. `left` is what the formatter shows unchanged fields from.
 */
export function reviewDelta(before: unknown, after: unknown): { delta: Delta | undefined; left: unknown } {
  const isObj = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (before === undefined && isObj(after)) return { delta: diffValues({}, after), left: {} };
  if (after === undefined && isObj(before)) return { delta: diffValues(before, {}), left: before };
  return { delta: diffValues(before, after), left: before };
}
