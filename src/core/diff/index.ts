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
  const delta = differ.diff(before ?? null, after ?? null);
  return delta === undefined ? undefined : pairArrayItems(delta, before ?? null, after ?? null);
}

type Json = unknown;
const isContainer = (v: Json): v is object => typeof v === 'object' && v !== null;
const hasId = (v: Json) => isContainer(v) && objectHash(v).startsWith('id:');

/**
 * Items without an `id` match by value, so an item that changed (a FHIR `name` that gained a given
 * name) comes out as one item removed and another added. A reviewer reads it better as that item's
 * change: pairs each removed object with the object added at the same place (between the same
 * unchanged neighbours, in order) and diffs the two. Objects with different ids stay a remove and
 * an add. The delta stays one that jsondiffpatch patches and formats.
 */
function pairArrayItems(delta: Delta, left: Json, right: Json): Delta {
  if (!isContainer(delta) || Array.isArray(delta)) return delta;
  const d = delta as Record<string, Delta>;
  if ((d._t as unknown) !== 'a') {
    for (const k of Object.keys(d)) d[k] = pairArrayItems(d[k], (left as Record<string, Json>)?.[k], (right as Record<string, Json>)?.[k]);
    return d;
  }
  const before = Array.isArray(left) ? left : [];
  const after = Array.isArray(right) ? right : [];
  const removed = new Set<number>();
  const added = new Set<number>();
  for (const k of Object.keys(d)) {
    const v = d[k] as unknown[];
    if (k.startsWith('_') && k !== '_t' && Array.isArray(v) && v.length === 3 && v[2] === 0) removed.add(Number(k.slice(1)));
    else if (/^\d+$/.test(k) && Array.isArray(v) && v.length === 1) added.add(Number(k));
  }
  // Walk both arrays gap by gap: kept items pair up in order, and so do the removed and added
  // objects between two kept items.
  let i = 0;
  let j = 0;
  while (i < before.length || j < after.length) {
    const gapRemoved: number[] = [];
    const gapAdded: number[] = [];
    while (i < before.length && removed.has(i)) gapRemoved.push(i++);
    while (j < after.length && added.has(j)) gapAdded.push(j++);
    for (let n = 0, m = 0; n < gapRemoved.length && m < gapAdded.length; ) {
      const a = before[gapRemoved[n]];
      const b = after[gapAdded[m]];
      if (!isContainer(a) || hasId(a)) {
        n++;
        continue;
      }
      if (!isContainer(b) || hasId(b) || Array.isArray(a) !== Array.isArray(b)) {
        m++;
        continue;
      }
      delete d[`_${gapRemoved[n]}`];
      delete d[String(gapAdded[m])];
      const inner = diffValues(a, b);
      if (inner !== undefined) d[String(gapAdded[m])] = inner;
      n++;
      m++;
    }
    // The kept item after the gap: unchanged, or an item matched by id that changed in place.
    if (i < before.length && j < after.length) {
      const inner = d[String(j)];
      if (isContainer(inner) && !Array.isArray(inner)) d[String(j)] = pairArrayItems(inner, before[i], after[j]);
    }
    i++;
    j++;
  }
  return d;
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
