// An entry as a read-only Markdown document: the tree's "Show Event". Every value is untrusted
// text, so each goes inside a code fence longer than any run of backticks it holds.
import { outcomeName, type Entry } from '../store/types';
import { formatDuration, formatInstant } from './time';

function fence(text: string, lang = ''): string {
  const longest = Math.max(2, ...Array.from(text.matchAll(/`+/g), (m) => m[0].length));
  const f = '`'.repeat(longest + 1);
  return `${f}${lang}\n${text}\n${f}`;
}

/** A short value as a code span; one with a newline or a backtick as a fenced block instead. */
function inline(text: string): string {
  return /[\n`]/.test(text) ? `\n\n${fence(text)}\n` : `\`${text}\``;
}

function json(v: unknown): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v, null, 2);
}

export function renderEventDocument(e: Entry, changes: Entry[] = [], zone: 'local' | 'utc' = 'utc'): string {
  const out: string[] = [];
  const outcome = e.outcome === undefined ? undefined : `${e.outcome} ${outcomeName(e.outcome)}`;
  out.push(`# Entry ${e.id}: ${e.action} ${e.entityName}`);
  out.push('');
  const rows: [string, string | undefined][] = [
    ['ID', String(e.id)],
    ['UUID', e.uuid],
    ['User', e.user],
    ['Action', e.action],
    ['Entity', `${e.entityName}/${e.entityId}`],
    ['Recorded', formatInstant(e.recorded, zone)],
    ['Bot', e.bot],
    ['Outcome', outcome],
    ['Failure kind', e.failureKind],
    ['Started', e.periodStart === undefined ? undefined : formatInstant(e.periodStart, zone)],
    ['Ended', e.periodEnd === undefined ? undefined : formatInstant(e.periodEnd, zone)],
    ['Duration', e.periodStart !== undefined && e.periodEnd !== undefined ? formatDuration(e.periodEnd - e.periodStart) : undefined],
    ['Trace ID', e.traceId],
    ['Content type', e.contentType],
    ['Replay of', e.replayOf === undefined ? undefined : `entry ${e.replayOf}`],
    ['Hash', e.hash],
  ];
  for (const [k, v] of rows) if (v !== undefined && v !== '') out.push(`- **${k}:** ${inline(v)}`);
  const section = (title: string, body: string | undefined, lang = '') => {
    if (body === undefined || body === '') return;
    out.push('', `## ${title}`, '', fence(body, lang));
  };
  section('Outcome description', e.outcomeDesc, 'log');
  section('Input', e.input, e.contentType?.includes('json') ? 'json' : '');
  section('Return value', e.returnValue, 'json');
  section('Before', json(e.before), 'json');
  section('After', json(e.after), 'json');
  if (changes.length) {
    out.push('', '## Changes made by this run', '');
    for (const c of changes) out.push(`- ${inline(`#${c.id} ${c.action} ${c.entityName}/${c.entityId}`)}`);
  }
  out.push('');
  return out.join('\n');
}
