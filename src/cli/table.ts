// Terminal output for the CLI: a table that fits the width, and colour that follows NO_COLOR.
import { outcomeName, type Entry } from '../core/store';
import { formatInstant } from '../core/format/time';

export interface Style {
  dim(s: string): string;
  bold(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const wrap = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;

/** Colour when the stream is a terminal and NO_COLOR is not set (https://no-color.org). */
export function styleFor(isTTY: boolean | undefined, env: NodeJS.ProcessEnv = process.env): Style {
  const on = Boolean(isTTY) && !('NO_COLOR' in env && env.NO_COLOR !== undefined) && env.TERM !== 'dumb';
  const id = (s: string) => s;
  return on
    ? { dim: wrap(2, 22), bold: wrap(1, 22), red: wrap(31, 39), green: wrap(32, 39), yellow: wrap(33, 39), cyan: wrap(36, 39) }
    : { dim: id, bold: id, red: id, green: id, yellow: id, cyan: id };
}

export function outcomeText(o: number | undefined, st: Style): string {
  if (o === undefined) return '';
  const name = outcomeName(o);
  return o === 0 ? st.green(name) : o === 4 ? st.yellow(name) : st.red(name);
}

/** Control characters would move the cursor or recolour the terminal: show them, don't obey them. */
export function safeText(s: string): string {
  // C0 and C1 controls (but tab and newline), and the bidirectional overrides, embeddings and
  // isolates that would make a terminal show text in another order than it is.
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}

function cut(s: string, w: number): string {
  if (w <= 0) return '';
  if (s.length <= w) return s.padEnd(w);
  return w === 1 ? '…' : `${s.slice(0, w - 1)}…`;
}

/**
 * What the Entity column shows: the bot of a run by its name (else its file's name without the extension),
 * not its path; anything else as `Type/id`.
 */
export function entityText(e: Entry): string {
  if (e.action !== 'EXECUTED' || e.entityName !== 'Bot') return `${e.entityName}/${e.entityId}`;
  const name = e.bot || (e.entityId.split(/[\\/]/).pop() ?? '').replace(/(.)\.[^.]*$/, '$1') || e.entityId;
  return `Bot/${name}`;
}

interface Col {
  head: string;
  min: number;
  /** Share of the width left after the minimums. */
  grow: number;
  value: (e: Entry) => string;
  color?: (e: Entry, s: string, st: Style) => string;
}

/** The log as a table that fits `width` columns, newest first as given. */
export function formatTable(entries: Entry[], width: number, st: Style, zone: 'local' | 'utc' = 'utc'): string {
  const cols: Col[] = [
    { head: 'ID', min: 4, grow: 0, value: (e) => String(e.id) },
    { head: 'Timestamp', min: 19, grow: 0, value: (e) => formatInstant(e.recorded, zone).replace(' UTC', '') },
    { head: 'User', min: 8, grow: 2, value: (e) => e.user },
    { head: 'Action', min: 8, grow: 0, value: (e) => e.action },
    { head: 'Entity', min: 10, grow: 3, value: entityText },
    {
      head: 'Outcome',
      min: 8,
      grow: 1,
      value: (e) => outcomeName(e.outcome),
      color: (e, s, stl) => (e.outcome === undefined ? s : e.outcome === 0 ? stl.green(s) : e.outcome === 4 ? stl.yellow(s) : stl.red(s)),
    },
    { head: 'Description', min: 0, grow: 4, value: (e) => (e.outcomeDesc ?? '').split('\n', 1)[0] },
  ];
  // Entries of a team log: which log each came from (its origin's first 8 hex digits) and its ID there.
  if (entries.some((e) => e.origin !== undefined)) {
    cols.splice(1, 0, { head: 'Origin', min: 14, grow: 0, value: (e) => (e.origin === undefined ? '' : `${e.origin.slice(0, 8)}:${e.originId}`) });
  }
  const idW = Math.max(4, ...entries.map((e) => String(e.id).length));
  cols[0].min = idW;
  const gaps = cols.length - 1;
  const fixed = cols.reduce((a, c) => a + c.min, 0) + gaps;
  let spare = Math.max(0, width - fixed);
  // Narrow terminals drop the description, then the outcome.
  const shown = cols.filter((c) => !(c.head === 'Description' && width < fixed + 10));
  const totalGrow = shown.reduce((a, c) => a + c.grow, 0) || 1;
  const widths = shown.map((c) => c.min + Math.floor((spare * c.grow) / totalGrow));
  spare -= widths.reduce((a, w, i) => a + (w - shown[i].min), 0);
  const lines = [st.bold(shown.map((c, i) => cut(c.head, widths[i])).join(' ').trimEnd())];
  for (const e of entries) {
    lines.push(
      shown
        .map((c, i) => {
          const text = cut(safeText(c.value(e)), widths[i]);
          return c.color ? c.color(e, text, st) : text;
        })
        .join(' ')
        .trimEnd(),
    );
  }
  return lines.join('\n');
}
