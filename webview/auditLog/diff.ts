// Diffs as a reviewer reads them: jsondiffpatch's HTML formatter over the shared differ.
// The formatter escapes every key and value; on top of that its output is parsed inertly and
// only its own elements and classes are kept, so stored text can never become live HTML.
// Loaded on demand (diffs.ts): import it only through loadDiffCode().
import { format } from 'jsondiffpatch/formatters/html';
import { reviewDelta } from '../../src/core/diff';

/**
 * An element with a class and a text. Not dom.ts's el(): sharing a module with the page's script
 * would make the bundler split it into a third file that the first rows would wait for.
 */
function node(tag: string, className: string, text?: string): HTMLElement {
  const e = document.createElement(tag);
  e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

const ALLOWED_TAGS = new Set(['DIV', 'UL', 'LI', 'PRE', 'SPAN']);
const ALLOWED_ATTRS = new Set(['class', 'data-key']);

const SAFE_CLASS = /^[\w -]*$/;

/** Keeps the formatter's own markup only: its tags, its classes; anything else goes. */
function sanitize(root: Element): void {
  const all = root.getElementsByTagName('*');
  // A live list: removing an element takes its subtree out of it, so the index stays put then.
  for (let i = 0; i < all.length; ) {
    const node = all[i];
    if (!ALLOWED_TAGS.has(node.tagName)) {
      node.remove();
      continue;
    }
    // Names only: reading `attributes` would make an Attr object for each.
    for (const name of node.getAttributeNames()) if (!ALLOWED_ATTRS.has(name)) node.removeAttribute(name);
    const cls = node.getAttribute('class');
    if (cls !== null && !SAFE_CLASS.test(cls)) node.removeAttribute('class');
    i++;
  }
}

/** Renders the diff from `before` to `after` into a new element (the caller adds it to the page). */
export function renderDiff(before: unknown, after: unknown, showUnchanged: boolean): HTMLElement {
  const box = node('div', `diff ${showUnchanged ? '' : 'jsondiffpatch-unchanged-hidden'}`);
  let delta: ReturnType<typeof reviewDelta>['delta'];
  let left: unknown;
  let html: string;
  try {
    ({ delta, left } = reviewDelta(before, after));
    // Without `left` the formatter leaves unchanged fields out altogether: far less markup for a big
    // snapshot with a small change. Showing them renders again with it.
    html = delta === undefined ? '' : (format(delta, showUnchanged ? left : undefined) ?? '');
  } catch (e) {
    // jsondiffpatch overflows its stack on some very large arrays: say so, and point at the raw views.
    box.append(node('p', 'error', `The diff could not be computed (${e instanceof Error ? e.message : String(e)}). The Before and After tabs show the snapshots.`));
    return box;
  }
  if (delta === undefined) {
    box.append(node('p', 'hint', before === undefined && after === undefined ? 'This entry has no snapshots.' : 'No changes.'));
    return box;
  }
  const doc = new DOMParser().parseFromString(`<body><div>${html}</div></body>`, 'text/html');
  const wrapper = doc.body.firstElementChild!;
  sanitize(wrapper);
  box.append(...Array.from(wrapper.childNodes).map((n) => document.adoptNode(n)));
  return box;
}

/**
 * Renders a made-up diff once, off screen, so that the first diff a reviewer opens runs compiled
 * code (the page's first diff of a 100 KB snapshot takes about twice as long as the ones after).
 * An array of items without ids, a few changed, one gone and one new, a long string and a flag:
 * the paths a real snapshot's diff takes.
 */
export function warmUpDiff(): void {
  const steps = Array.from({ length: 150 }, (_, i) => ({ position: i, type: i % 3 ? 'text' : 'card', text: `step ${i} of the story`, buttons: ['yes', 'no'] }));
  const before = { id: 1, name: 'warm-up', is_active: true, note: 'a long note '.repeat(12), steps };
  const changed = steps.map((st, i) => (i % 30 === 7 ? { ...st, text: `${st.text}, edited` } : st));
  changed.splice(50, 1);
  changed.splice(100, 0, { position: 150, type: 'text', text: 'a new step', buttons: ['ok'] });
  renderDiff(before, { ...before, is_active: false, note: `${before.note}and more`, steps: changed }, false);
}
