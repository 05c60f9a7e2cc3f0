// What the page needs of diffs before their code is loaded: the size bound, the raw views, and the
// loader. The diff itself (diff.ts: jsondiffpatch and its text diff, about half the page's script)
// is a chunk of its own, not on the way to the first rows: the page loads it when idle after them,
// or when a diff is asked for first.
import { el } from '../dom';

/** Past this many characters of JSON a diff waits for "Compute diff" (a 5 MB diff takes seconds). */
export const DIFF_SIZE_BOUND = 512 * 1024;

/** A JSON snapshot shown as text, pretty-printed. */
export function rawJson(value: unknown): HTMLElement {
  return el('pre', { class: 'raw' }, value === undefined ? '(none)' : JSON.stringify(value, null, 2));
}

type DiffCode = typeof import('./diff');
let code: DiffCode | undefined;
let loading: Promise<DiffCode> | undefined;

/** Loads the diff's code (once; a failed load is tried again on the next call). */
export function loadDiffCode(): Promise<DiffCode> {
  loading ??= import('./diff').then(
    (m) => (code = m),
    (e: unknown) => {
      loading = undefined;
      throw e;
    },
  );
  return loading;
}

/** The diff's code, once it is loaded. */
export function diffCode(): DiffCode | undefined {
  return code;
}

/**
 * The line that stands for a diff asked for before its code is here: "Loading the diff…", then
 * `redraw()` once the code comes (if the line is still on the page), or, when the load fails, why;
 * `hint` follows that reason.
 */
export function diffLoading(redraw: () => void, hint = ''): HTMLElement {
  const line = el('p', { class: 'hint diff-loading' }, 'Loading the diff…');
  loadDiffCode().then(
    () => {
      if (line.isConnected) redraw();
    },
    (err: unknown) => {
      line.textContent = `The diff could not be loaded (${err instanceof Error ? err.message : String(err)}).${hint ? ` ${hint}` : ''}`;
    },
  );
  return line;
}
